//! Tally's benchmark harness. `make bench` builds in release mode and runs
//! every scenario with its baseline in the same run, prints a Markdown table
//! with ratios, and writes JSON (see BENCHMARKS.md for the latest figures).

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
    /// Run only scenarios whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Wallets in the uniform scenarios.
    #[arg(long, default_value_t = 1000)]
    wallets: usize,
    /// Concurrent clients (tasks in process, connections over HTTP).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-results.json")]
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
    let wanted = |name: &str| cli.only.as_deref().is_none_or(|only| name.contains(only));
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
    let ratios: Vec<_> = [
        ratio(&results, "engine-uniform", "rocksdb-ceiling", 0.5),
        ratio(&results, "engine-hot", "engine-uniform", 0.5),
        ratio(&results, "http-single", "http-ceiling", 0.6),
    ]
    .into_iter()
    .flatten()
    .collect();
    print_table(&results, &ratios);
    let json = serde_json::json!({ "results": results, "ratios": ratios, "seconds": cli.seconds,
        "wallets": cli.wallets, "concurrency": cli.concurrency });
    std::fs::write(&cli.out, serde_json::to_string_pretty(&json)?)?;
    eprintln!("wrote {}", cli.out.display());
    Ok(())
}

const DEBIT_BODY: &str =
    r#"{"credits":"0.000001","metadata":{"model":"gpt-4o","input_tokens":"1200"}}"#;

fn sibling_binary(name: &str) -> anyhow::Result<std::path::PathBuf> {
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

fn http_single(
    wallets: usize,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().to_string_lossy().into_owned();
    let server = ServerProcess::start(
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
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut paths = Vec::with_capacity(wallets);
    for _ in 0..wallets {
        let body = r#"{"external_customer_id":"bench","currency":"USD","rate_amount":"1","paid_credits":"1000000"}"#;
        let (status, reply) =
            runtime.block_on(http_load::request(server.addr, "POST", "/v1/wallets", body))?;
        anyhow::ensure!(status == 201, "creating a wallet: {status} {reply}");
        let reply: serde_json::Value = serde_json::from_str(&reply)?;
        let id = reply["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no id"))?
            .to_owned();
        paths.push(format!("/v1/wallets/{id}/debits"));
    }
    http_load::load(
        "http-single",
        &server,
        paths,
        DEBIT_BODY,
        connections,
        duration,
    )
}
