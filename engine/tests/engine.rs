//! Engine tests over a real RocksDB in a temp folder, inside an actix
//! System: storage write failures (injected through the store layer hook),
//! idempotency expiry on a manual clock, and pipelined commits.

mod support;

use engine::store::{ReadView, WriteOp};
use engine::{Command, Credits, Currency, Engine, EngineConfig, Error, ManualClock, NewWallet};
use std::sync::Arc;
use std::time::Duration;
use support::Faults;

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig::small(dir)
}

fn credits(text: &str) -> Credits {
    Credits::parse(text).expect("valid")
}

fn debit(amount: &str) -> Command {
    Command::Debit {
        credits: credits(amount),
        metadata: Vec::new(),
        fee_type: engine::FeeType::Charge,
    }
}

async fn new_wallet(engine: &Engine, paid: &str) -> engine::WalletId {
    let spec = NewWallet {
        external_customer_id: "cus".into(),
        currency: Currency::parse("USD").expect("known"),
        rate_amount: rust_decimal::Decimal::ONE,
        paid_credits: credits(paid),
        granted_credits: Credits::ZERO,
        status: engine::WalletStatus::Active,
        terms: engine::TermsSpec::default(),
    };
    engine
        .create_wallet(spec, None)
        .await
        .expect("created")
        .wallet
        .id
}

#[actix_rt::test]
async fn a_failed_write_fails_its_requests_and_state_is_reloaded_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let layer = faults.layer();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let registry = prometheus::Registry::new();
    let engine =
        Engine::open_layered(config(dir.path()), clock, &registry, Some(layer)).expect("opens");
    let id = new_wallet(&engine, "10").await;

    // Several pipelined debits; the first write fails.
    faults.fail_next_writes(1);
    let attempts = (0..6).map(|i| engine.execute(&id, debit("1"), Some(format!("k{i}"))));
    let results = futures_util::future::join_all(attempts).await;
    let failed = results
        .iter()
        .filter(|result| matches!(result, Err(Error::Unavailable(_))))
        .count();
    let succeeded = results.iter().filter(|result| result.is_ok()).count();
    assert!(
        failed >= 1,
        "the failed group answered with errors: {results:?}"
    );
    assert_eq!(failed + succeeded, results.len(), "{results:?}");

    // Memory is not ahead of disk: balance and sequence count only durable debits.
    let wallet = engine.wallet(&id).await.expect("wallet");
    let expected_paid = 10 - succeeded as i64;
    assert_eq!(wallet.balance.paid, credits(&expected_paid.to_string()));
    assert_eq!(wallet.seq, 1 + succeeded as u64);
    let page = engine.transactions(&id, None, 100).expect("ledger");
    assert_eq!(page.entries.len() as u64, wallet.seq);

    // Serving again; a key whose request failed was not recorded and applies now.
    let failed_key = results
        .iter()
        .position(|result| result.is_err())
        .map(|i| format!("k{i}"))
        .expect("one failed");
    let retry = engine
        .execute(&id, debit("1"), Some(failed_key))
        .await
        .expect("retry succeeds");
    assert!(!retry.replayed);
    assert_eq!(retry.entry.seq, wallet.seq + 1);
    let report = engine.verify().expect("verifies");
    assert!(report.is_clean(), "{:?}", report.mismatches);
    assert_eq!(report.wallets, 1);
    engine.shutdown();
}

#[actix_rt::test]
async fn idempotency_keys_expire_after_their_ttl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let registry = prometheus::Registry::new();
    let engine = Engine::open(config(dir.path()), clock.clone(), &registry).expect("opens");
    let id = new_wallet(&engine, "10").await;
    let first = engine
        .execute(&id, debit("1"), Some("once".into()))
        .await
        .expect("debit");
    let replay = engine
        .execute(&id, debit("1"), Some("once".into()))
        .await
        .expect("replay");
    assert!(replay.replayed);
    assert_eq!(replay.entry.txn_id, first.entry.txn_id);
    // 59 minutes later the key still guards; after the hour it is free again.
    clock.advance(59 * 60 * 1000);
    assert!(
        engine
            .execute(&id, debit("1"), Some("once".into()))
            .await
            .expect("replay")
            .replayed
    );
    clock.advance(2 * 60 * 1000);
    engine.compact().expect("compacts");
    let fresh = engine
        .execute(&id, debit("1"), Some("once".into()))
        .await
        .expect("applies");
    assert!(!fresh.replayed);
    assert_eq!(fresh.entry.seq, 3);
    engine.shutdown();
}

