//! The deposit API of seed 000: a user's first deposit creates their wallet,
//! amounts are currency strings, keys are per user's wallet.

use crate::common::{data_dir, Server};

#[test]
fn deposits_credit_the_user_wallet_once_per_key() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let empty = server.call("GET", "/v1/user/balance?user=user_123", None, None);
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["balance"], "0.00");
    assert_eq!(empty.body["wallet_id"], serde_json::Value::Null);
    let body = r#"{"user":"user_123","amount":"10","metadata":{"reason":"signup_bonus","source":"marketing_campaign_2025_09"}}"#;
    let first = server.call(
        "POST",
        "/v1/user/balance/deposit",
        Some(body),
        Some("evt_signup_123"),
    );
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["type"], "DEPOSIT");
    assert_eq!(first.body["amount"], "10.00");
    assert_eq!(first.body["paid_credits"], "10");
    let replay = server.call(
        "POST",
        "/v1/user/balance/deposit",
        Some(body),
        Some("evt_signup_123"),
    );
    assert_eq!(replay.status, 201);
    assert!(replay.replayed);
    assert_eq!(replay.body["id"], first.body["id"]);
    let renewal = r#"{"user":"user_123","amount":"1.25","metadata":{"invoice_id":"in_1"}}"#;
    assert_eq!(
        server
            .call(
                "POST",
                "/v1/user/balance/deposit",
                Some(renewal),
                Some("in_1")
            )
            .status,
        201
    );
    let balance = server.call("GET", "/v1/user/balance?user=user_123", None, None);
    assert_eq!(balance.body["balance"], "11.25");
    assert_eq!(balance.body["currency"], "USD");
    let wallet_id = balance.body["wallet_id"]
        .as_str()
        .expect("wallet")
        .to_owned();
    assert_eq!(first.body["wallet_id"], wallet_id.as_str());
    // A key is scoped to its user: another user may use the same one.
    let other = r#"{"user":"user_456","amount":"2"}"#;
    let reply = server.call(
        "POST",
        "/v1/user/balance/deposit",
        Some(other),
        Some("evt_signup_123"),
    );
    assert_eq!(reply.status, 201);
    assert!(!reply.replayed);
    // Usage spends the deposit through the wallet API.
    let debit = server.call(
        "POST",
        &format!("/v1/wallets/{wallet_id}/debits"),
        Some(r#"{"credits":"0.25"}"#),
        None,
    );
    assert_eq!(debit.status, 201);
    let balance = server.call("GET", "/v1/user/balance?user=user_123", None, None);
    assert_eq!(balance.body["balance"], "11.00");
    server.assert_ledger_matches_balance(&wallet_id);
}

#[test]
fn a_bad_first_deposit_creates_nothing() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    for (amount, field_message) in [
        ("1.001", "minor units"),
        ("0", "greater than zero"),
        ("-5", "negative"),
    ] {
        let body = format!(r#"{{"user":"new_user","amount":"{amount}"}}"#);
        let reply = server.call("POST", "/v1/user/balance/deposit", Some(&body), None);
        assert_eq!(reply.status, 400, "{amount}");
        assert_eq!(reply.code(), "invalid_amount");
        assert_eq!(reply.body["error"]["field"], "amount");
        let message = reply.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(field_message), "{message}");
    }
    let balance = server.call("GET", "/v1/user/balance?user=new_user", None, None);
    assert_eq!(balance.body["wallet_id"], serde_json::Value::Null);
    let list = server.call(
        "GET",
        "/v1/wallets?external_customer_id=new_user",
        None,
        None,
    );
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(0));
}
