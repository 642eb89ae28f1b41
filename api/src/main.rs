//! The `tally` binary: parse the command line, load settings, start
//! tracing, and run the server.

use anyhow::Context;
use api::settings::Settings;
use clap::Parser;
use std::path::PathBuf;

/// Tally: prepaid-credit wallets and usage metering.
#[derive(Debug, Parser)]
#[command(name = "tally", version, about)]
struct Cli {
    /// A TOML file overriding config/tally.toml (environment TALLY_* overrides both).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Recompute every wallet from its ledger in a data folder no server has
    /// open, and check idempotency records and indexes. Exit code 0 only when
    /// everything agrees. For a running server use GET /v1/admin/verify.
    Verify {
        /// The data folder (default: the configured data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    fail_stop_on_panic();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let listener = api::server::bind(&settings)?;
            actix_web::rt::System::new().block_on(api::server::run(settings, listener))?;
        }
        Command::Verify { data_dir } => {
            let data_dir = data_dir.unwrap_or(settings.data_dir);
            let report = engine::Engine::verify_data_dir(&data_dir).with_context(|| {
                format!(
                    "verifying {} (is a server running on it?)",
                    data_dir.display()
                )
            })?;
            for mismatch in &report.mismatches {
                println!("MISMATCH {mismatch}");
            }
            println!(
                "verified {} wallets, {} ledger entries, {} idempotency records, {} index entries: {}",
                report.wallets,
                report.entries,
                report.idempotency_records,
                report.index_entries,
                if report.is_clean() {
                    "all consistent".to_owned()
                } else {
                    format!("{} mismatches", report.mismatches.len())
                }
            );
            if !report.is_clean() {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

/// A panic means a broken invariant. A shard thread that died would leave
/// its wallets unanswered while the rest serves, so the whole process stops
/// instead; disk is always consistent, and a restart recovers from it.
fn fail_stop_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(%info, "invariant violated: aborting");
        default_hook(info);
        std::process::abort();
    }));
}
