//! Tally's benchmark harness. `make bench` builds in release mode and runs
//! every scenario with its baseline in the same run, prints a Markdown table
//! with ratios, and writes JSON (see BENCHMARKS.md for the latest figures).

mod capacity;
mod ceiling;
mod engine_load;
mod http_load;
mod report;

use clap::Parser;
use http_load::ServerProcess;
use report::{print_table, ratio, Measurement};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(about = "Tally benchmarks, side by side with baselines")]
struct Cli {
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Run only scenarios whose name contains this (or one of several,
    /// comma-separated: `--only http-single,gateway`).
    #[arg(long)]
    only: Option<String>,
    /// Wallets in the uniform scenarios (pairs of wallets in `transfers`).
    #[arg(long, default_value_t = 1000)]
    wallets: usize,
    /// Concurrent clients (tasks in process, connections over HTTP,
    /// pgbench clients).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Items per request in the batch scenarios.
    #[arg(long, default_value_t = 1000)]
    batch_items: usize,
    /// Lines of the generated import file.
    #[arg(long, default_value_t = 1_000_000)]
    import_lines: usize,
    /// Wallets created in the memory scenario (a tenth are then touched).
    #[arg(long, default_value_t = 1_000_000)]
    memory_wallets: usize,
    /// Ledger entries written before the restart scenario's SIGKILL.
    #[arg(long, default_value_t = 10_000_000)]
    restart_entries: usize,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results/latest.json")]
    out: std::path::PathBuf,
    #[command(subcommand)]
    command: Option<Internal>,
}

#[derive(Debug, clap::Subcommand)]
enum Internal {
    /// (internal) run the http-ceiling server.
    CeilingServer {
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Internal::CeilingServer { workers }) = cli.command {
        return ceiling::serve(workers);
    }
    let duration = Duration::from_secs(cli.seconds);
    let wanted = |name: &str| {
        cli.only
            .as_deref()
            .is_none_or(|only| only.split(',').any(|part| name.contains(part)))
    };
    let mut results: Vec<Measurement> = Vec::new();
    let mut run = |name: &str,
                   scenario: &mut dyn FnMut() -> anyhow::Result<Measurement>|
     -> anyhow::Result<()> {
        if wanted(name) {
            eprintln!("running {name} for {}s ...", cli.seconds);
            results.push(scenario()?);
        }
        Ok(())
    };
    run("rocksdb-ceiling", &mut || {
        engine_load::rocksdb_ceiling(cli.wallets, cli.concurrency, duration)
    })?;
    run("engine-uniform", &mut || {
        engine_load::engine_debits("engine-uniform", cli.wallets, cli.concurrency, duration)
    })?;
    run("engine-hot", &mut || {
        engine_load::engine_debits("engine-hot", 1, cli.concurrency, duration)
    })?;
    run("http-ceiling", &mut || {
        http_ceiling(cli.wallets, cli.concurrency, duration)
    })?;
    run("http-single", &mut || {
        http_single(cli.wallets, cli.concurrency, duration)
    })?;
    run("gateway", &mut || {
        gateway(cli.wallets, cli.concurrency, duration)
    })?;
    run("transfers", &mut || {
        transfers(cli.wallets, cli.concurrency, duration)
    })?;
    run("http-batch-deposits", &mut || {
        http_batch(true, cli.wallets, cli.batch_items, duration)
    })?;
    run("http-batch-debits", &mut || {
        http_batch(false, cli.wallets, cli.batch_items, duration)
    })?;
    run("import", &mut || import(cli.import_lines, false))?;
    run("import-http", &mut || import(cli.import_lines, true))?;
    run("memory", &mut || capacity::memory(cli.memory_wallets))?;
    run("restart", &mut || capacity::restart(cli.restart_entries))?;
    if wanted("postgres") {
        eprintln!("running postgres for {}s ...", cli.seconds);
        match postgres(cli.concurrency, cli.seconds, cli.wallets) {
            Ok(measurement) => results.push(measurement),
            Err(error) => eprintln!("postgres baseline skipped: {error:#}"),
        }
    }
    let ratios: Vec<_> = [
        ratio(&results, "engine-uniform", "rocksdb-ceiling", 0.5),
        ratio(&results, "engine-hot", "engine-uniform", 0.5),
        ratio(&results, "http-single", "http-ceiling", 0.6),
        ratio(&results, "http-single", "postgres", 5.0),
        ratio(&results, "gateway", "http-single", 0.4),
        ratio(&results, "transfers", "http-single", 0.4),
    ]
    .into_iter()
    .flatten()
    .collect();
    print_table(&results, &ratios);
    let json = serde_json::json!({ "results": results, "ratios": ratios, "seconds": cli.seconds,
        "wallets": cli.wallets, "concurrency": cli.concurrency });
    if let Some(parent) = cli
        .out
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&cli.out, serde_json::to_string_pretty(&json)?)?;
    eprintln!("wrote {}", cli.out.display());
    Ok(())
}

