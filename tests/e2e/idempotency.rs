//! Idempotency keys: a replay returns the original response and changes
//! nothing; reuse with another body is refused; keys are per wallet, and a
//! key means one request whichever route carries it.

use crate::common::{data_dir, Server};

#[test]
fn replay_returns_the_original_and_reuse_is_refused() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("10", "0");
    let path = format!("/v1/wallets/{id}/wallet-transactions");
    let topup =
        r#"{"type":"TOPUP","paid_credits":"5","metadata":[{"key":"invoice","value":"in_1"}]}"#;
    let first = server.call("POST", &path, Some(topup), Some("evt_1"));
    assert_eq!(first.status, 201);
    assert!(!first.replayed);
    assert_eq!(first.body["idempotency_key"], "evt_1");
    // Same key, same body (different formatting): the original response.
    let spaced = r#"{ "type": "TOPUP", "paid_credits": "5.00", "metadata": [{"key":"invoice","value":"in_1"}] }"#;
    let again = server.call("POST", &path, Some(spaced), Some("evt_1"));
    assert_eq!(again.status, 201);
    assert!(again.replayed);
    assert_eq!(again.body, first.body);
    // Same key, different body: refused, nothing changes.
    let other = r#"{"type":"TOPUP","paid_credits":"6"}"#;
    let reused = server.call("POST", &path, Some(other), Some("evt_1"));
    assert_eq!(reused.status, 409);
    assert_eq!(reused.code(), "idempotency_key_reused");
    let wallet = server.get_wallet(&id);
    assert_eq!(wallet["balance"]["paid_credits"], "15");
    assert_eq!(wallet["sequence"], 2);
    // The same key on another wallet is another key.
    let second_wallet = server.wallet("0", "0");
    let elsewhere = server.call(
        "POST",
        &format!("/v1/wallets/{second_wallet}/wallet-transactions"),
        Some(topup),
        Some("evt_1"),
    );
    assert_eq!(elsewhere.status, 201);
    assert!(!elsewhere.replayed);
    server.assert_ledger_matches_balance(&id);
}

