//! Automatic top-ups over HTTP on a manual clock: every method x trigger
//! combination of seed 003, thresholds fired once per crossing (also under
//! 100 concurrent debits), interval rules across downtime and restarts, and
//! a visible record when a rule adds nothing. Also the wallet terms
//! (fee types, PUT) and the filtered wallet list.

use crate::common::{data_dir, dec, event_types, Server, DAY};
use serde_json::{json, Value};

fn wallet_with_rule(server: &Server, paid: &str, rule: Value) -> String {
    let wallet = server.create_wallet(&json!({
        "external_customer_id": "cus_rules", "currency": "USD", "rate_amount": "1",
        "paid_credits": paid, "recurring_transaction_rules": [rule],
    }));
    wallet["id"].as_str().expect("id").to_owned()
}

fn debit(server: &Server, wallet: &str, credits: &str) -> u16 {
    let reply = server.send(
        "POST",
        &format!("/v1/wallets/{wallet}/debits"),
        &json!({ "credits": credits }),
    );
    reply.status
}

fn total(server: &Server, wallet: &str) -> rust_decimal::Decimal {
    dec(&server.get_wallet(wallet)["balance"]["total_credits"])
}

/// Automatic top-ups of a wallet, oldest first: (source, credits).
fn automatic(server: &Server, wallet: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = server
        .ledger(wallet)
        .iter()
        .filter(|entry| entry["rule_id"].is_string())
        .map(|entry| {
            (
                entry["source"].as_str().expect("source").to_owned(),
                entry["credits"].as_str().expect("credits").to_owned(),
            )
        })
        .collect();
    entries.reverse();
    entries
}

#[test]
fn fixed_threshold_fires_once_per_crossing() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let id = wallet_with_rule(
        &server,
        "20",
        json!({"method":"FIXED","trigger":"THRESHOLD","threshold_credits":"10","paid_credits":"3"}),
    );
    assert_eq!(debit(&server, &id, "9"), 201); // 11: above
    assert!(automatic(&server, &id).is_empty());
    assert_eq!(debit(&server, &id, "2"), 201); // 9: crosses, +3 = 12
    assert_eq!(
        automatic(&server, &id),
        vec![("threshold".into(), "3".into())]
    );
    assert_eq!(total(&server, &id), dec(&json!("12")));
    assert_eq!(debit(&server, &id, "5"), 201); // 7: crosses again, +3 = 10
    assert_eq!(debit(&server, &id, "1"), 201); // 9: still at or below: no fire
    assert_eq!(automatic(&server, &id).len(), 2);
    assert_eq!(total(&server, &id), dec(&json!("9")));
    let events = event_types(&server.events_of(&id));
    assert_eq!(
        events
            .iter()
            .filter(|kind| *kind == "wallet.threshold_crossed")
            .count(),
        2,
        "{events:?}"
    );
    server.assert_verified();
}

#[test]
fn target_threshold_tops_up_to_the_target_and_records_a_met_target() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let id = wallet_with_rule(
        &server,
        "50",
        json!({"method":"TARGET","trigger":"THRESHOLD","threshold_credits":"10","target_ongoing_balance":"100","paid_credits":"3","granted_credits":"1"}),
    );
    assert_eq!(debit(&server, &id, "45"), 201); // 5: crosses; the gap 95 splits 3:1
    let top_up = server
        .ledger(&id)
        .into_iter()
        .find(|entry| entry["source"] == "threshold")
        .expect("threshold top-up");
    assert_eq!(top_up["paid_credits"], "71.25");
    assert_eq!(top_up["granted_credits"], "23.75");
    assert_eq!(total(&server, &id), dec(&json!("100")));

    // A target below the threshold cannot be reached by adding credits:
    // the rule fires, adds nothing, and says so.
    let reply = server.send(
        "PUT",
        &format!("/v1/wallets/{id}"),
        &json!({"recurring_transaction_rules":[{"method":"TARGET","trigger":"THRESHOLD","threshold_credits":"50","target_ongoing_balance":"20"}]}),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(debit(&server, &id, "60"), 201); // 40: crosses 50, above target 20
    let failed: Vec<Value> = server
        .events_of(&id)
        .into_iter()
        .filter(|event| event["type"] == "wallet.topup_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let reason = failed[0]["data"]["details"]["reason"]
        .as_str()
        .expect("reason");
    assert!(reason.contains("already meets the target"), "{reason}");
    assert_eq!(total(&server, &id), dec(&json!("40")));
    server.assert_verified();
}

#[test]
fn threshold_fires_exactly_once_under_100_concurrent_debits() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let id = wallet_with_rule(
        &server,
        "100",
        // Small enough that the top-up does not lift the balance back
        // above the threshold (which would re-arm it).
        json!({"method":"FIXED","trigger":"THRESHOLD","threshold_credits":"50","granted_credits":"0.05"}),
    );
    std::thread::scope(|scope| {
        for _ in 0..100 {
            scope.spawn(|| assert_eq!(debit(&server, &id, "0.9"), 201));
        }
    });
    // 100 - 90 = 10, plus one top-up: the balance crossed 50 once.
    assert_eq!(
        automatic(&server, &id),
        vec![("threshold".into(), "0.05".into())]
    );
    assert_eq!(total(&server, &id), dec(&json!("10.05")));
    server.assert_verified();
}

