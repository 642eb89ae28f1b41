//! Many clients at once on one wallet: serialized by its actor, never below
//! zero, and exactly right at the end.

use crate::common::{data_dir, dec, Server};
use rust_decimal::Decimal;

#[test]
fn two_hundred_concurrent_debits_on_one_wallet_end_exactly_right() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    // 150 credits, 200 debits of 1 (granted 50 first, then paid 100).
    let id = server.wallet("100", "50");
    let path = format!("/v1/wallets/{id}/debits");
    let replies: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let server = &server;
                let path = &path;
                scope.spawn(move || {
                    server.call(
                        "POST",
                        path,
                        Some(r#"{"credits":"1"}"#),
                        Some(&format!("d-{i}")),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect()
    });
    let accepted: Vec<_> = replies.iter().filter(|reply| reply.status == 201).collect();
    let refused = replies.iter().filter(|reply| reply.status == 402).count();
    assert_eq!(accepted.len(), 150);
    assert_eq!(refused, 50);
    for reply in &accepted {
        assert!(dec(&reply.body["balance"]["total_credits"]) >= Decimal::ZERO);
    }
    // Each accepted debit saw a distinct balance: serialized, no lost update.
    let mut totals: Vec<Decimal> = accepted
        .iter()
        .map(|r| dec(&r.body["balance"]["total_credits"]))
        .collect();
    totals.sort_unstable();
    let expected: Vec<Decimal> = (0..150).map(Decimal::from).collect();
    assert_eq!(totals, expected);
    let wallet = server.get_wallet(&id);
    assert_eq!(wallet["balance"]["total_credits"], "0");
    assert_eq!(wallet["sequence"], 151);
    server.assert_ledger_matches_balance(&id);
}

#[test]
fn concurrent_traffic_over_many_wallets_keeps_each_ledger_exact() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let ids: Vec<String> = (0..8).map(|_| server.wallet("20", "5")).collect();
    std::thread::scope(|scope| {
        for worker in 0..16 {
            let server = &server;
            let ids = &ids;
            scope.spawn(move || {
                for n in 0..40 {
                    let id = &ids[(worker + n) % ids.len()];
                    let reply = if n % 5 == 0 {
                        let body =
                            r#"{"type":"TOPUP","paid_credits":"0.5","granted_credits":"0.25"}"#;
                        server.call(
                            "POST",
                            &format!("/v1/wallets/{id}/wallet-transactions"),
                            Some(body),
                            None,
                        )
                    } else {
                        server.call(
                            "POST",
                            &format!("/v1/wallets/{id}/debits"),
                            Some(r#"{"credits":"0.333"}"#),
                            None,
                        )
                    };
                    assert!(
                        reply.status == 201 || reply.status == 402,
                        "{:?}",
                        reply.body
                    );
                }
            });
        }
    });
    for id in &ids {
        server.assert_ledger_matches_balance(id);
    }
}
