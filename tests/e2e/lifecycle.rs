//! Wallet lifecycle (seed 003): pending takes top-ups but no debits and
//! becomes active on its first paid top-up or by activation; termination
//! forfeits the remaining credits with a ledger entry and is final.

use crate::common::{data_dir, Server};

#[test]
fn pending_active_terminated() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let body = r#"{"external_customer_id":"cus_l","currency":"USD","rate_amount":"1","granted_credits":"3","status":"pending"}"#;
    let created = server.call("POST", "/v1/wallets", Some(body), None);
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "pending");
    let id = created.body["id"].as_str().expect("id").to_owned();
    let wallet = format!("/v1/wallets/{id}");
    let debits = format!("{wallet}/debits");
    let txns = format!("{wallet}/wallet-transactions");
    let refused = server.call("POST", &debits, Some(r#"{"credits":"1"}"#), None);
    assert_eq!((refused.status, refused.code()), (409, "wallet_not_active"));
    // A granted top-up is taken but does not activate; a paid one does.
    let granted = server.call(
        "POST",
        &txns,
        Some(r#"{"type":"TOPUP","granted_credits":"1"}"#),
        None,
    );
    assert_eq!(granted.status, 201);
    assert_eq!(server.get_wallet(&id)["status"], "pending");
    let paid = server.call(
        "POST",
        &txns,
        Some(r#"{"type":"TOPUP","paid_credits":"5"}"#),
        None,
    );
    assert_eq!(paid.status, 201);
    assert_eq!(server.get_wallet(&id)["status"], "active");
    assert_eq!(
        server
            .call("POST", &debits, Some(r#"{"credits":"1.5"}"#), None)
            .status,
        201
    );
    let again = server.call("POST", &format!("{wallet}/activate"), None, None);
    assert_eq!(
        (again.status, again.code()),
        (409, "invalid_status_transition")
    );
    // Terminate: everything left is forfeited, with an entry that says so.
    let terminated = server.call("DELETE", &wallet, None, Some("close-1"));
    assert_eq!(terminated.status, 200, "{:?}", terminated.body);
    assert_eq!(terminated.body["status"], "terminated");
    assert_eq!(terminated.body["balance"]["total_credits"], "0");
    let entries = server.assert_ledger_matches_balance(&id);
    assert_eq!(entries[0]["type"], "TERMINATE");
    assert_eq!(entries[0]["credits"], "7.5", "3 + 1 + 5 - 1.5 forfeited");
    // Replaying the termination returns the same wallet; anything else is refused.
    let replay = server.call("DELETE", &wallet, None, Some("close-1"));
    assert_eq!(replay.status, 200);
    assert!(replay.replayed);
    for (method, path, body) in [
        ("POST", &debits, Some(r#"{"credits":"1"}"#)),
        (
            "POST",
            &txns,
            Some(r#"{"type":"TOPUP","paid_credits":"1"}"#),
        ),
        ("DELETE", &wallet, None),
    ] {
        let reply = server.call(method, path, body, None);
        assert_eq!(
            (reply.status, reply.code()),
            (409, "wallet_terminated"),
            "{method} {path}"
        );
    }
    // Reads still work, and the state survives a restart.
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(server.get_wallet(&id)["status"], "terminated");
    let activate = server.call("POST", &format!("{wallet}/activate"), None, None);
    assert_eq!(activate.code(), "wallet_terminated");
    let bad =
        r#"{"external_customer_id":"c","currency":"USD","rate_amount":"1","status":"terminated"}"#;
    let refused = server.call("POST", "/v1/wallets", Some(bad), None);
    assert_eq!(
        (refused.status, refused.body["error"]["field"].as_str()),
        (400, Some("status"))
    );
}