#[test]
fn debit_replays_survive_a_restart_and_refusals_are_not_recorded() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("1", "0");
    let path = format!("/v1/wallets/{id}/debits");
    let first = server.call("POST", &path, Some(r#"{"credits":"0.75"}"#), Some("req-1"));
    assert_eq!(first.status, 201);
    // A refused request records nothing: after a top-up, the same key succeeds.
    let refused = server.call("POST", &path, Some(r#"{"credits":"0.5"}"#), Some("req-2"));
    assert_eq!(refused.status, 402);
    assert_eq!(refused.code(), "insufficient_credits");
    let topup = r#"{"type":"TOPUP","paid_credits":"1"}"#;
    let reply = server.call(
        "POST",
        &format!("/v1/wallets/{id}/wallet-transactions"),
        Some(topup),
        None,
    );
    assert_eq!(reply.status, 201);
    let retried = server.call("POST", &path, Some(r#"{"credits":"0.5"}"#), Some("req-2"));
    assert_eq!(retried.status, 201);
    assert!(!retried.replayed);
    server.kill();
    let server = Server::start(dir.path());
    let replay = server.call("POST", &path, Some(r#"{"credits":"0.75"}"#), Some("req-1"));
    assert_eq!(replay.status, 201);
    assert!(replay.replayed);
    assert_eq!(replay.body, first.body);
    assert_eq!(server.get_wallet(&id)["balance"]["paid_credits"], "0.75");
    server.assert_ledger_matches_balance(&id);
}

#[test]
fn concurrent_replays_of_one_key_apply_once() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("0", "0");
    let path = format!("/v1/wallets/{id}/wallet-transactions");
    let replies: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    server.call(
                        "POST",
                        &path,
                        Some(r#"{"type":"TOPUP","paid_credits":"7"}"#),
                        Some("webhook-9"),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect()
    });
    assert!(replies.iter().all(|reply| reply.status == 201));
    let ids: std::collections::HashSet<_> = replies.iter().map(|r| r.body["id"].clone()).collect();
    assert_eq!(ids.len(), 1, "every replay names the one transaction");
    assert_eq!(replies.iter().filter(|reply| !reply.replayed).count(), 1);
    assert_eq!(server.get_wallet(&id)["balance"]["paid_credits"], "7");
}

#[test]
fn wallet_creation_is_idempotent() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let body =
        r#"{"external_customer_id":"cus_9","currency":"USD","rate_amount":"1","paid_credits":"3"}"#;
    let first = server.call("POST", "/v1/wallets", Some(body), Some("create-1"));
    assert_eq!(first.status, 201);
    let id = first.body["id"].as_str().expect("id").to_owned();
    let debit = server.call(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        Some(r#"{"credits":"1"}"#),
        None,
    );
    assert_eq!(debit.status, 201);
    let again = server.call("POST", "/v1/wallets", Some(body), Some("create-1"));
    assert_eq!(again.status, 201);
    assert!(again.replayed);
    assert_eq!(
        again.body, first.body,
        "the original response, as of creation"
    );
    let other = r#"{"external_customer_id":"cus_9","currency":"EUR","rate_amount":"1"}"#;
    assert_eq!(
        server
            .call("POST", "/v1/wallets", Some(other), Some("create-1"))
            .status,
        409
    );
    let list = server.call("GET", "/v1/wallets?external_customer_id=cus_9", None, None);
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));
}

/// Issue 9, defect 9: a key means the same request whichever route carries
/// it. A TOPUP's metadata in another order is the same top-up (the single
/// route keeps request order, a batch item's object comes sorted), and a
/// deposit named by user or by wallet id is one deposit of one wallet.
#[test]
fn one_key_means_one_request_across_routes() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("0", "0");
    let single = server.call(
        "POST",
        &format!("/v1/wallets/{id}/wallet-transactions"),
        Some(
            r#"{"type":"TOPUP","paid_credits":"5","metadata":[{"key":"z","value":"1"},{"key":"a","value":"2"}]}"#,
        ),
        Some("topup-1"),
    );
    assert_eq!(single.status, 201, "{:?}", single.body);
    let batch = server.call(
        "POST",
        "/v1/topups/batch",
        Some(&format!(
            r#"{{"items":[{{"wallet_id":"{id}","paid_credits":"5","idempotency_key":"topup-1","metadata":{{"a":"2","z":"1"}}}}]}}"#
        )),
        None,
    );
    assert_eq!(batch.status, 200, "{:?}", batch.body);
    let result = &batch.body["data"][0];
    assert_eq!(result["status"], 201, "{result:?}");
    assert_eq!(result["replayed"], true);
    assert_eq!(result["transaction"]["id"], single.body["id"]);

    // A deposit by user, then the same key and amount by that user's
    // wallet id: one deposit. Before the fix the second credited again.
    let by_user = server.call(
        "POST",
        "/v1/user/balance/deposit",
        Some(r#"{"user":"user_9","amount":"10"}"#),
        Some("dep-1"),
    );
    assert_eq!(by_user.status, 201, "{:?}", by_user.body);
    let wallet = by_user.body["wallet_id"].as_str().expect("wallet id");
    let by_wallet = server.call(
        "POST",
        "/v1/deposits/batch",
        Some(&format!(
            r#"{{"items":[{{"wallet_id":"{wallet}","amount":"10","idempotency_key":"dep-1"}}]}}"#
        )),
        None,
    );
    let result = &by_wallet.body["data"][0];
    assert_eq!(result["status"], 201, "{result:?}");
    assert_eq!(result["replayed"], true);
    assert_eq!(result["transaction"]["id"], by_user.body["id"]);
    let balance = server.call("GET", "/v1/user/balance?user=user_9", None, None);
    assert_eq!(balance.body["balance"], "10.00", "{:?}", balance.body);
    server.assert_verified();
}

/// Issue 9, defect 5: the engine's own keys (interval top-ups) live where no
/// client key can reach. A client that learns a rule's id and next due time
/// and sends a debit with the key an older version used for that top-up
/// neither cancels nor replays the top-up.
#[test]
fn a_client_key_cannot_preempt_an_interval_top_up() {
    let dir = data_dir();
    // Keys outlive the week, so the client's record is live at the due time.
    let server = Server::start_manual(dir.path(), &[("TALLY_IDEMPOTENCY_TTL_HOURS", "720")]);
    let wallet = server.create_wallet(&serde_json::json!({
        "external_customer_id": "cus_keys", "currency": "USD", "rate_amount": "1",
        "paid_credits": "10",
        "recurring_transaction_rules": [{"method":"FIXED","trigger":"INTERVAL",
            "interval":"weekly","paid_credits":"7"}],
    }));
    let id = wallet["id"].as_str().expect("id");
    let rule = &wallet["recurring_transaction_rules"][0];
    let rule_id = rule["id"].as_str().expect("rule id");
    let due = rule["next_top_up_at"].as_str().expect("due");
    let due_ms = time::OffsetDateTime::parse(due, &time::format_description::well_known::Rfc3339)
        .expect("rfc 3339")
        .unix_timestamp()
        * 1000;
    let key = format!("interval:{rule_id}:{due_ms}");
    let debit = server.call(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        Some(r#"{"credits":"1"}"#),
        Some(&key),
    );
    assert_eq!(debit.status, 201, "{:?}", debit.body);
    // The client's key is the client's: a replay of the debit.
    let again = server.call(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        Some(r#"{"credits":"1"}"#),
        Some(&key),
    );
    assert!(again.replayed, "{:?}", again.body);
    assert_eq!(again.body["id"], debit.body["id"]);
    server.advance(7 * crate::common::DAY);
    let ledger = server.ledger(id);
    let topups: Vec<_> = ledger
        .iter()
        .filter(|entry| entry["source"] == "interval")
        .collect();
    assert_eq!(topups.len(), 1, "{ledger:?}");
    assert_eq!(topups[0]["credits"], "7");
    assert_eq!(topups[0]["idempotency_key"], key.as_str());
    assert_eq!(server.get_wallet(id)["balance"]["total_credits"], "16");
    server.assert_verified();
}
