//! SIGKILL under load: every acknowledged change survives exactly once, and
//! every wallet's ledger still sums to its balance.

use crate::common::{data_dir, verify_offline, Server};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// An acknowledged change: which wallet, which key, which transaction.
#[derive(Debug, Clone)]
struct Ack {
    wallet: String,
    key: String,
    txn_id: String,
    path: String,
    body: String,
}

fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn sigkill_while_eight_clients_write_loses_no_acknowledged_change() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64 | 1)
        .unwrap_or(7);
    eprintln!("crash test seed {seed}");
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let mut kills = 0;
    let wallets: Vec<String> = (0..4).map(|_| server.wallet("50", "10")).collect();
    let mut all_acks: Vec<Ack> = Vec::new();
    let mut rng = seed;
    // CI runs the short form; `TALLY_CRASH_CYCLES=25 make test` is the long one.
    let cycles: usize = std::env::var("TALLY_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    for cycle in 0..cycles {
        let acks = Mutex::new(Vec::new());
        let acked = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let kill_after = 40 + (next_random(&mut rng) % 200) as usize;
        std::thread::scope(|scope| {
            for client in 0..8 {
                let (server, wallets, acks, acked, stop) =
                    (&server, &wallets, &acks, &acked, &stop);
                let mut client_rng = seed.wrapping_add(client as u64 * 7919) | 1;
                scope.spawn(move || {
                    for n in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let wallet = &wallets[(next_random(&mut client_rng) % 4) as usize];
                        let key = format!("c{cycle}-{client}-{n}");
                        let (path, body) = match next_random(&mut client_rng) % 4 {
                            0 => (
                                format!("/v1/wallets/{wallet}/wallet-transactions"),
                                r#"{"type":"TOPUP","paid_credits":"3","granted_credits":"0.5"}"#
                                    .to_owned(),
                            ),
                            1 => (
                                format!("/v1/wallets/{wallet}/wallet-transactions"),
                                r#"{"type":"VOID","credits_to_void":"0.75"}"#.to_owned(),
                            ),
                            2 => (
                                format!("/v1/wallets/{wallet}/debits"),
                                r#"{"credits":"500"}"#.to_owned(),
                            ),
                            _ => (
                                format!("/v1/wallets/{wallet}/debits"),
                                r#"{"credits":"1.125"}"#.to_owned(),
                            ),
                        };
                        let Some(reply) = server.try_call("POST", &path, &body, Some(&key)) else {
                            break; // The server is gone.
                        };
                        if reply.status == 201 {
                            let txn_id = reply.body["id"].as_str().expect("id").to_owned();
                            let ack = Ack {
                                wallet: wallet.clone(),
                                key,
                                txn_id,
                                path,
                                body,
                            };
                            acks.lock().expect("lock").push(ack);
                            acked.fetch_add(1, Ordering::Relaxed);
                        } else {
                            assert!(
                                matches!(reply.status, 402 | 503),
                                "unexpected {:?}",
                                reply.body
                            );
                        }
                    }
                });
            }
            while acked.load(Ordering::Relaxed) < kill_after {
                std::thread::yield_now();
            }
            server.kill();
            stop.store(true, Ordering::Relaxed);
        });
        kills += 1;
        // The stopped data folder verifies clean offline, then live.
        let (code, output) = verify_offline(dir.path());
        assert_eq!(code, Some(0), "tally verify after SIGKILL: {output}");
        assert!(output.contains("all consistent"), "{output}");
        server = Server::start(dir.path());
        let live = server.call("GET", "/v1/admin/verify", None, None);
        assert_eq!(live.body["consistent"], true, "{:?}", live.body);
        all_acks.extend(acks.into_inner().expect("lock"));
        check(&server, &wallets, &all_acks);
        eprintln!(
            "crash cycle {cycle}: {} acknowledged so far, 0 lost",
            all_acks.len()
        );
    }
    assert_eq!(kills, cycles);
    assert!(all_acks.len() >= 40 * cycles);
    eprintln!(
        "crash test: {cycles} cycles, {} acknowledged, 0 lost, 0 duplicated, tally verify clean",
        all_acks.len()
    );
}

/// Every ack is in its wallet's ledger exactly once, replays return it, and
/// each ledger sums to its balance.
fn check(server: &Server, wallets: &[String], acks: &[Ack]) {
    let mut by_key: HashMap<(String, String), Vec<String>> = HashMap::new();
    for wallet in wallets {
        for entry in server.assert_ledger_matches_balance(wallet) {
            if let Some(key) = entry["idempotency_key"].as_str() {
                let txn = entry["id"].as_str().expect("id").to_owned();
                by_key
                    .entry((wallet.clone(), key.to_owned()))
                    .or_default()
                    .push(txn);
            }
        }
    }
    for (key, txns) in &by_key {
        assert_eq!(
            txns.len(),
            1,
            "key {key:?} applied more than once: {txns:?}"
        );
    }
    for ack in acks {
        let found = by_key.get(&(ack.wallet.clone(), ack.key.clone()));
        assert_eq!(found, Some(&vec![ack.txn_id.clone()]), "ack {ack:?}");
    }
    for ack in acks.iter().step_by(7) {
        let replay = server.call("POST", &ack.path, Some(&ack.body), Some(&ack.key));
        assert_eq!(replay.status, 201);
        assert!(replay.replayed);
        assert_eq!(replay.body["id"].as_str(), Some(ack.txn_id.as_str()));
    }
}

#[test]
fn sigterm_during_load_finishes_in_flight_requests_and_loses_nothing() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let wallets: Vec<String> = (0..4).map(|_| server.wallet("100", "0")).collect();
    let acks = Mutex::new(Vec::new());
    let acked = AtomicUsize::new(0);
    let exit_code = std::thread::scope(|scope| {
        for client in 0..8 {
            let (server, wallets, acks, acked) = (&server, &wallets, &acks, &acked);
            scope.spawn(move || {
                for n in 0.. {
                    let wallet = &wallets[(client + n) % wallets.len()];
                    let key = format!("t-{client}-{n}");
                    let path = format!("/v1/wallets/{wallet}/debits");
                    match server.try_call("POST", &path, r#"{"credits":"0.01"}"#, Some(&key)) {
                        Some(reply) if reply.status == 201 => {
                            let txn = reply.body["id"].as_str().expect("id").to_owned();
                            acks.lock().expect("lock").push((wallet.clone(), key, txn));
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        // Refused while stopping (503) or the connection closed: not acknowledged.
                        Some(reply) => assert_eq!(reply.status, 503, "{:?}", reply.body),
                        None => break,
                    }
                }
            });
        }
        while acked.load(Ordering::Relaxed) < 100 {
            std::thread::yield_now();
        }
        server.terminate_in_place()
    });
    assert_eq!(exit_code, Some(0), "SIGTERM exits 0");
    let server = Server::start(dir.path());
    let acks = acks.into_inner().expect("lock");
    let mut found = HashMap::new();
    for wallet in &wallets {
        for entry in server.assert_ledger_matches_balance(wallet) {
            if let Some(key) = entry["idempotency_key"].as_str() {
                found.insert(
                    key.to_owned(),
                    entry["id"].as_str().unwrap_or_default().to_owned(),
                );
            }
        }
    }
    for (_, key, txn) in &acks {
        assert_eq!(
            found.get(key),
            Some(txn),
            "acknowledged {key} is in the ledger"
        );
    }
    eprintln!(
        "sigterm test: {} acknowledged before and during shutdown, 0 lost",
        acks.len()
    );
}
