//! Credit lots over HTTP on a manual clock: consumption order (granted, then
//! earliest expiry, then oldest), expiry mid-way with its own entry, VOID by
//! lot, and the wallet's own expiry terminating it.

use crate::common::{data_dir, dec, event_types, Server, DAY, EPOCH};
use serde_json::{json, Value};

fn top_up(server: &Server, wallet: &str, body: Value) -> Value {
    let reply = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/wallet-transactions"),
        &body,
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

fn debit(server: &Server, wallet: &str, credits: &str) -> Value {
    let reply = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/debits"),
        &json!({ "credits": credits }),
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

/// The (lot_id, credits) a transaction drew, in order.
fn draws(transaction: &Value) -> Vec<(u64, String)> {
    transaction["lots"]
        .as_array()
        .expect("lots")
        .iter()
        .map(|lot| {
            (
                lot["lot_id"].as_u64().expect("id"),
                lot["credits"].as_str().expect("credits").to_owned(),
            )
        })
        .collect()
}

#[test]
fn lots_are_spent_in_order_expire_on_time_and_can_be_voided_by_id() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let day = |n: u64| {
        let at = time::OffsetDateTime::parse(EPOCH, &time::format_description::well_known::Rfc3339)
            .expect("epoch")
            + time::Duration::days(i64::try_from(n).expect("small"));
        at.format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let wallet = server.create_wallet(&json!({
        "external_customer_id": "cus_lots", "currency": "USD", "rate_amount": "1",
        "paid_credits": "10", "expiration_at": day(60),
    }));
    let id = wallet["id"].as_str().expect("id");
    // Lot 1: paid 10, never expires (the opening credits).
    top_up(
        &server,
        id,
        json!({"type":"TOPUP","granted_credits":"5","expires_at": day(10)}),
    ); // lot 2
    top_up(
        &server,
        id,
        json!({"type":"TOPUP","granted_credits":"3","expires_at": day(5)}),
    ); // lot 3
    top_up(
        &server,
        id,
        json!({"type":"TOPUP","paid_credits":"4","expires_at": day(20)}),
    ); // lot 4
    top_up(&server, id, json!({"type":"TOPUP","paid_credits":"2"})); // lot 5

    // Granted first, and among granted the earliest expiry: lot 3.
    let first = debit(&server, id, "2");
    assert_eq!(draws(&first), vec![(3, "-2".to_owned())]);

    // Day 2: three days (the default lead) before lot 3 expires, its notice.
    server.advance(2 * DAY);
    let notices: Vec<Value> = server
        .events_of(id)
        .into_iter()
        .filter(|event| event["type"] == "wallet.lot_expiring")
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["data"]["details"]["lot_id"], "3");
    assert_eq!(notices[0]["data"]["details"]["remaining_credits"], "1");

    // Day 6: lot 3's last credit expires, with an EXPIRE entry of its own.
    let step = server.advance(4 * DAY);
    assert_eq!(step.body["wallets_woken"], 1, "{:?}", step.body);
    let ledger = server.ledger(id);
    let expire = &ledger[0];
    assert_eq!(expire["type"], "EXPIRE");
    assert_eq!(expire["source"], "expiry");
    assert_eq!(draws(expire), vec![(3, "-1".to_owned())]);
    assert_eq!(
        dec(&server.get_wallet(id)["balance"]["total_credits"]),
        dec(&json!("21"))
    );

    // Then granted lot 2 (5), then paid lot 4 (expires day 20) before the
    // older paid lots that never expire.
    let second = debit(&server, id, "7");
    assert_eq!(
        draws(&second),
        vec![(2, "-5".to_owned()), (4, "-2".to_owned())]
    );
    // Then the oldest paid lot without expiry: lot 1 before lot 5.
    let third = debit(&server, id, "3");
    assert_eq!(
        draws(&third),
        vec![(4, "-2".to_owned()), (1, "-1".to_owned())]
    );

    // VOID by lot: only lot 5 shrinks.
    let void = top_up(
        &server,
        id,
        json!({"type":"VOID","credits_to_void":"1.5","lot_id":5}),
    );
    assert_eq!(draws(&void), vec![(5, "-1.5".to_owned())]);
    let lots: Vec<(u64, String)> = server.get_wallet(id)["lots"]
        .as_array()
        .expect("lots")
        .iter()
        .map(|lot| {
            (
                lot["lot_id"].as_u64().expect("id"),
                lot["remaining_credits"]
                    .as_str()
                    .expect("credits")
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(lots, vec![(1, "9".to_owned()), (5, "0.5".to_owned())]);
    // Voiding more than the lot holds is refused and changes nothing.
    let refused = server.send(
        "POST",
        &format!("/v1/wallets/{id}/wallet-transactions"),
        &json!({"type":"VOID","credits_to_void":"1","lot_id":5}),
    );
    assert_eq!(refused.status, 402, "{:?}", refused.body);

    // Day 57: the wallet's own expiry notice; day 60: it expires and what
    // is left is forfeited.
    server.set_clock(&day(57));
    assert_eq!(server.get_wallet(id)["status"], "active");
    server.set_clock(&day(60));
    let wallet = server.get_wallet(id);
    assert_eq!(wallet["status"], "terminated");
    assert_eq!(wallet["balance"]["total_credits"], "0");
    let last = &server.ledger(id)[0];
    assert_eq!(last["type"], "TERMINATE");
    assert_eq!(last["source"], "expiry");
    assert_eq!(dec(&last["credits"]), dec(&json!("9.5")));
    // A terminated wallet refuses everything; reads still work.
    for (method, path, body) in [
        (
            "POST",
            format!("/v1/wallets/{id}/debits"),
            json!({"credits":"1"}),
        ),
        (
            "POST",
            format!("/v1/wallets/{id}/wallet-transactions"),
            json!({"type":"TOPUP","paid_credits":"1"}),
        ),
        ("PUT", format!("/v1/wallets/{id}"), json!({"name":"again"})),
        ("POST", format!("/v1/wallets/{id}/activate"), json!({})),
    ] {
        let reply = server.send(method, &path, &body);
        assert_eq!(reply.status, 409, "{method} {path}: {:?}", reply.body);
        assert_eq!(reply.code(), "wallet_terminated");
    }
    // A notice went out once for lot 3 and once for the wallet; lots 2
    // and 4 were spent before theirs were due.
    let events = event_types(&server.events_of(id));
    let notices = events
        .iter()
        .filter(|kind| *kind == "wallet.lot_expiring")
        .count();
    assert_eq!(notices, 2, "{events:?}");
    assert!(
        events.contains(&"wallet.terminated".to_owned()),
        "{events:?}"
    );
    server.assert_verified();
    // Everything above survives a restart.
    drop(server);
    let server = Server::start_manual(dir.path(), &[]);
    assert_eq!(server.get_wallet(id)["status"], "terminated");
    server.assert_verified();
}
