//! Idempotency keys: a replay returns the original response and changes
//! nothing; reuse with another body is refused; keys are per wallet / user.

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
