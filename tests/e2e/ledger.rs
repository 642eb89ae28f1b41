//! The ledger read: newest first, cursor pagination, limits.

use crate::common::{data_dir, Server};

#[test]
fn pages_walk_the_ledger_newest_first_without_gaps() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let id = server.wallet("100", "0");
    for i in 1..=24 {
        let body = format!(r#"{{"credits":"{i}"}}"#);
        let reply = server.call(
            "POST",
            &format!("/v1/wallets/{id}/debits"),
            Some(&body),
            None,
        );
        assert_eq!(reply.status, if i <= 13 { 201 } else { 402 }, "debit {i}");
    }
    // 1 + 2 + ... + 13 = 91 credits spent in 13 debits; the rest were refused.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/wallets/{id}/wallet-transactions?limit=5{cursor}");
        let page = server.call("GET", &path, None, None);
        assert_eq!(page.status, 200, "{:?}", page.body);
        let data = page.body["data"].as_array().expect("data").clone();
        assert!(data.len() <= 5);
        seen.extend(
            data.iter()
                .map(|entry| entry["sequence"].as_u64().expect("seq")),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page.body["has_more"], true);
                cursor = format!("&cursor={next}");
            }
            None => break,
        }
    }
    let expected: Vec<u64> = (1..=14).rev().collect();
    assert_eq!(seen, expected);
    let entries = server.assert_ledger_matches_balance(&id);
    assert_eq!(entries[0]["balance"]["total_credits"], "9");
    for bad in ["limit=0", "limit=1001", "limit=x", "cursor=abc"] {
        let reply = server.call(
            "GET",
            &format!("/v1/wallets/{id}/wallet-transactions?{bad}"),
            None,
            None,
        );
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.code(), "invalid_field");
    }
}
