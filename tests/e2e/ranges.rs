//! The largest amounts over HTTP (issue 9): a result past the documented
//! maximum (999,999,999,999,999,999.999999999 credits) is refused with 422
//! naming the field before anything is written, never stored rounded; and
//! the bounds on rules (their number, the TARGET split of huge figures).

use crate::common::{data_dir, dec, Server};
use serde_json::json;

const MAX: &str = "999999999999999999.999999999";

#[test]
fn a_deposit_past_the_maximum_is_refused_not_stored_short() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let wallet = server.create_wallet(&json!({
        "external_customer_id": "cus_big", "currency": "USD", "rate_amount": "0.01",
    }));
    let id = wallet["id"].as_str().expect("id");
    // The repro: 10^18 - 1 USD at 0.01 USD per credit is ~10^20 credits.
    // Before the fix the reply said 99999999999999999900 and the ledger on
    // disk held 9999999999999999990.
    let reply = server.send(
        "POST",
        "/v1/deposits/batch",
        &json!({"items":[{"wallet_id": id, "amount": "999999999999999999"}]}),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let result = &reply.body["data"][0];
    assert_eq!(result["status"], 422, "{result:?}");
    assert_eq!(result["error"]["code"], "amount_out_of_range");
    assert_eq!(result["error"]["field"], "amount");
    // The single endpoint agrees, and nothing was written.
    let single = server.send(
        "POST",
        &format!("/v1/wallets/{id}/wallet-transactions"),
        &json!({"type":"TOPUP","paid_credits": MAX, "granted_credits": "1"}),
    );
    assert_eq!(single.status, 422, "{:?}", single.body);
    assert_eq!(single.code(), "amount_out_of_range");
    assert_eq!(single.body["error"]["field"], "paid_credits");
    assert_eq!(server.ledger(id).len(), 1, "only the opening entry");

    // The largest deposit that fits is exact to the last digit, in the
    // reply and on disk.
    let reply = server.send(
        "POST",
        "/v1/deposits/batch",
        &json!({"items":[{"wallet_id": id, "amount": "9999999999999999.99"}]}),
    );
    let result = &reply.body["data"][0];
    assert_eq!(result["status"], 201, "{result:?}");
    assert_eq!(
        result["transaction"]["balance"]["paid_credits"],
        "999999999999999999"
    );
    let ledger = server.assert_ledger_matches_balance(id);
    assert_eq!(ledger[0]["paid_credits"], "999999999999999999");
    // One credit unit more overflows the balance: refused, balance kept.
    let over = server.send(
        "POST",
        &format!("/v1/wallets/{id}/wallet-transactions"),
        &json!({"type":"TOPUP","granted_credits":"1"}),
    );
    assert_eq!(over.status, 422, "{:?}", over.body);
    assert_eq!(over.body["error"]["field"], "granted_credits");
    let fits = server.send(
        "POST",
        &format!("/v1/wallets/{id}/wallet-transactions"),
        &json!({"type":"TOPUP","granted_credits":"0.999999999"}),
    );
    assert_eq!(fits.status, 201, "{:?}", fits.body);
    let balance = &server.get_wallet(id)["balance"];
    assert_eq!(balance["total_credits"], MAX);
    assert_eq!(balance["amount"], "9999999999999999.99");
    server.assert_verified();
    drop(server);
    let (code, output) = crate::common::verify_offline(dir.path());
    assert_eq!(code, Some(0), "{output}");
}

#[test]
fn rates_and_opening_balances_have_bounds_too() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let too_dear = server.send(
        "POST",
        "/v1/wallets",
        &json!({"external_customer_id":"c","currency":"USD","rate_amount":"1000000.01"}),
    );
    assert_eq!(too_dear.status, 400, "{:?}", too_dear.body);
    assert_eq!(too_dear.body["error"]["field"], "rate_amount");
    let too_full = server.send(
        "POST",
        "/v1/wallets",
        &json!({"external_customer_id":"c","currency":"USD","rate_amount":"1",
                "paid_credits": MAX, "granted_credits": MAX}),
    );
    assert_eq!(too_full.status, 422, "{:?}", too_full.body);
    assert_eq!(too_full.code(), "amount_out_of_range");
    // The largest rate and balance together still show an exact value.
    let wallet = server.create_wallet(&json!({
        "external_customer_id": "c", "currency": "USD", "rate_amount": "1000000",
        "paid_credits": MAX,
    }));
    assert_eq!(
        wallet["balance"]["amount"], "999999999999999999999999.99",
        "{wallet:?}"
    );
    let listed = server.call("GET", "/v1/wallets?external_customer_id=c", None, None);
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));
}

#[test]
fn rules_are_bounded_in_number_and_split_huge_targets_exactly() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    // 550 monthly rules anchored in year 1 once cost millions of date steps
    // on a shard thread; now more than 25 rules are refused outright.
    let rule = json!({"method":"FIXED","trigger":"INTERVAL","interval":"monthly",
                      "started_at":"0001-01-31T00:00:00Z","paid_credits":"1"});
    let many: Vec<_> = (0..26).map(|_| rule.clone()).collect();
    let refused = server.send(
        "POST",
        "/v1/wallets",
        &json!({"external_customer_id":"c","currency":"USD","rate_amount":"1",
                "recurring_transaction_rules": many}),
    );
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(
        refused.body["error"]["field"],
        "recurring_transaction_rules"
    );
    // 25 such rules are accepted, and each is scheduled for the next month
    // end after now (the clock is at 2040-01-01), computed, not stepped to.
    let few: Vec<_> = (0..25).map(|_| rule.clone()).collect();
    let wallet = server.create_wallet(&json!({
        "external_customer_id":"c","currency":"USD","rate_amount":"1",
        "recurring_transaction_rules": few,
    }));
    let rules = wallet["recurring_transaction_rules"]
        .as_array()
        .expect("rules");
    assert_eq!(rules.len(), 25);
    assert!(
        rules
            .iter()
            .all(|rule| rule["next_top_up_at"] == "2040-01-31T00:00:00Z"),
        "{rules:?}"
    );

    // A TARGET of 10^12 split with a weight of 10^9 : 10^9: the product of
    // the mantissas passes 128 bits; the split is still exact (half each).
    let target = server.create_wallet(&json!({
        "external_customer_id":"c","currency":"USD","rate_amount":"1","paid_credits":"2",
        "recurring_transaction_rules":[{"method":"TARGET","trigger":"THRESHOLD",
            "threshold_credits":"1","target_ongoing_balance":"1000000000000",
            "paid_credits":"1000000000","granted_credits":"1000000000"}],
    }));
    let id = target["id"].as_str().expect("id");
    let debit = server.send(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        &json!({"credits":"2"}),
    );
    assert_eq!(debit.status, 201, "{:?}", debit.body);
    let balance = &server.get_wallet(id)["balance"];
    assert_eq!(dec(&balance["paid_credits"]), dec(&json!("500000000000")));
    assert_eq!(
        dec(&balance["granted_credits"]),
        dec(&json!("500000000000"))
    );
    server.assert_verified();
}