#[actix_rt::test]
async fn pipelined_debits_on_one_wallet_each_get_their_own_durable_reply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = Engine::open(config(dir.path()), clock, &registry).expect("opens");
    let id = new_wallet(&engine, "100").await;
    let debits = (0..100).map(|_| engine.execute(&id, debit("0.5"), None));
    let results = futures_util::future::join_all(debits).await;
    let mut seqs: Vec<u64> = results
        .into_iter()
        .map(|r| r.expect("debit").entry.seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (2..=101).collect::<Vec<u64>>());
    let wallet = engine.wallet(&id).await.expect("wallet");
    assert_eq!(wallet.balance.paid, credits("50"));
    // Replies were sent only after durable writes, so the ledger on disk has them all.
    assert_eq!(
        engine
            .transactions(&id, None, 1000)
            .expect("ledger")
            .entries
            .len(),
        101
    );
    engine.shutdown();
}

#[actix_rt::test]
async fn verify_finds_a_balance_that_disagrees_with_its_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let faults = Faults::default();
    let layer = faults.layer();
    let engine =
        Engine::open_layered(config(dir.path()), clock, &registry, Some(layer)).expect("opens");
    let id = new_wallet(&engine, "10").await;
    engine
        .execute(&id, debit("2.5"), Some("k".into()))
        .await
        .expect("debit");
    let clean = engine.verify().expect("verifies");
    assert!(clean.is_clean(), "{:?}", clean.mismatches);
    assert_eq!(
        (
            clean.wallets,
            clean.entries,
            clean.idempotency_records,
            clean.index_entries
        ),
        (1, 2, 1, 1)
    );

    // Corrupt the stored wallet behind the engine's back. It is the
    // checkpoint of the opening (a debit writes only its entry): 10 paid
    // there, stored as 8.5.
    let store = faults.inner();
    let key = engine::store::keys::wallet(&id);
    let mut wallet: engine::Wallet = engine::store::codec::decode(
        "wallets",
        &store
            .get(engine::store::Cf::Wallets, &key)
            .expect("get")
            .expect("present"),
    )
    .expect("decodes");
    assert_eq!(wallet.seq, 1);
    wallet.balance.paid = credits("8.5");
    let op = WriteOp::Put {
        cf: engine::store::Cf::Wallets,
        key,
        value: engine::store::codec::encode(&wallet),
    };
    store
        .write(&[std::slice::from_ref(&op)], true)
        .expect("writes");
    let report = engine.verify().expect("verifies");
    assert_eq!(report.mismatches.len(), 1, "{:?}", report.mismatches);
    let mismatch = &report.mismatches[0];
    assert_eq!(mismatch.wallet.as_ref(), Some(&id));
    assert!(
        mismatch.detail.contains("paid 8.5") && mismatch.detail.contains("paid 10 "),
        "{}",
        mismatch.detail
    );
    engine.shutdown();
}

