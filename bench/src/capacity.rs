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
    let body = format!(r#"{{"results":"compact","items":[{}]}}"#, items.join(","));
    let (status, reply) = runtime.block_on(http_load::request(server.addr, "POST", path, &body))?;
    anyhow::ensure!(
        status == 200,
        "{path}: {status} {}",
        reply.chars().take(300).collect::<String>()
    );
    let reply: serde_json::Value = serde_json::from_str(&reply)?;
    Ok(reply["data"].as_array().cloned().unwrap_or_default())
}

/// Creates `wallets` wallets by deposit (`POST /v1/deposits/batch`, new
/// users, compact results), then deposits again to a tenth of them, and
/// reports the server's RSS: memory must be bounded by the resident actors
/// (`actors_resident_max`), not by the wallets that exist or were touched
/// within the minute (each deposit starts the wallet's actor).
pub(crate) fn memory(wallets: usize) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let server = crate::start_tally(dir.path())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let deposit_all = |users: &mut dyn Iterator<Item = usize>| -> anyhow::Result<usize> {
        let mut count = 0;
        loop {
            let items: Vec<String> = (&mut *users)
                .take(BATCH)
                .map(|n| format!(r#"{{"user":"m{n}","amount":"5"}}"#))
                .collect();
            if items.is_empty() {
                return Ok(count);
            }
            for item in batch(&runtime, &server, "/v1/deposits/batch", items)? {
                anyhow::ensure!(item["status"] == 201, "deposit failed: {item}");
                count += 1;
            }
        }
    };
    let started = Instant::now();
    deposit_all(&mut (0..wallets))?;
    let created_in = started.elapsed();
    let rss_created = server.rss_mib();
    let touched = deposit_all(&mut (0..wallets).step_by(10))?;
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
            "{wallets} wallets created by deposit in {:.0} s (RSS then {:.0} MiB), {touched} touched again; target <= 1024 MiB",
            created_in.as_secs_f64(),
            rss_created.unwrap_or(0.0),
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
            ids.push(item["wallet_id"].as_str().unwrap_or_default().to_owned());
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
