//! Wallet creation, reads, listing, exact arithmetic, granted-before-paid,
//! and a restart that keeps every balance and ledger entry.

use crate::common::{data_dir, dec, Server};

#[test]
fn create_get_and_list_by_customer() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let body = r#"{"external_customer_id":"cus_42","name":"Main","currency":"JPY","rate_amount":"0.5","paid_credits":"10","granted_credits":"2.5"}"#;
    let created = server.call("POST", "/v1/wallets", Some(body), None);
    assert_eq!(created.status, 201, "{:?}", created.body);
    let wallet = &created.body;
    let id = wallet["id"].as_str().expect("id");
    assert!(id.starts_with("wal_"));
    assert_eq!(wallet["status"], "active");
    assert_eq!(wallet["currency"], "JPY");
    assert_eq!(wallet["rate_amount"], "0.5");
    assert_eq!(wallet["balance"]["paid_credits"], "10");
    assert_eq!(wallet["balance"]["granted_credits"], "2.5");
    assert_eq!(wallet["balance"]["total_credits"], "12.5");
    // 12.5 credits at 0.5 JPY is 6.25 JPY, shown in JPY's 0 minor units, rounded down.
    assert_eq!(wallet["balance"]["amount"], "6");
    assert_eq!(wallet["sequence"], 1);
    assert_eq!(server.get_wallet(id)["balance"], wallet["balance"]);
    server.wallet("1", "0");
    let list = server.call("GET", "/v1/wallets?external_customer_id=cus_42", None, None);
    assert_eq!(list.status, 200);
    let data = list.body["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], id);
    let opening = server.ledger(id);
    assert_eq!(opening.len(), 1);
    assert_eq!(opening[0]["type"], "OPEN");
}