/// Format 3 stores a wallet's state as a checkpoint at most every 128
/// entries; a plain debit writes only its entry. Loading replays the entries
/// after the checkpoint, so a restart shows exactly the durable state, and
/// verify accepts a checkpoint behind the ledger.
#[actix_rt::test]
async fn wallet_state_is_a_checkpoint_plus_the_entries_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let id = {
        let registry = prometheus::Registry::new();
        let engine = Engine::open(config(dir.path()), clock.clone(), &registry).expect("opens");
        let id = new_wallet(&engine, "1000").await;
        for _ in 0..300 {
            engine.execute(&id, debit("1"), None).await.expect("debit");
        }
        let report = engine.verify().expect("verifies");
        assert!(report.is_clean(), "{:?}", report.mismatches);
        engine.shutdown();
        id
    };
    let store = engine::store::rocks::RocksStore::open(
        dir.path(),
        engine::store::rocks::RocksOptions::with_expiry(Arc::new(|_: &[u8]| false)),
    )
    .expect("opens");
    let stored: engine::Wallet = engine::store::codec::decode(
        "wallets",
        &store
            .get(
                engine::store::Cf::Wallets,
                &engine::store::keys::wallet(&id),
            )
            .expect("get")
            .expect("present"),
    )
    .expect("decodes");
    // 301 entries: checkpoints at 1, 129 and 257; the last 44 are replayed.
    assert_eq!(stored.seq, 257);
    drop(store);

    let registry = prometheus::Registry::new();
    let engine = Engine::open(config(dir.path()), clock, &registry).expect("reopens");
    let wallet = engine.wallet(&id).await.expect("wallet");
    assert_eq!(wallet.seq, 301);
    assert_eq!(wallet.balance.paid, credits("700"));
    let listed = engine
        .list_wallets(&engine::engine::WalletFilter::default(), None, 10)
        .expect("lists");
    assert_eq!(listed.wallets[0].balance.paid, credits("700"));
    assert_eq!(listed.wallets[0].seq, 301);
    let next = engine.execute(&id, debit("1"), None).await.expect("debit");
    assert_eq!(next.entry.seq, 302);
    assert_eq!(next.entry.after.paid, credits("699"));
    engine.shutdown();
}

/// Issue 10: at most `actors_resident_max` wallet actors stay in memory;
/// past it the least recently used idle ones leave (CLOCK), and a wallet
/// whose actor left is reloaded with every durable change, also while other
/// requests race the eviction.
#[actix_rt::test]
async fn resident_actors_are_capped_and_evicted_wallets_reload_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let registry = prometheus::Registry::new();
    let mut settings = config(dir.path());
    settings.actors_resident_max = 8;
    let engine = Engine::open(settings, clock, &registry).expect("opens");
    let mut wallets = Vec::new();
    for _ in 0..60 {
        wallets.push(new_wallet(&engine, "100").await);
    }
    // A round of concurrent debits over all 60 wallets (evictions race the
    // requests), then two rounds one wallet at a time: every round reloads
    // wallets the previous one evicted.
    let debits = wallets
        .iter()
        .map(|id| engine.execute(id, debit("1"), Some("r0".into())));
    for result in futures_util::future::join_all(debits).await {
        result.expect("debit");
    }
    for round in 1..3 {
        for id in &wallets {
            engine
                .execute(id, debit("1"), Some(format!("r{round}")))
                .await
                .expect("debit");
        }
    }
    let gauge = |name: &str| -> f64 {
        registry
            .gather()
            .iter()
            .find(|family| family.name() == name)
            .and_then(|family| {
                family.get_metric().first().map(|metric| {
                    if family.name().ends_with("_total") {
                        metric.get_counter().get_value()
                    } else {
                        metric.get_gauge().get_value()
                    }
                })
            })
            .unwrap_or(f64::NAN)
    };
    // Each shard holds at most its share (4) plus one eviction batch in
    // flight; nowhere near the 60 wallets touched. Evictions are messages
    // the shard threads handle in their own time: wait for them (a loaded
    // machine may take a moment), then check.
    let bound = 2.0 * (4.0 + 16.0);
    for _ in 0..500 {
        if gauge("tally_wallet_actors_resident") <= bound {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let resident = gauge("tally_wallet_actors_resident");
    assert!(resident <= bound, "{resident} resident");
    let evictions = gauge("tally_wallet_actor_evictions_total");
    assert!(evictions >= 40.0, "{evictions} evictions");
    for id in &wallets {
        let wallet = engine.wallet(id).await.expect("wallet");
        assert_eq!(wallet.balance.paid, credits("97"), "{id}");
        assert_eq!(wallet.seq, 4);
        // A replay after eviction still finds the key (now on disk).
        let replay = engine
            .execute(id, debit("1"), Some("r0".into()))
            .await
            .expect("replay");
        assert!(replay.replayed);
    }
    let report = engine.verify().expect("verifies");
    assert!(report.is_clean(), "{:?}", report.mismatches);
    engine.shutdown();
}

#[actix_rt::test]
async fn a_failed_write_releases_its_event_ids_so_later_events_stay_listable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let layer = faults.layer();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let registry = prometheus::Registry::new();
    let engine =
        Engine::open_layered(config(dir.path()), clock, &registry, Some(layer)).expect("opens");
    let first = new_wallet(&engine, "1").await;
    // The creation's write fails: its wallet.created id was handed out and
    // must not hold the event list back.
    faults.fail_next_writes(1);
    let spec = NewWallet {
        external_customer_id: "cus_lost".into(),
        currency: Currency::parse("USD").expect("known"),
        rate_amount: rust_decimal::Decimal::ONE,
        paid_credits: credits("1"),
        granted_credits: Credits::ZERO,
        status: engine::WalletStatus::Active,
        terms: engine::TermsSpec::default(),
    };
    assert!(matches!(
        engine.create_wallet(spec, None).await,
        Err(Error::Unavailable(_))
    ));
    let second = new_wallet(&engine, "1").await;
    let (events, next) = engine.events(None, None, 100).expect("events");
    assert!(next.is_none());
    let listed: Vec<(u64, &engine::WalletId)> = events
        .iter()
        .map(|event| (event.id, &event.wallet_id))
        .collect();
    assert_eq!(listed, vec![(1, &first), (3, &second)]);
    engine.shutdown();
}