const DEBIT_BODY: &str =
    r#"{"credits":"0.000001","metadata":{"model":"gpt-4o","input_tokens":"1200"}}"#;

pub(crate) fn sibling_binary(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    anyhow::ensure!(
        path.exists(),
        "{} not found: build the workspace first (make bench)",
        path.display()
    );
    Ok(path)
}

fn http_ceiling(
    wallets: usize,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let server = ServerProcess::start(
        &std::env::current_exe()?,
        &["ceiling-server", "--workers", "2"],
        &[],
    )?;
    let paths = (0..wallets)
        .map(|i| format!("/v1/wallets/wal_{i:026}/debits"))
        .collect();
    http_load::load(
        "http-ceiling",
        &server,
        paths,
        DEBIT_BODY,
        connections,
        duration,
    )
}

/// Starts the release `tally` binary on a free port over `data_dir`.
pub(crate) fn start_tally(data_dir: &std::path::Path) -> anyhow::Result<ServerProcess> {
    let data_dir = data_dir.to_string_lossy().into_owned();
    ServerProcess::start(
        &sibling_binary("tally")?,
        &[],
        &[
            ("TALLY_LISTEN", "127.0.0.1:0"),
            ("TALLY_DATA_DIR", &data_dir),
            ("TALLY_API_KEY", http_load::KEY),
            ("TALLY_HTTP_WORKERS", "2"),
            ("TALLY_SHARDS", "2"),
            ("RUST_LOG", "warn"),
        ],
    )
}

fn http_single(
    wallets: usize,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let server = start_tally(dir.path())?;
    let paths = create_wallets(&server, wallets)?
        .into_iter()
        .map(|id| format!("/v1/wallets/{id}/debits"))
        .collect();
    http_load::load(
        "http-single",
        &server,
        paths,
        DEBIT_BODY,
        connections,
        duration,
    )
}

/// The LLM gateway's pattern over HTTP: on the wallets of `http-single`
/// (each funded with 1,000,000 credits), every connection places a hold of
/// 1 credit and captures 0.6 of it. Operations are hold+capture pairs.
fn gateway(wallets: usize, connections: usize, duration: Duration) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let server = start_tally(dir.path())?;
    let ids = create_wallets(&server, wallets)?;
    let measurement = http_load::load_hold_capture(
        "gateway",
        &server,
        &ids,
        r#"{"credits":"1","ttl_seconds":120}"#,
        r#"{"credits":"0.6"}"#,
        connections,
        duration,
    )?;
    Ok(Measurement {
        note: Some("pairs/s: hold 1 credit, capture 0.6; latency per pair".to_owned()),
        ..measurement
    })
}

/// Transfers between wallet pairs over HTTP: `pairs` pairs of wallets
/// (`2 × pairs` wallets, each created with 1,000,000 paid credits, the only
/// credits a transfer moves), `http-single`'s connections and load
/// generator; each operation is one `POST /v1/transfers` of 1 credit within
/// a pair, alternating direction, no fee leg.
fn transfers(pairs: usize, connections: usize, duration: Duration) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let server = start_tally(dir.path())?;
    let mut ids = create_wallets(&server, 2 * pairs)?.into_iter();
    let pairs: Vec<(String, String)> =
        std::iter::from_fn(|| Some((ids.next()?, ids.next()?))).collect();
    let measurement =
        http_load::load_transfers("transfers", &server, &pairs, "1", connections, duration)?;
    Ok(Measurement {
        note: Some(format!(
            "transfers/s: 1 credit within one of {} pairs, alternating direction, no fee",
            pairs.len()
        )),
        ..measurement
    })
}