#[test]
fn arithmetic_is_exact_with_many_decimals() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("0.1", "0");
    let topup = r#"{"type":"TOPUP","paid_credits":"0.2"}"#;
    let reply = server.call(
        "POST",
        &format!("/v1/wallets/{id}/wallet-transactions"),
        Some(topup),
        None,
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["balance"]["paid_credits"], "0.3");
    for credits in ["0.000000001", "0.012500", "0.1"] {
        let body = format!(r#"{{"credits":"{credits}"}}"#);
        let reply = server.call(
            "POST",
            &format!("/v1/wallets/{id}/debits"),
            Some(&body),
            None,
        );
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    let wallet = server.get_wallet(&id);
    assert_eq!(wallet["balance"]["paid_credits"], "0.187499999");
    server.assert_ledger_matches_balance(&id);
}

#[test]
fn debits_take_granted_before_paid() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("10", "3");
    let debit = |credits: &str| {
        let body = format!(
            r#"{{"credits":"{credits}","metadata":{{"model":"gpt-4o","input_tokens":1200}}}}"#
        );
        server.call(
            "POST",
            &format!("/v1/wallets/{id}/debits"),
            Some(&body),
            None,
        )
    };
    let first = debit("2");
    assert_eq!(first.status, 201);
    assert_eq!(first.body["granted_credits"], "2");
    assert_eq!(first.body["paid_credits"], "0");
    assert_eq!(first.body["balance"]["granted_credits"], "1");
    assert_eq!(first.body["sequence"], 2);
    assert_eq!(first.body["metadata"][0]["key"], "input_tokens");
    assert_eq!(first.body["metadata"][0]["value"], "1200");
    let second = debit("1.5");
    assert_eq!(second.body["granted_credits"], "1");
    assert_eq!(second.body["paid_credits"], "0.5");
    assert_eq!(second.body["balance"]["paid_credits"], "9.5");
    assert_eq!(second.body["balance"]["granted_credits"], "0");
    // VOID also removes granted first, then paid.
    let topup =
        r#"{"type":"TOPUP","granted_credits":"1","metadata":[{"key":"reason","value":"promo"}]}"#;
    let path = format!("/v1/wallets/{id}/wallet-transactions");
    assert_eq!(server.call("POST", &path, Some(topup), None).status, 201);
    let void = server.call(
        "POST",
        &path,
        Some(r#"{"type":"VOID","credits_to_void":"3"}"#),
        None,
    );
    assert_eq!(void.status, 201, "{:?}", void.body);
    assert_eq!(void.body["granted_credits"], "1");
    assert_eq!(void.body["paid_credits"], "2");
    assert_eq!(void.body["balance"]["total_credits"], "7.5");
    server.assert_ledger_matches_balance(&id);
}

#[test]
fn a_restart_keeps_every_balance_and_ledger_entry() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let ids: Vec<String> = (0..5)
        .map(|i| server.wallet(&format!("{i}.5"), "1"))
        .collect();
    for id in &ids {
        for _ in 0..3 {
            let reply = server.call(
                "POST",
                &format!("/v1/wallets/{id}/debits"),
                Some(r#"{"credits":"0.25"}"#),
                None,
            );
            assert_eq!(reply.status, 201);
        }
    }
    let before: Vec<_> = ids
        .iter()
        .map(|id| (server.get_wallet(id), server.ledger(id)))
        .collect();
    assert_eq!(server.terminate(), Some(0), "graceful shutdown exits 0");
    let server = Server::start(dir.path());
    for (id, (wallet, ledger)) in ids.iter().zip(before) {
        assert_eq!(server.get_wallet(id), wallet);
        assert_eq!(server.ledger(id), ledger);
        // 1 granted credit, 3 debits of 0.25 taken from it first.
        assert_eq!(
            dec(&wallet["balance"]["granted_credits"]),
            rust_decimal::Decimal::new(25, 2)
        );
        server.assert_ledger_matches_balance(id);
    }
}

#[test]
fn idle_wallet_actors_leave_memory_and_come_back_from_disk() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &[("TALLY_ACTOR_IDLE_TIMEOUT_MS", "100")]);
    let id = server.wallet("10", "0");
    let path = format!("/v1/wallets/{id}/debits");
    let first = server.call("POST", &path, Some(r#"{"credits":"1"}"#), Some("k1"));
    assert_eq!(first.status, 201);
    assert_eq!(server.metric("tally_wallet_actors_resident"), Some(1.0));
    // Wait (bounded) for the idle actor to retire; no fixed sleep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.metric("tally_wallet_actors_resident") != Some(0.0) {
        assert!(std::time::Instant::now() < deadline, "actor never retired");
        std::thread::yield_now();
    }
    // A fresh actor loads the wallet and its idempotency records from disk.
    let replay = server.call("POST", &path, Some(r#"{"credits":"1"}"#), Some("k1"));
    assert!(replay.replayed);
    assert_eq!(replay.body, first.body);
    let next = server.call("POST", &path, Some(r#"{"credits":"2"}"#), None);
    assert_eq!(next.body["sequence"], 3);
    assert_eq!(next.body["balance"]["paid_credits"], "7");
    server.assert_ledger_matches_balance(&id);
}

#[test]
fn buffered_durability_serves_and_keeps_changes_across_a_graceful_restart() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &[("TALLY_DURABILITY", "buffered")]);
    let id = server.wallet("3", "0");
    let reply = server.call(
        "POST",
        &format!("/v1/wallets/{id}/debits"),
        Some(r#"{"credits":"1.25"}"#),
        None,
    );
    assert_eq!(reply.status, 201);
    assert_eq!(server.terminate(), Some(0));
    let server = Server::start(dir.path());
    assert_eq!(server.get_wallet(&id)["balance"]["paid_credits"], "1.75");
    server.assert_ledger_matches_balance(&id);
}

/// A wallet id is accepted only in its canonical spelling: the ULID decoder
/// also takes lower case and ignores the first character's top bits, and
/// such an alias would reach the same wallet through a second actor.
#[test]
fn only_the_canonical_wallet_id_reaches_the_wallet() {
    let dir = crate::common::data_dir();
    let server = crate::common::Server::start(dir.path());
    let id = server.wallet("100", "0");
    let lower = format!("wal_{}", id["wal_".len()..].to_ascii_lowercase());
    let aliased = format!("wal_8{}", &id["wal_0".len()..]);
    for alias in [lower, aliased] {
        let reply = server.call(
            "POST",
            &format!("/v1/wallets/{alias}/debits"),
            Some(r#"{"credits":"100"}"#),
            None,
        );
        assert!(
            matches!(reply.status, 400 | 404),
            "{alias}: {:?}",
            reply.body
        );
    }
    assert_eq!(server.get_wallet(&id)["balance"]["paid_credits"], "100");
}