#[test]
fn interval_rules_fire_on_schedule_once_after_downtime_and_never_twice() {
    let dir = data_dir();
    let mut server = Server::start_manual(dir.path(), &[]);
    let fixed = wallet_with_rule(
        &server,
        "0",
        json!({"method":"FIXED","trigger":"INTERVAL","interval":"weekly","paid_credits":"5","granted_credits":"1"}),
    );
    let target = wallet_with_rule(
        &server,
        "30",
        json!({"method":"TARGET","trigger":"INTERVAL","interval":"monthly","target_ongoing_balance":"40"}),
    );
    // Nothing before the first week.
    server.advance(7 * DAY - 1);
    assert!(automatic(&server, &fixed).is_empty());
    let step = server.advance(1);
    assert_eq!(step.body["wallets_woken"], 1, "{:?}", step.body);
    assert_eq!(
        automatic(&server, &fixed),
        vec![("interval".into(), "6".into())]
    );
    let entry = &server.ledger(&fixed)[0];
    let key = entry["idempotency_key"].as_str().expect("key");
    assert!(key.starts_with("interval:rtr_"), "{key}");

    // The server is down for five weeks; on restart the missed periods
    // fire once, not five times.
    drop(server);
    server = Server::start_manual(dir.path(), &[]);
    server.advance(7 * DAY + 5 * 7 * DAY);
    assert_eq!(automatic(&server, &fixed).len(), 2);
    // A restart and another pass at the same time credit nothing more.
    drop(server);
    server = Server::start_manual(dir.path(), &[]);
    server.advance(7 * DAY + 5 * 7 * DAY);
    server.advance(0);
    assert_eq!(automatic(&server, &fixed).len(), 2);
    let rule = &server.get_wallet(&fixed)["recurring_transaction_rules"][0];
    assert!(rule["next_top_up_at"].is_string(), "{rule:?}");

    // TARGET x INTERVAL: the month turned during the downtime; it topped
    // the balance back up to 40.
    assert_eq!(
        automatic(&server, &target),
        vec![("interval".into(), "10".into())]
    );
    assert_eq!(total(&server, &target), dec(&json!("40")));
    server.assert_verified();
}

