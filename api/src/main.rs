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
