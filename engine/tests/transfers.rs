//! Transfers over a real RocksDB: legs split and applied once, a refused
//! leg refunded, keys replayed, and a crash after each step of the protocol
//! (writes stop landing, the engine is dropped and reopened) driven to the
//! end by the recovery at start, with value conserved and verify clean.

mod support;

use engine::transfers::{TransferAmount, TransferState};
use engine::{
    Command, Credits, Currency, Engine, EngineConfig, ManualClock, NewWallet, TransferSpec,
    WalletId,
};
use rust_decimal::Decimal;
use std::sync::Arc;
use support::Faults;

const NOW: i64 = 1_700_000_000_000;

fn credits(text: &str) -> Credits {
    Credits::parse(text).expect("valid")
}

fn open(dir: &std::path::Path, faults: Option<&Faults>) -> Engine {
    let clock = Arc::new(ManualClock::new(NOW));
    let registry = prometheus::Registry::new();
    Engine::open_layered(
        EngineConfig::small(dir),
        clock,
        &registry,
        faults.map(Faults::layer),
    )
    .expect("opens")
}

async fn wallet(engine: &Engine, paid: &str, granted: &str) -> WalletId {
    let spec = NewWallet {
        external_customer_id: "cus".into(),
        currency: Currency::USD,
        rate_amount: Decimal::ONE,
        paid_credits: credits(paid),
        granted_credits: credits(granted),
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

async fn total(engine: &Engine, id: &WalletId) -> Credits {
    engine.wallet(id).await.expect("wallet").total().total()
}

fn spec(from: &WalletId, to: &WalletId, fee: &WalletId, amount: &str) -> TransferSpec {
    TransferSpec {
        from: from.clone(),
        to: to.clone(),
        amount: TransferAmount::Credits(credits(amount)),
        fee: Some(("5".parse().expect("percent"), fee.clone())),
        metadata: vec![("reason".into(), "test".into())],
    }
}

fn assert_clean(engine: &Engine) {
    let report = engine.verify().expect("verifies");
    assert!(report.is_clean(), "{:?}", report.mismatches);
}

#[actix_rt::test]
async fn a_transfer_moves_paid_credits_with_its_fee_and_replays_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(dir.path(), None);
    let (a, b, f) = (
        wallet(&engine, "100", "5").await,
        wallet(&engine, "0", "0").await,
        wallet(&engine, "0", "0").await,
    );
    let (done, replayed) = engine
        .transfer(spec(&a, &b, &f, "10"), Some("t-1".into()))
        .await
        .expect("transfers");
    assert!(!replayed);
    assert_eq!(done.state, TransferState::Completed);
    assert_eq!(done.applied.len(), 3);
    assert_eq!(
        total(&engine, &a).await,
        credits("95"),
        "granted credits stay"
    );
    assert_eq!(
        engine.wallet(&a).await.expect("a").balance.granted,
        credits("5")
    );
    assert_eq!(total(&engine, &b).await, credits("9.5"));
    assert_eq!(total(&engine, &f).await, credits("0.5"));
    // The same request with the key: the same transfer, nothing moved again.
    let (again, replayed) = engine
        .transfer(spec(&a, &b, &f, "10"), Some("t-1".into()))
        .await
        .expect("replays");
    assert!(replayed);
    assert_eq!(again.id, done.id);
    assert_eq!(total(&engine, &a).await, credits("95"));
    // Another request with the key: refused.
    let reused = engine
        .transfer(spec(&a, &b, &f, "11"), Some("t-1".into()))
        .await;
    assert!(
        matches!(reused, Err(engine::Error::IdempotencyKeyReused)),
        "{reused:?}"
    );
    // Paid credits only: 90 paid left, 95 in all.
    let short = engine.transfer(spec(&a, &b, &f, "91"), None).await;
    assert!(
        matches!(
            short,
            Err(engine::Error::Rejected(
                engine::WalletError::InsufficientCredits { .. }
            ))
        ),
        "{short:?}"
    );
    assert_clean(&engine);
    engine.shutdown();
}

#[actix_rt::test]
async fn a_refused_receiving_leg_is_refunded_and_the_transfer_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(dir.path(), None);
    let (a, b, f) = (
        wallet(&engine, "100", "0").await,
        wallet(&engine, "0", "0").await,
        wallet(&engine, "0", "0").await,
    );
    engine
        .execute(&b, Command::Terminate, None)
        .await
        .expect("terminated");
    let (failed, _) = engine
        .transfer(spec(&a, &b, &f, "10"), None)
        .await
        .expect("ends");
    assert_eq!(failed.state, TransferState::Failed);
    assert!(failed.failure.is_some());
    assert_eq!(total(&engine, &a).await, credits("100"));
    assert_eq!(total(&engine, &f).await, credits("0"));
    // A terminated fee wallet: the transfer completes, the fee goes back.
    let c = wallet(&engine, "0", "0").await;
    engine
        .execute(&f, Command::Terminate, None)
        .await
        .expect("terminated");
    let (done, _) = engine
        .transfer(spec(&a, &c, &f, "10"), None)
        .await
        .expect("ends");
    assert_eq!(done.state, TransferState::Completed);
    assert_eq!(total(&engine, &a).await, credits("90.5"));
    assert_eq!(total(&engine, &c).await, credits("9.5"));
    assert_clean(&engine);
    engine.shutdown();
}

