//! Transfers over HTTP: legs and fee, bad input refused naming the field
//! with nothing changed, and SIGKILL while clients transfer both ways
//! between the same wallets: every acknowledged transfer complete, every
//! credit conserved, verify clean before and after the restart.

use crate::common::{data_dir, dec, verify_offline, Server};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

fn total(server: &Server, wallet: &str) -> Decimal {
    dec(&server.get_wallet(wallet)["balance"]["total_credits"])
}

fn transfer(server: &Server, body: &Value, key: Option<&str>) -> crate::common::Reply {
    server.call("POST", "/v1/transfers", Some(&body.to_string()), key)
}

#[test]
fn a_transfer_moves_value_with_its_fee_leg_and_refuses_bad_input() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let (general, ai, platform) = (
        server.wallet("100", "0"),
        server.wallet("0", "0"),
        server.wallet("0", "0"),
    );
    // The seed's example: 25.00 at 5%: fee 1.25, net 23.75.
    let body = json!({"from_wallet": general, "to_wallet": ai, "amount": "25.00",
        "fee": {"percent": "5", "to_wallet": platform}, "metadata": {"reason": "Transfer to AI credits"}});
    let done = transfer(&server, &body, Some("xfer-1"));
    assert_eq!(done.status, 201, "{:?}", done.body);
    let view = &done.body;
    assert!(view["id"].as_str().is_some_and(|id| id.starts_with("trf_")));
    assert_eq!(view["status"], "completed");
    assert_eq!(view["amount"], "25.00");
    assert_eq!(view["fee_amount"], "1.25");
    assert_eq!(view["net_amount"], "23.75");
    assert_eq!(view["credits"], "25");
    assert_eq!(view["net_credits"], "23.75");
    assert_eq!(view["legs"].as_array().map(Vec::len), Some(3));
    assert_eq!(total(&server, &general), Decimal::from(75));
    assert_eq!(total(&server, &ai), "23.75".parse::<Decimal>().expect("d"));
    assert_eq!(
        total(&server, &platform),
        "1.25".parse::<Decimal>().expect("d")
    );
    // Replayed with its key; the same transfer.
    let again = transfer(&server, &body, Some("xfer-1"));
    assert_eq!(again.status, 201);
    assert!(again.replayed);
    assert_eq!(again.body["id"], view["id"]);
    let shown = server.call(
        "GET",
        &format!("/v1/transfers/{}", view["id"].as_str().expect("id")),
        None,
        None,
    );
    assert_eq!(shown.body, *view);
    let ledger = server.ledger(&ai);
    assert_eq!(ledger[0]["type"], "TRANSFER_IN");
    // Every leg is found by its transaction id alone (the global index).
    for leg in view["legs"].as_array().expect("legs") {
        let id = leg["transaction_id"].as_str().expect("txn");
        let found = server.call("GET", &format!("/v1/transactions/{id}"), None, None);
        assert_eq!(found.status, 200, "{:?}", found.body);
        assert_eq!(found.body["id"], id);
        assert_eq!(found.body["wallet_id"], leg["wallet_id"]);
    }
    assert_eq!(
        server
            .call(
                "GET",
                "/v1/transactions/txn_01ARZ3NDEKTSV4RRFFQ69G5FAV",
                None,
                None
            )
            .code(),
        "transaction_not_found"
    );
    assert_eq!(server.ledger(&general)[0]["type"], "TRANSFER_OUT");

    // Bad input: a clear 4xx naming the field, nothing changed.
    let euro = server
        .create_wallet(&json!({"external_customer_id":"eu","currency":"EUR","rate_amount":"1"}))
        ["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let cases = [
        (
            json!({"from_wallet": general, "to_wallet": ai, "amount": "-1"}),
            400,
            "amount",
        ),
        (
            json!({"from_wallet": general, "to_wallet": ai, "amount": "1e3"}),
            400,
            "amount",
        ),
        (
            json!({"from_wallet": general, "to_wallet": ai, "amount": "1.005"}),
            400,
            "amount",
        ),
        (
            json!({"from_wallet": general, "to_wallet": ai, "credits": "1", "amount": "1"}),
            400,
            "credits",
        ),
        (
            json!({"from_wallet": general, "to_wallet": general, "credits": "1"}),
            400,
            "to_wallet",
        ),
        (
            json!({"from_wallet": general, "to_wallet": "wal_nope", "credits": "1"}),
            400,
            "to_wallet",
        ),
        (
            json!({"from_wallet": general, "to_wallet": ai, "credits": "1",
            "fee": {"percent": "101", "to_wallet": platform}}),
            400,
            "fee.percent",
        ),
        (
            json!({"from_wallet": general, "to_wallet": ai, "credits": "1",
            "fee": {"percent": "5.00001", "to_wallet": platform}}),
            400,
            "fee.percent",
        ),
        (
            json!({"from_wallet": general, "to_wallet": euro, "credits": "1"}),
            422,
            "to_wallet",
        ),
    ];
    for (body, status, field) in cases {
        let reply = transfer(&server, &body, None);
        assert_eq!(reply.status, status, "{body}: {:?}", reply.body);
        assert_eq!(
            reply.body["error"]["field"], field,
            "{body}: {:?}",
            reply.body
        );
    }
    let short = transfer(
        &server,
        &json!({"from_wallet": general, "to_wallet": ai, "credits": "75.01"}),
        None,
    );
    assert_eq!((short.status, short.code()), (402, "insufficient_credits"));
    let other = transfer(
        &server,
        &json!({"from_wallet": general, "to_wallet": ai, "amount": "1.00"}),
        Some("xfer-1"),
    );
    assert_eq!(other.code(), "idempotency_key_reused");
    assert_eq!(total(&server, &general), Decimal::from(75));
    assert_eq!(
        server
            .call(
                "GET",
                "/v1/transfers/trf_01ARZ3NDEKTSV4RRFFQ69G5FAV",
                None,
                None
            )
            .code(),
        "transfer_not_found"
    );
    server.assert_verified();
}

