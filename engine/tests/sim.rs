//! Deterministic simulation: a seeded RNG drives wallet creation, top-ups,
//! debits and voids (with fresh, replayed and reused idempotency keys),
//! clock steps and full engine restarts over a real RocksDB, and compares
//! every answer and balance with a naive model. `engine.verify()` must stay
//! clean throughout. A failing run prints its seed; rerun it with
//! `SIM_SEED=<seed> cargo test --test sim`. `SIM_STEPS` sets the length.

use engine::money::Credits;
use engine::{
    Command, Currency, Engine, EngineConfig, Error, ManualClock, NewWallet, TxnId, WalletId,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A naive wallet: balances as mantissas at scale 9.
#[derive(Debug, Clone, Copy, Default)]
struct Model {
    paid: i128,
    granted: i128,
}

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        commit_group_max: 64,
        idempotency_ttl: Duration::from_secs(24 * 3600),
        recent_keys_max: 4,
        memtable_budget_bytes: 32 << 20,
        block_cache_bytes: 8 << 20,
        ..EngineConfig::small(dir)
    }
}

fn open(dir: &std::path::Path, clock: &ManualClock) -> Engine {
    Engine::open(
        config(dir),
        Arc::new(clock.clone()),
        &prometheus::Registry::new(),
    )
    .expect("opens")
}

fn credits(mantissa: i128) -> Credits {
    Credits::from_mantissa(mantissa).expect("in range")
}

/// The model's answer to a command: new balances, or None for a refusal.
fn decide(model: Model, command: &Command) -> Option<Model> {
    match command {
        Command::TopUp { paid, granted, .. } => Some(Model {
            paid: model.paid + paid.mantissa(),
            granted: model.granted + granted.mantissa(),
        }),
        Command::Debit { credits, .. } | Command::Void { credits, .. } => {
            let amount = credits.mantissa();
            if amount > model.paid + model.granted {
                return None;
            }
            let from_granted = amount.min(model.granted);
            Some(Model {
                paid: model.paid - (amount - from_granted),
                granted: model.granted - from_granted,
            })
        }
        // The simulation sends only the three above.
        _ => None,
    }
}

fn random_command(rng: &mut Rng) -> Command {
    let amount = |rng: &mut Rng| credits(i128::from(1 + rng.below(3_000_000_000)));
    match rng.below(3) {
        0 => Command::TopUp {
            paid: amount(rng),
            granted: if rng.below(2) == 0 {
                Credits::ZERO
            } else {
                amount(rng)
            },
            metadata: Vec::new(),
            expires_at_ms: None,
        },
        1 => Command::Debit {
            credits: amount(rng),
            metadata: vec![("model".into(), "m".into())],
            fee_type: engine::FeeType::Charge,
        },
        _ => Command::Void {
            credits: amount(rng),
            metadata: Vec::new(),
            lot: None,
        },
    }
}