/// The protocol's writes, in order: 1 the source leg with the record, 2 the
/// destination's credit, 3 the fee's credit with the transfer's end. A crash
/// before the first, or after the first or second, leaves what the next
/// start completes or never began; after the third there is nothing left
/// to do.
#[actix_rt::test]
async fn a_crash_after_any_step_is_completed_by_the_next_start() {
    for landed in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Faults::default();
        let (a, b, f) = {
            let engine = open(dir.path(), Some(&faults));
            let ids = (
                wallet(&engine, "100", "0").await,
                wallet(&engine, "0", "0").await,
                wallet(&engine, "0", "0").await,
            );
            faults.crash_after(landed);
            let result = engine
                .transfer(spec(&ids.0, &ids.1, &ids.2, "10"), Some("k".into()))
                .await;
            // Nothing landed: refused. The source leg landed: in flight.
            match result {
                Err(_) => assert_eq!(landed, 0),
                Ok((record, _)) => {
                    assert!(landed > 0, "after {landed} writes");
                    assert_eq!(record.state, TransferState::Pending);
                }
            }
            engine.shutdown();
            // The layer's handle on the store is the last one: let it go.
            faults.inner.lock().expect("slot").take();
            ids
        };
        let engine = open(dir.path(), None);
        // Before recovery a transfer begun is in flight, never half-counted.
        let in_flight = if landed == 0 { 0 } else { 1 };
        assert_clean(&engine);
        let driven = engine.recover_transfers().await.expect("recovers");
        assert_eq!(driven, in_flight, "after {landed} writes");
        let sums = [
            total(&engine, &a).await,
            total(&engine, &b).await,
            total(&engine, &f).await,
        ];
        let expect = if landed == 0 {
            [credits("100"), credits("0"), credits("0")]
        } else {
            [credits("90"), credits("9.5"), credits("0.5")]
        };
        assert_eq!(sums, expect, "after {landed} writes");
        // The client's retry with its key: the same transfer (or, when
        // nothing landed, the transfer now made once).
        let (retried, replayed) = engine
            .transfer(spec(&a, &b, &f, "10"), Some("k".into()))
            .await
            .expect("retry");
        assert_eq!(replayed, landed > 0, "after {landed} writes");
        assert_eq!(retried.state, TransferState::Completed);
        assert_eq!(total(&engine, &a).await, credits("90"));
        assert_clean(&engine);
        engine.shutdown();
    }
}

