//! The `tally` binary: parse the command line, load settings, start
//! tracing, and run the server.

use anyhow::Context;

/// mimalloc instead of glibc malloc: per-thread free lists, no arena lock
/// shared by the HTTP workers, shard threads and the commit writer (see
/// BENCHMARKS.md for the measured effect).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
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
    /// Import deposits or top-ups from a CSV (with a header) or NDJSON file,
    /// into a data folder (default) or a running server (--url and --key).
    /// Re-running a file credits nothing twice.
    Import {
        /// The file: .csv, or .ndjson/.jsonl.
        file: PathBuf,
        /// What each line is.
        #[arg(long, value_enum, default_value = "deposit")]
        kind: api::import::ImportKind,
        /// A running server's base URL, e.g. http://127.0.0.1:8080.
        #[arg(long, requires = "key")]
        url: Option<String>,
        /// The server's API key (with --url).
        #[arg(long)]
        key: Option<String>,
        /// The data folder to import into (default: the configured data_dir).
        #[arg(long, conflicts_with = "url")]
        data_dir: Option<PathBuf>,
        /// Column holding each line's idempotency key (default: an
        /// `idempotency_key` column, else the file name's hash, the line
        /// number and a digest of the line's content).
        #[arg(long)]
        key_column: Option<String>,
        /// Where rejected lines go (default: FILE.rejects).
        #[arg(long)]
        reject_file: Option<PathBuf>,
        /// Lines per batch.
        #[arg(long, default_value_t = 2000)]
        batch_size: usize,
        /// Batches in flight at once.
        #[arg(long, default_value_t = 4)]
        in_flight: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Serve the HTTP API (the default).
    Serve {
        /// Upgrade a data folder of an older format before serving (the
        /// same as `tally migrate`; also `allow_migrate = true` in config).
        #[arg(long)]
        allow_migrate: bool,
    },
    /// Rewrite a data folder of format 2 into format 3 (which this build reads
    /// as it is and records as format 4), keeping
    /// the old folder as DIR.format2-backup. The server must be stopped.
    Migrate {
        /// The data folder (default: the configured data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Create, list or revoke API keys, on a running server (--url and an
    /// admin --key) or in a data folder no server has open.
    Keys {
        #[command(subcommand)]
        command: api::keys::KeysCommand,
        /// A running server's base URL.
        #[arg(long, requires = "key", global = true)]
        url: Option<String>,
        /// An admin key for --url.
        #[arg(long, global = true)]
        key: Option<String>,
        /// The data folder (default: the configured data_dir).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Import prices (LiteLLM's model_prices_and_context_window.json or
    /// Tally's own form) as new versions, or export the current ones, on a
    /// running server (--url and a write or admin --key) or in a data folder
    /// no server has open.
    Prices {
        #[command(subcommand)]
        command: api::price_book::PricesCommand,
        /// A running server's base URL.
        #[arg(long, requires = "key", global = true)]
        url: Option<String>,
        /// A key with the write or admin scope for --url.
        #[arg(long, global = true)]
        key: Option<String>,
        /// The data folder (default: the configured data_dir).
        #[arg(long, global = true, conflicts_with = "url")]
        data_dir: Option<PathBuf>,
    },
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
    match cli.command.unwrap_or(Command::Serve {
        allow_migrate: false,
    }) {
        Command::Serve { allow_migrate } => {
            upgrade_if_allowed(&settings.data_dir, allow_migrate || settings.allow_migrate)?;
            let listener = api::server::bind(&settings)?;
            actix_web::rt::System::new().block_on(api::server::run(settings, listener))?;
        }
        Command::Import {
            file,
            kind,
            url,
            key,
            data_dir,
            key_column,
            reject_file,
            batch_size,
            in_flight,
            quiet,
        } => {
            let destination = match (url, key) {
                (Some(url), Some(key)) => api::import::Destination::Http { url, key },
                _ => api::import::Destination::Local(
                    data_dir.unwrap_or_else(|| settings.data_dir.clone()),
                ),
            };
            let mut rejects = file.clone().into_os_string();
            rejects.push(".rejects");
            let options = api::import::ImportOptions {
                reject_file: reject_file.unwrap_or_else(|| rejects.into()),
                file,
                kind,
                key_column,
                batch_size,
                in_flight,
                progress: !quiet,
            };
            let summary = api::import::run(
                &options,
                destination,
                settings.limits(),
                settings.engine_config()?,
            )?;
            if summary.rejected > 0 {
                std::process::exit(3);
            }
        }
        Command::Keys {
            command,
            url,
            key,
            data_dir,
        } => match (url, key) {
            (Some(url), Some(key)) => api::keys::run_http(command, &url, &key)?,
            _ => {
                let mut config = settings.engine_config()?;
                if let Some(data_dir) = data_dir {
                    config.data_dir = data_dir;
                }
                api::keys::run_local(command, config)?;
            }
        },
        Command::Prices {
            command,
            url,
            key,
            data_dir,
        } => {
            let summary = match (url, key) {
                (Some(url), Some(key)) => api::price_book::run_http(command, &url, &key)?,
                _ => {
                    let mut config = settings.engine_config()?;
                    if let Some(data_dir) = data_dir {
                        config.data_dir = data_dir;
                    }
                    api::price_book::run_local(command, config)?
                }
            };
            if summary.rejected > 0 {
                std::process::exit(3);
            }
        }
        Command::Migrate { data_dir } => {
            let data_dir = data_dir.unwrap_or(settings.data_dir);
            migrate(&data_dir)?;
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

/// Refuses to serve a data folder of an older format unless allowed to
/// upgrade it, with a message that says how.
fn upgrade_if_allowed(data_dir: &std::path::Path, allowed: bool) -> anyhow::Result<()> {
    // Before anything opens (or creates) the folder: a migration cut short
    // between its renames leaves no data folder, only its two siblings.
    if let Some(done) = engine::migrate::recover(data_dir)
        .with_context(|| format!("recovering {}", data_dir.display()))?
    {
        tracing::warn!(data_dir = %data_dir.display(), "{done}");
    }
    let found = engine::store::rocks::RocksStore::format_version(data_dir).with_context(|| {
        format!(
            "reading {} (is another server running on it?)",
            data_dir.display()
        )
    })?;
    let current = u32::from(engine::store::codec::FORMAT_VERSION);
    match found {
        Some(version) if version == engine::migrate::FROM_VERSION && allowed => migrate(data_dir),
        Some(version) if version == engine::migrate::FROM_VERSION => anyhow::bail!(
            "{} holds data in format {version}; this build uses format {current}. Back it up, then \
             run `tally migrate --data-dir {}` (or start with --allow-migrate, or set \
             allow_migrate = true); the old folder is kept as {}.format2-backup",
            data_dir.display(),
            data_dir.display(),
            data_dir.display()
        ),
        _ => Ok(()),
    }
}

/// Runs the format migration on `data_dir` and says what it did.
fn migrate(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let report = engine::migrate::migrate(data_dir)
        .with_context(|| format!("migrating {}", data_dir.display()))?;
    let records: Vec<String> = report
        .records
        .iter()
        .map(|(cf, count)| format!("{cf} {count}"))
        .collect();
    println!(
        "migrated {} to format {}: {}; {} interval keys made internal, {} user deposit keys moved to their wallets ({} dropped as duplicates); format-2 copy kept in {}",
        data_dir.display(),
        engine::store::codec::FORMAT_VERSION,
        records.join(", "),
        report.internal_keys,
        report.user_keys,
        report.user_keys_dropped,
        report.backup.display()
    );
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