#[actix_rt::test]
async fn simulation_agrees_with_a_model_across_restarts() {
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
                | 1
        });
    let steps: usize = std::env::var("SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    eprintln!("simulation seed {seed} (rerun with SIM_SEED={seed})");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(1_700_000_000_000);
    let mut engine = open(dir.path(), &clock);
    let mut wallets: Vec<(WalletId, Model)> = Vec::new();
    // (wallet index, key) → (the command it was used with, its transaction).
    let mut keys: HashMap<(usize, String), (Command, TxnId)> = HashMap::new();
    let (mut restarts, mut replays, mut reuses, mut refusals) = (0, 0, 0, 0);
    for step in 0..steps {
        let roll = rng.below(100);
        if wallets.is_empty() || roll < 4 {
            let paid = i128::from(rng.below(5_000_000_000));
            let spec = NewWallet {
                external_customer_id: format!("c{}", rng.below(5)),
                currency: Currency::parse("USD").expect("known"),
                rate_amount: rust_decimal::Decimal::ONE,
                paid_credits: credits(paid),
                granted_credits: Credits::ZERO,
                status: engine::WalletStatus::Active,
                terms: engine::TermsSpec::default(),
            };
            let created = engine.create_wallet(spec, None).await.expect("create");
            wallets.push((created.wallet.id, Model { paid, granted: 0 }));
            continue;
        }
        if roll < 7 {
            engine.shutdown();
            drop(engine);
            engine = open(dir.path(), &clock);
            restarts += 1;
            let report = engine.verify().expect("verify");
            assert!(
                report.is_clean(),
                "seed {seed} step {step}: {:?}",
                report.mismatches
            );
            continue;
        }
        if roll < 12 {
            clock.advance(i64::try_from(rng.below(60_000)).unwrap_or(0));
            continue;
        }
        let index = rng.below(wallets.len() as u64) as usize;
        let (id, model) = wallets[index].clone();
        let mut command = random_command(&mut rng);
        let known: Vec<&(usize, String)> = keys.keys().filter(|(w, _)| *w == index).collect();
        let key = match rng.below(10) {
            0..=3 => None,
            4..=6 => Some(format!("k{step}")),
            _ if known.is_empty() => Some(format!("k{step}")),
            _ => {
                let reused = known[rng.below(known.len() as u64) as usize].1.clone();
                if rng.below(2) == 0 {
                    command = keys[&(index, reused.clone())].0.clone();
                }
                Some(reused)
            }
        };
        let previous = key
            .as_ref()
            .and_then(|key| keys.get(&(index, key.clone())).cloned());
        let result = engine.execute(&id, command.clone(), key.clone()).await;
        match (previous, result) {
            (Some((original, txn)), Ok(receipt)) => {
                assert_eq!(
                    original, command,
                    "seed {seed} step {step}: a reused key was applied"
                );
                assert!(receipt.replayed, "seed {seed} step {step}");
                assert_eq!(receipt.entry.txn_id, txn, "seed {seed} step {step}");
                replays += 1;
            }
            (Some((original, _)), Err(Error::IdempotencyKeyReused)) => {
                assert_ne!(
                    original, command,
                    "seed {seed} step {step}: a replay was refused"
                );
                reuses += 1;
            }
            (None, Ok(receipt)) => {
                let next = decide(model, &command);
                let next = next.unwrap_or_else(|| {
                    panic!("seed {seed} step {step}: engine applied what the model refuses")
                });
                assert!(!receipt.replayed);
                assert_eq!(
                    receipt.entry.after.paid.mantissa(),
                    next.paid,
                    "seed {seed} step {step}"
                );
                assert_eq!(
                    receipt.entry.after.granted.mantissa(),
                    next.granted,
                    "seed {seed} step {step}"
                );
                wallets[index].1 = next;
                if let Some(key) = key {
                    keys.insert((index, key), (command, receipt.entry.txn_id.clone()));
                }
            }
            (None, Err(Error::Rejected(_))) => {
                assert!(
                    decide(model, &command).is_none(),
                    "seed {seed} step {step}: engine refused what the model accepts"
                );
                refusals += 1;
            }
            (previous, other) => panic!(
                "seed {seed} step {step}: unexpected {other:?} (key known: {})",
                previous.is_some()
            ),
        }
    }
    for (id, model) in &wallets {
        let wallet = engine.wallet(id).await.expect("wallet");
        assert_eq!(wallet.balance.paid.mantissa(), model.paid, "seed {seed}");
        assert_eq!(
            wallet.balance.granted.mantissa(),
            model.granted,
            "seed {seed}"
        );
    }
    let report = engine.verify().expect("verify");
    assert!(report.is_clean(), "seed {seed}: {:?}", report.mismatches);
    eprintln!(
        "simulation: {steps} steps, {} wallets, {restarts} restarts, {replays} replays, {reuses} key reuses refused, {refusals} refusals, {} entries verified",
        wallets.len(),
        report.entries
    );
    engine.shutdown();
}