#[actix_rt::test]
async fn concurrent_transfers_in_both_directions_conserve_every_credit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Arc::new(open(dir.path(), None));
    let (a, b, f) = (
        wallet(&engine, "1000", "0").await,
        wallet(&engine, "1000", "0").await,
        wallet(&engine, "0", "0").await,
    );
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let engine = Arc::clone(&engine);
            let (from, to) = if i % 2 == 0 {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            let f = f.clone();
            actix_rt::spawn(async move { engine.transfer(spec(&from, &to, &f, "3"), None).await })
        })
        .collect();
    for task in tasks {
        let (done, _) = task.await.expect("joined").expect("transfers");
        assert_eq!(done.state, TransferState::Completed);
    }
    // 200 fees of 0.15.
    assert_eq!(total(&engine, &f).await, credits("30"));
    let sum = total(&engine, &a)
        .await
        .checked_add(total(&engine, &b).await)
        .expect("sum");
    assert_eq!(sum, credits("1970"));
    assert_clean(&engine);
    engine.shutdown();
}

/// A receiving leg that fails while the server runs (a failed write, not a
/// crash) leaves the transfer in flight; the timer drives it once it has
/// waited long enough, without a restart or a client retry.
#[actix_rt::test]
async fn the_timer_drives_a_transfer_left_in_flight_while_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let clock = Arc::new(ManualClock::new(NOW));
    let registry = prometheus::Registry::new();
    let engine = Engine::open_layered(
        EngineConfig::small(dir.path()),
        clock.clone(),
        &registry,
        Some(faults.layer()),
    )
    .expect("opens");
    let (a, b, f) = (
        wallet(&engine, "100", "0").await,
        wallet(&engine, "0", "0").await,
        wallet(&engine, "0", "0").await,
    );
    // The source leg lands; the destination's write fails once.
    faults.crash_after(1);
    let (left, _) = engine
        .transfer(spec(&a, &b, &f, "10"), None)
        .await
        .expect("in flight, not refused");
    assert_eq!(left.state, TransferState::Pending);
    *faults.writes_left.lock().expect("slot") = None;
    assert_eq!(total(&engine, &a).await, credits("90"));
    assert_eq!(total(&engine, &b).await, credits("0"));
    assert_clean(&engine);
    // Not yet stalled: the timer leaves it to its driver.
    engine.fire_due().await.expect("pass");
    assert_eq!(total(&engine, &b).await, credits("0"));
    clock.advance(10_000);
    engine.fire_due().await.expect("pass");
    assert_eq!(total(&engine, &b).await, credits("9.5"));
    assert_eq!(total(&engine, &f).await, credits("0.5"));
    assert_clean(&engine);
    engine.shutdown();
}

/// A transfer whose destination and source were both terminated while it
/// was in flight ends `forfeited` (the source's credits went with its
/// termination), and never keeps the engine from starting.
#[actix_rt::test]
async fn a_refund_refused_by_a_terminated_source_ends_the_transfer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let clock = Arc::new(ManualClock::new(NOW));
    let registry = prometheus::Registry::new();
    let engine = Engine::open_layered(
        EngineConfig::small(dir.path()),
        clock.clone(),
        &registry,
        Some(faults.layer()),
    )
    .expect("opens");
    let (a, b) = (
        wallet(&engine, "100", "0").await,
        wallet(&engine, "0", "0").await,
    );
    let plain = TransferSpec {
        fee: None,
        ..spec(&a, &b, &b, "10")
    };
    faults.crash_after(1);
    let (left, _) = engine.transfer(plain, None).await.expect("in flight");
    assert_eq!(left.state, TransferState::Pending);
    *faults.writes_left.lock().expect("slot") = None;
    engine
        .execute(&b, Command::Terminate, None)
        .await
        .expect("terminated");
    engine
        .execute(&a, Command::Terminate, None)
        .await
        .expect("terminated");
    clock.advance(10_000);
    engine.fire_due().await.expect("pass");
    let ended = engine
        .transfer_record(&left.id)
        .expect("read")
        .expect("stored");
    assert_eq!(ended.state, TransferState::Forfeited);
    assert!(ended.failure.is_some());
    assert_eq!(engine.recover_transfers().await.expect("recovers"), 0);
    assert_clean(&engine);
    engine.shutdown();
}