#[actix_rt::test]
async fn verify_finds_a_payment_that_disagrees_with_its_deposit_or_charge_record() {
    use engine::payments::{keys, ChargeOutcome, Payment, PaymentStatus, Unsettled};
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let faults = Faults::default();
    let layer = faults.layer();
    let engine =
        Engine::open_layered(config(dir.path()), clock, &registry, Some(layer)).expect("opens");
    let begin = |amount: &str| {
        let spec = engine::PaymentSpec {
            user: "payer".into(),
            method_id: engine::PaymentMethodId::generate(1),
            amount: amount.parse().expect("amount"),
            reason: None,
            distribution: Vec::new(),
            provider: "test".into(),
        };
        let charge = Unsettled {
            token: "pm_card_visa".into(),
            amount_minor: 0,
            currency: "USD".into(),
            charge_key: String::new(),
            next_check_ms: 0,
            attempts: 0,
        };
        engine.begin_payment(spec, charge, None, None)
    };
    let (paid, _, _) = begin("12.50").await.expect("begins");
    let paid = engine
        .settle_charge(
            &paid.id,
            ChargeOutcome::Succeeded {
                reference: "ch_1".into(),
            },
        )
        .await
        .expect("settles");
    assert_eq!(paid.status, PaymentStatus::Completed);
    let (waiting, _, _) = begin("3.00").await.expect("begins");
    let clean = engine.verify().expect("verifies");
    assert!(clean.is_clean(), "{:?}", clean.mismatches);

    // Behind the engine's back: the completed payment says 13.50 (its
    // deposit credited 12.50), and the processing one loses its charge
    // record (a crash could never reconcile it).
    let store = faults.inner();
    let key = keys::payment(&paid.id);
    let mut stored: Payment = engine::store::codec::decode(
        "payments",
        &store
            .get(engine::store::Cf::Payments, &key)
            .expect("get")
            .expect("present"),
    )
    .expect("decodes");
    stored.amount = "13.50".parse().expect("amount");
    let ops = [
        WriteOp::Put {
            cf: engine::store::Cf::Payments,
            key,
            value: engine::store::codec::encode(&stored),
        },
        WriteOp::Delete {
            cf: engine::store::Cf::Payments,
            key: keys::unsettled(&waiting.id),
        },
    ];
    store.write(&[&ops[..]], true).expect("writes");
    let report = engine.verify().expect("verifies");
    let found: Vec<String> = report.mismatches.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found
            .iter()
            .any(|m| m.contains("its deposit credited Some(12.5)")),
        "{found:?}"
    );
    assert!(found.iter().any(|m| m.contains("invoice")), "{found:?}");
    assert!(
        found.iter().any(|m| m.contains("unsettled = false")),
        "{found:?}"
    );
    engine.shutdown();
}
