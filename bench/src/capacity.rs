//! Capacity scenarios: `memory` (many wallets created, a tenth touched
//! recently: the server's RSS must stay bounded by the hot wallets) and
//! `restart` (a large ledger, SIGKILL, time until the server serves again).

use crate::http_load::{self, ServerProcess};
use crate::report::Measurement;
use std::time::Instant;

const BATCH: usize = 5_000;

/// Sends one batch request and returns its items' results.
fn batch(
    runtime: &tokio::runtime::Runtime,
    server: &ServerProcess,
    path: &str,
    items: Vec<String>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let body = format!(r#"{{"items":[{}]}}"#, items.join(","));
    let (status, reply) = runtime.block_on(http_load::request(server.addr, "POST", path, &body))?;
    anyhow::ensure!(
        status == 200,
        "{path}: {status} {}",
        reply.chars().take(300).collect::<String>()
    );
    let reply: serde_json::Value = serde_json::from_str(&reply)?;
    Ok(reply["data"].as_array().cloned().unwrap_or_default())
}

/// Creates `wallets` wallets (one deposit per new user), then debits a tenth
/// of them, and reports the server's RSS.
pub(crate) fn memory(wallets: usize) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let server = crate::start_tally(dir.path())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut touched = Vec::with_capacity(wallets / 10);
    for start in (0..wallets).step_by(BATCH) {
        let items = (start..(start + BATCH).min(wallets))
            .map(|n| format!(r#"{{"user":"u{n}","amount":"5"}}"#))
            .collect();
        for (offset, item) in batch(&runtime, &server, "/v1/deposits/batch", items)?
            .iter()
            .enumerate()
        {
            anyhow::ensure!(item["status"] == 201, "deposit failed: {item}");
            if (start + offset) % 10 == 0 {
                touched.push(
                    item["transaction"]["wallet_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    }
    let created_in = started.elapsed();
    for chunk in touched.chunks(BATCH) {
        let items = chunk
            .iter()
            .map(|id| format!(r#"{{"wallet_id":"{id}","credits":"0.5"}}"#))
            .collect();
        for item in batch(&runtime, &server, "/v1/debits/batch", items)? {
            anyhow::ensure!(item["status"] == 201, "debit failed: {item}");
        }
    }
    let rss = server.rss_mib();
    Ok(Measurement {
        scenario: "memory".into(),
        ops: wallets as u64,
        errors: 0,
        throughput: wallets as f64 / created_in.as_secs_f64(),
        p50_us: 0,
        p99_us: 0,
        p999_us: 0,
        rss_mib: rss,
        note: Some(format!(
            "{wallets} wallets created, {} touched; RSS target <= 1024 MiB",
            touched.len()
        )),
    })
}

/// Writes `entries` ledger entries (batch debits over 10,000 wallets),
/// SIGKILLs the server, restarts it, and times until it serves a debit.
pub(crate) fn restart(entries: usize) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let wallets = 10_000.min(entries.max(1));
    let server = crate::start_tally(dir.path())?;
    let mut ids = Vec::with_capacity(wallets);
    for start in (0..wallets).step_by(BATCH) {
        let items = (start..(start + BATCH).min(wallets))
            .map(|n| format!(r#"{{"user":"r{n}","amount":"1000000"}}"#))
            .collect();
        for item in batch(&runtime, &server, "/v1/deposits/batch", items)? {
            ids.push(
                item["transaction"]["wallet_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    let started = Instant::now();
    let mut written = 2 * wallets;
    let mut next = 0usize;
    while written < entries {
        let items = (0..BATCH)
            .map(|_| {
                next += 1;
                format!(
                    r#"{{"wallet_id":"{}","credits":"0.000001"}}"#,
                    ids[next % ids.len()]
                )
            })
            .collect();
        batch(&runtime, &server, "/v1/debits/batch", items)?;
        written += BATCH;
    }
    let load_rate = (written - 2 * wallets) as f64 / started.elapsed().as_secs_f64().max(1e-9);
    drop(server); // SIGKILL
    let restarted = Instant::now();
    let server = crate::start_tally(dir.path())?;
    let listening = restarted.elapsed();
    let body = r#"{"credits":"0.000001"}"#;
    let (status, _) = runtime.block_on(http_load::request(
        server.addr,
        "POST",
        &format!("/v1/wallets/{}/debits", ids[0]),
        body,
    ))?;
    anyhow::ensure!(status == 201, "first debit after restart: {status}");
    let serving = restarted.elapsed();
    Ok(Measurement {
        scenario: "restart".into(),
        ops: written as u64,
        errors: 0,
        throughput: load_rate,
        p50_us: 0,
        p99_us: 0,
        p999_us: 0,
        rss_mib: server.rss_mib(),
        note: Some(format!(
            "{written} entries; SIGKILL -> listening in {} ms, first debit served in {} ms (target < 5000 ms)",
            listening.as_millis(),
            serving.as_millis()
        )),
    })
}
