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

/// Creates `wallets` wallets through `POST /v1/wallets` (32 connections),
/// then debits a tenth of them, and reports the server's RSS: memory must be
/// bounded by the wallets touched, not by the wallets that exist.
pub(crate) fn memory(wallets: usize) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let server = crate::start_tally(dir.path())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let started = Instant::now();
    const CONNECTIONS: usize = 32;
    let addr = server.addr;
    let touched: Vec<String> = runtime.block_on(async move {
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|connection| {
                tokio::spawn(async move {
                    let mut stream = tokio::net::TcpStream::connect(addr).await?;
                    let mut buffer = Vec::with_capacity(4096);
                    let mut touched = Vec::new();
                    for n in (connection..wallets).step_by(CONNECTIONS) {
                        let body = format!(r#"{{"external_customer_id":"m{n}","currency":"USD","rate_amount":"1","paid_credits":"5"}}"#);
                        let (status, reply) = http_load::exchange(&mut stream, &http_load::post("/v1/wallets", &body), &mut buffer).await?;
                        anyhow::ensure!(status == 201, "creating a wallet: {status} {reply}");
                        if n % 10 == 0 {
                            let reply: serde_json::Value = serde_json::from_str(&reply)?;
                            touched.push(reply["id"].as_str().unwrap_or_default().to_owned());
                        }
                    }
                    Ok::<_, anyhow::Error>(touched)
                })
            })
            .collect();
        let mut touched = Vec::new();
        for task in tasks {
            touched.extend(task.await??);
        }
        Ok::<_, anyhow::Error>(touched)
    })?;
    let created_in = started.elapsed();
    let rss_created = server.rss_mib();
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for chunk in touched.chunks(BATCH) {
        let items = chunk
            .iter()
            .map(|id| format!(r#"{{"wallet_id":"{id}","credits":"0.5"}}"#))
            .collect();
        for item in batch(&current, &server, "/v1/debits/batch", items)? {
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
            "{wallets} wallets created via POST /v1/wallets (RSS then {:.0} MiB), {} touched by debits; target <= 1024 MiB",
            rss_created.unwrap_or(0.0),
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