#[test]
fn terms_fee_types_update_and_filtered_lists() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let wallet = server.create_wallet(&json!({
        "external_customer_id": "cus_terms", "currency": "EUR", "rate_amount": "0.5",
        "paid_credits": "10", "name": "Promo", "metadata": {"plan": "pro"},
        "applies_to": {"fee_types": ["SUBSCRIPTION"]},
    }));
    let id = wallet["id"].as_str().expect("id");
    assert_eq!(wallet["applies_to"]["fee_types"], json!(["SUBSCRIPTION"]));
    assert_eq!(wallet["metadata"], json!({"plan": "pro"}));
    // A CHARGE (the default) is not covered: 422, nothing changes.
    let refused = server.send(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        &json!({"credits":"1"}),
    );
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.code(), "fee_type_not_covered");
    assert_eq!(refused.body["error"]["field"], "fee_type");
    let paid = server.send(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        &json!({"credits":"1","fee_type":"SUBSCRIPTION"}),
    );
    assert_eq!(paid.status, 201, "{:?}", paid.body);
    assert_eq!(paid.body["fee_type"], "SUBSCRIPTION");
    // PUT changes what may change; the change is an UPDATE entry.
    let updated = server.send(
        "PUT",
        &format!("/v1/wallets/{id}"),
        &json!({"name": null, "applies_to": {"fee_types": ["CHARGE", "COMMITMENT"]}, "expiration_at": "2041-01-01T00:00:00+02:00"}),
    );
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["name"], Value::Null);
    assert_eq!(updated.body["metadata"], json!({"plan": "pro"}));
    assert_eq!(updated.body["expiration_at"], "2040-12-31T22:00:00Z");
    assert_eq!(
        updated.body["applies_to"]["fee_types"],
        json!(["COMMITMENT", "CHARGE"])
    );
    assert_eq!(server.ledger(id)[0]["type"], "UPDATE");
    assert_eq!(debit(&server, id, "1"), 201);

    // Lists: by status, currency and customer, with cursors.
    let pending = server.create_wallet(&json!({
        "external_customer_id": "cus_terms", "currency": "USD", "rate_amount": "1", "status": "pending",
    }));
    let other = server.create_wallet(&json!({
        "external_customer_id": "cus_other", "currency": "USD", "rate_amount": "1",
    }));
    // On a stopped clock the wallets share a millisecond, so their ids
    // (ULIDs) order at random within it: compare sets.
    let ids = |path: &str| -> std::collections::BTreeSet<String> {
        let reply = server.call("GET", path, None, None);
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        reply.body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|wallet| wallet["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (pending, other) = (
        pending["id"].as_str().expect("id"),
        other["id"].as_str().expect("id"),
    );
    let set = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect();
    assert_eq!(ids("/v1/wallets?status=pending"), set(&[pending]));
    assert_eq!(ids("/v1/wallets?currency=EUR"), set(&[id]));
    assert_eq!(
        ids("/v1/wallets?external_customer_id=cus_terms"),
        set(&[id, pending])
    );
    assert_eq!(
        ids("/v1/wallets?external_customer_id=cus_terms&currency=USD"),
        set(&[pending])
    );
    let first = server.call("GET", "/v1/wallets?limit=2", None, None);
    assert_eq!(first.body["has_more"], true);
    let cursor = first.body["next_cursor"].as_str().expect("cursor");
    let mut all = ids("/v1/wallets?limit=2");
    let rest = ids(&format!("/v1/wallets?limit=2&cursor={cursor}"));
    assert_eq!(rest.len(), 1);
    all.extend(rest);
    assert_eq!(all, set(&[id, pending, other]));
    server.assert_verified();
}

/// Issue 9, defect 7: after two years of downtime a monthly rule fires once,
/// for the latest month that came due, and is next due the month after. The
/// old jump-ahead assumed 28-day months and overshot into the future.
#[test]
fn a_long_downtime_fires_the_latest_period_exactly() {
    let dir = data_dir();
    let server = Server::start_manual(dir.path(), &[]);
    let id = wallet_with_rule(
        &server,
        "1",
        json!({"method":"FIXED","trigger":"INTERVAL","interval":"monthly","paid_credits":"5"}),
    );
    // 2040-01-01 + 730 days = 2041-12-31.
    server.advance(63_072_000);
    let topups: Vec<Value> = server
        .ledger(&id)
        .into_iter()
        .filter(|entry| entry["source"] == "interval")
        .collect();
    assert_eq!(topups.len(), 1, "{topups:?}");
    let due_ms = time::OffsetDateTime::parse(
        "2041-12-01T00:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc 3339")
    .unix_timestamp()
        * 1000;
    let key = topups[0]["idempotency_key"].as_str().expect("key");
    assert!(key.ends_with(&format!(":{due_ms}")), "{key}");
    let rule = &server.get_wallet(&id)["recurring_transaction_rules"][0];
    assert_eq!(rule["next_top_up_at"], "2042-01-01T00:00:00Z");
    assert_eq!(total(&server, &id), dec(&json!("6")));
    server.assert_verified();
}