/// Creates `count` funded wallets through `POST /v1/wallets`; returns their ids.
fn create_wallets(server: &ServerProcess, count: usize) -> anyhow::Result<Vec<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body = r#"{"external_customer_id":"bench","currency":"USD","rate_amount":"1","paid_credits":"1000000"}"#;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let (status, reply) =
            runtime.block_on(http_load::request(server.addr, "POST", "/v1/wallets", body))?;
        anyhow::ensure!(status == 201, "creating a wallet: {status} {reply}");
        let reply: serde_json::Value = serde_json::from_str(&reply)?;
        let id = reply["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no id"))?;
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// Batch deposits (to users, creating their wallets on first sight) or
/// batch debits (to wallets) over HTTP from 4 connections; items per second.
fn http_batch(
    deposits: bool,
    wallets: usize,
    items: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let server = start_tally(dir.path())?;
    let ids = if deposits {
        Vec::new()
    } else {
        create_wallets(&server, wallets)?
    };
    let body = |offset: usize| -> String {
        let items: Vec<String> = (0..items)
            .map(|i| {
                let n = (offset * 7919 + i) % wallets;
                if deposits {
                    format!(r#"{{"user":"user_{n}","amount":"1.25","metadata":{{"invoice":"in_{i}"}}}}"#)
                } else {
                    format!(r#"{{"wallet_id":"{}","credits":"0.000001","metadata":{{"model":"gpt-4o"}}}}"#, ids[n])
                }
            })
            .collect();
        format!(r#"{{"results":"compact","items":[{}]}}"#, items.join(","))
    };
    let path = if deposits {
        "/v1/deposits/batch"
    } else {
        "/v1/debits/batch"
    };
    let name = if deposits {
        "http-batch-deposits"
    } else {
        "http-batch-debits"
    };
    let bodies: Vec<String> = (0..16).map(body).collect();
    let measurement = http_load::load_bodies(name, &server, path, bodies, 4, duration)?;
    // Report items, not requests; latencies stay per request.
    Ok(Measurement {
        ops: measurement.ops * items as u64,
        throughput: measurement.throughput * items as f64,
        ..measurement
    })
}

/// `tally import` of a generated CSV of deposits (100,000 users) into a
/// fresh data folder, in process (`import`) or into a running server over
/// HTTP (`import-http`, compact batch results).
fn import(lines: usize, over_http: bool) -> anyhow::Result<Measurement> {
    use std::io::Write;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("deposits.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    writeln!(out, "user,amount,invoice")?;
    for i in 0..lines {
        writeln!(out, "user_{},{}.25,in_{i}", i % 100_000, i % 9 + 1)?;
    }
    out.flush()?;
    drop(out);
    let data = dir.path().join("data");
    let server = if over_http {
        Some(start_tally(&data)?)
    } else {
        None
    };
    let mut command = std::process::Command::new(sibling_binary("tally")?);
    command.args(["import", "--quiet"]);
    match &server {
        Some(server) => command
            .arg("--url")
            .arg(format!("http://{}", server.addr))
            .arg("--key")
            .arg(http_load::KEY),
        None => command.arg("--data-dir").arg(&data),
    };
    let started = std::time::Instant::now();
    let output = command.arg(&file).env("RUST_LOG", "warn").output()?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let name = if over_http { "import-http" } else { "import" };
    Ok(Measurement::rate(
        name,
        lines as u64,
        lines as f64 / elapsed.as_secs_f64(),
    ))
}

/// Runs bench/postgres.sh and reads its JSON line.
fn postgres(concurrency: usize, seconds: u64, wallets: usize) -> anyhow::Result<Measurement> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/postgres.sh");
    let output = std::process::Command::new("bash")
        .arg(script)
        .args([
            concurrency.to_string(),
            seconds.to_string(),
            wallets.to_string(),
        ])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_str(line.trim())?;
    let number = |name: &str| json[name].as_f64().unwrap_or(0.0);
    Ok(Measurement {
        p50_us: number("p50_us") as u32,
        p99_us: number("p99_us") as u32,
        p999_us: number("p999_us") as u32,
        ..Measurement::rate("postgres", number("transactions") as u64, number("tps"))
    })
}
