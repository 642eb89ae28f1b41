//! In-process scenarios: durable debits through the engine (many wallets, or
//! one hot wallet), and the `rocksdb-ceiling` baseline: the same bytes written
//! through the same group-commit writer and sync policy, with no wallet logic.

use crate::report::{rss_mib, Measurement};
use engine::commit::{CommitConfig, CommitRequest, CommitWriter, Durability};
use engine::metrics::EngineMetrics;
use engine::store::rocks::{RocksOptions, RocksStore};
use engine::store::{codec, keys, Cf, WriteOp};
use engine::{
    Command, Credits, Currency, Engine, EngineConfig, NewWallet, SystemClock, TxnId, Wallet,
    WalletId,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn engine_config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        buffered_sync_interval: Duration::from_millis(200),
        commit_queue_capacity: 65_536,
        commit_group_max: 8_192,
        mailbox_capacity: 8_192,
        idempotency_ttl: Duration::from_secs(24 * 3600),
        recent_keys_max: 256,
        memtable_budget_bytes: 256 << 20,
        block_cache_bytes: 128 << 20,
        ..EngineConfig::small(dir)
    }
}

/// A USD wallet with a million paid credits: never runs dry in a bench.
fn funded_wallet() -> NewWallet {
    NewWallet {
        external_customer_id: "bench".into(),
        currency: Currency::parse("USD").expect("known"),
        rate_amount: rust_decimal::Decimal::ONE,
        paid_credits: Credits::parse("1000000").expect("valid"),
        granted_credits: Credits::ZERO,
        status: engine::WalletStatus::Active,
        terms: engine::TermsSpec::default(),
    }
}

fn debit() -> Command {
    Command::Debit {
        credits: Credits::parse("0.000001").expect("valid"),
        metadata: vec![("model".into(), "gpt-4o".into())],
        fee_type: engine::FeeType::Charge,
    }
}

/// Durable debits spread over `wallets` wallets from `concurrency` tasks.
pub(crate) fn engine_debits(
    name: &str,
    wallets: usize,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let system = actix_rt::System::new();
    system.block_on(async move {
        let registry = prometheus::Registry::new();
        let engine = Engine::open(engine_config(dir.path()), Arc::new(SystemClock), &registry)?;
        let mut ids = Vec::with_capacity(wallets);
        for _ in 0..wallets {
            let spec = funded_wallet();
            ids.push(engine.create_wallet(spec, None).await?.wallet.id);
        }
        let started = Instant::now();
        let tasks = (0..concurrency).map(|task| {
            let (engine, ids) = (&engine, &ids);
            async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut next = task;
                while started.elapsed() < duration {
                    let id = &ids[next % ids.len()];
                    next = next.wrapping_mul(31).wrapping_add(17);
                    let t0 = Instant::now();
                    match engine.execute(id, debit(), None).await {
                        Ok(_) => latencies.push(t0.elapsed().as_micros() as u32),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            }
        });
        let outcomes = futures_util::future::join_all(tasks).await;
        let elapsed = started.elapsed();
        let errors = outcomes.iter().map(|(_, e)| e).sum();
        let latencies = outcomes.into_iter().flat_map(|(l, _)| l).collect();
        engine.shutdown();
        Ok(Measurement::new(
            name,
            latencies,
            errors,
            elapsed,
            rss_mib(std::process::id()),
        ))
    })
}

/// The storage limit: wallet + ledger writes of a debit's real sizes, through
/// the same commit writer with WAL sync, from `concurrency` tasks.
pub(crate) fn rocksdb_ceiling(
    wallets: usize,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let system = actix_rt::System::new();
    system.block_on(async move {
        let store = Arc::new(RocksStore::open(
            dir.path(),
            RocksOptions::with_expiry(Arc::new(|_| false)),
        )?);
        let metrics = EngineMetrics::register(&prometheus::Registry::new())?;
        let config = CommitConfig {
            queue_capacity: 65_536,
            group_max: 8_192,
            durability: Durability::Sync,
            buffered_sync_interval: Duration::from_millis(200),
        };
        let (queue, writer) = CommitWriter::start(store, config, metrics)?;
        // Real encodings of a wallet and of a debit's ledger entry.
        let samples: Vec<(Wallet, Vec<u8>, Vec<u8>)> = (0..wallets)
            .map(|_| {
                let spec = funded_wallet();
                let (wallet, _) =
                    Wallet::open(WalletId::generate(1), TxnId::generate(1), spec, None, 1)
                        .expect("opens");
                let entry = wallet
                    .apply(TxnId::generate(2), &debit(), None, 2)
                    .expect("applies");
                let (wallet_value, entry_value) = (codec::encode(&wallet), codec::encode(&entry));
                (wallet, wallet_value, entry_value)
            })
            .collect();
        let started = Instant::now();
        let tasks = (0..concurrency).map(|task| {
            let (queue, samples) = (&queue, &samples);
            async move {
                let mut latencies = Vec::new();
                let mut next = task;
                let mut seq = 2u64 + task as u64 * 1_000_000_000;
                while started.elapsed() < duration {
                    let (wallet, wallet_value, entry_value) = &samples[next % samples.len()];
                    next = next.wrapping_mul(31).wrapping_add(17);
                    seq += 1;
                    let ops = vec![
                        WriteOp::Put {
                            cf: Cf::Wallets,
                            key: wallet.id.as_str().as_bytes().to_vec(),
                            value: wallet_value.clone(),
                        },
                        WriteOp::Put {
                            cf: Cf::Ledger,
                            key: keys::ledger(&wallet.id, seq),
                            value: entry_value.clone(),
                        },
                    ];
                    let (sender, receiver) = tokio::sync::oneshot::channel();
                    let t0 = Instant::now();
                    queue.submit(CommitRequest {
                        epoch: queue.epoch(),
                        ops,
                        done: Box::new(move |outcome| {
                            let _ = sender.send(outcome);
                        }),
                    });
                    if matches!(receiver.await, Ok(Ok(()))) {
                        latencies.push(t0.elapsed().as_micros() as u32);
                    }
                }
                latencies
            }
        });
        let outcomes = futures_util::future::join_all(tasks).await;
        let elapsed = started.elapsed();
        writer.stop();
        let latencies = outcomes.into_iter().flatten().collect();
        Ok(Measurement::new(
            "rocksdb-ceiling",
            latencies,
            0,
            elapsed,
            rss_mib(std::process::id()),
        ))
    })
}