#[test]
fn sigkill_during_concurrent_transfers_both_ways_conserves_every_credit() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let (a, b, fee) = (
        server.wallet("500", "0"),
        server.wallet("500", "0"),
        server.wallet("0", "0"),
    );
    let initial = Decimal::from(1000);
    let acked_ids: Mutex<Vec<String>> = Mutex::new(Vec::new());
    for cycle in 0..3 {
        let acked = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for client in 0..8 {
                let (server, a, b, fee, acked, stop, acked_ids) =
                    (&server, &a, &b, &fee, &acked, &stop, &acked_ids);
                scope.spawn(move || {
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let (from, to) = if (client + n) % 2 == 0 {
                            (a, b)
                        } else {
                            (b, a)
                        };
                        let body = json!({"from_wallet": from, "to_wallet": to, "credits": "1.5",
                            "fee": {"percent": "2", "to_wallet": fee}});
                        let key = format!("c{cycle}-{client}-{n}");
                        let Some(reply) =
                            server.try_call("POST", "/v1/transfers", &body.to_string(), Some(&key))
                        else {
                            break;
                        };
                        match reply.status {
                            // 202: the source was debited, the rest is in
                            // flight; it must be complete after the restart.
                            201 | 202 => {
                                acked_ids
                                    .lock()
                                    .expect("lock")
                                    .push(reply.body["id"].as_str().expect("id").to_owned());
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                            402 | 503 => {}
                            other => panic!("unexpected {other}: {:?}", reply.body),
                        }
                    }
                });
            }
            while acked.load(Ordering::Relaxed) < 60 {
                std::thread::yield_now();
            }
            server.kill();
            stop.store(true, Ordering::Relaxed);
        });
        // Stopped, transfers may be in flight: still consistent.
        let (code, output) = verify_offline(dir.path());
        assert_eq!(code, Some(0), "tally verify after SIGKILL: {output}");
        server = Server::start(dir.path());
        // The start drove every transfer in flight to its end.
        let sum = total(&server, &a) + total(&server, &b) + total(&server, &fee);
        assert_eq!(sum, initial, "cycle {cycle}: value created or destroyed");
        for id in acked_ids.lock().expect("lock").iter() {
            let shown = server.call("GET", &format!("/v1/transfers/{id}"), None, None);
            assert_eq!(shown.body["status"], "completed", "{id}");
        }
        server.assert_verified();
    }
    eprintln!(
        "transfer crash test: {} acknowledged transfers, every credit conserved",
        acked_ids.lock().expect("lock").len()
    );
}
