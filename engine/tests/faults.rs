//! Storage failures that land in the middle of an actor's turn, over a real
//! RocksDB: the store layer hook lets a test pause a wallet actor inside its
//! idempotency lookup (a read) or the writer inside a write, and make writes
//! fail, so each interleaving of issue 9 is reproduced exactly, not by luck.

mod support;

use engine::engine::{BatchItem, Target};
use engine::{
    Command, Credits, Currency, Engine, EngineConfig, Error, ManualClock, NewWallet, WalletId,
};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use support::Faults;

struct Rig {
    engine: Arc<Engine>,
    faults: Faults,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let config = EngineConfig::small(dir.path());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let registry = prometheus::Registry::new();
    let engine =
        Engine::open_layered(config, clock, &registry, Some(faults.layer())).expect("opens");
    Rig {
        engine: Arc::new(engine),
        faults,
        _dir: dir,
    }
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

fn spec(paid: &str) -> NewWallet {
    NewWallet {
        external_customer_id: "cus".into(),
        currency: Currency::parse("USD").expect("known"),
        rate_amount: rust_decimal::Decimal::ONE,
        paid_credits: credits(paid),
        granted_credits: Credits::ZERO,
        status: engine::WalletStatus::Active,
        terms: engine::TermsSpec::default(),
    }
}

async fn new_wallet(engine: &Engine, paid: &str) -> WalletId {
    engine
        .create_wallet(spec(paid), None)
        .await
        .expect("created")
        .wallet
        .id
}

fn item(wallet: &WalletId, amount: &str, key: Option<&str>) -> BatchItem {
    BatchItem {
        target: Target::Wallet(wallet.clone()),
        command: debit(amount),
        key: key.map(str::to_owned),
    }
}

/// Waits on a std channel without blocking the test's runtime thread.
async fn recv(receiver: mpsc::Receiver<()>) {
    tokio::task::spawn_blocking(move || receiver.recv_timeout(Duration::from_secs(30)))
        .await
        .expect("joined")
        .expect("signalled");
}

/// The wallet, its ledger and a clean verify: nothing undurable is visible.
async fn assert_consistent(engine: &Engine, id: &WalletId, paid: &str, seq: u64) {
    let wallet = engine.wallet(id).await.expect("wallet");
    assert_eq!(wallet.balance.paid, credits(paid), "balance");
    assert_eq!(wallet.seq, seq, "sequence");
    let page = engine.transactions(id, None, 100).expect("ledger");
    assert_eq!(page.entries.len() as u64, seq);
    let report = engine.verify().expect("verifies");
    assert!(report.is_clean(), "{:?}", report.mismatches);
}

fn unavailable(result: &Result<engine::Receipt, Error>) -> bool {
    matches!(result, Err(Error::Unavailable(_)))
}

/// Issue 9, defect 2: a write fails while a batch is being decided. Before
/// the fix the actor reloaded from disk in the middle of the batch, so later
/// jobs reused earlier jobs' sequence numbers under the new epoch.
#[actix_rt::test]
async fn a_failure_in_the_middle_of_a_batch_fails_the_whole_batch() {
    let rig = rig();
    let engine = Arc::clone(&rig.engine);
    let id = new_wallet(&engine, "10").await;

    // The batch's second job reads its key from disk; there it waits until
    // another write (a wallet creation) has failed and bumped the epoch.
    let (paused_tx, paused) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel::<()>();
    *rig.faults.on_lookup.lock().expect("hook") = Some(Box::new(move || {
        let _ = paused_tx.send(());
        let _ = resume_rx.recv_timeout(Duration::from_secs(30));
    }));
    let batch_engine = Arc::clone(&engine);
    let batch_id = id.clone();
    let batch = actix_rt::spawn(async move {
        let items = vec![
            item(&batch_id, "1", None),
            item(&batch_id, "2", Some("second")),
            item(&batch_id, "3", None),
        ];
        batch_engine.execute_batch(items).await
    });
    recv(paused).await;
    rig.faults.fail_next_writes(1);
    let failed = engine.create_wallet(spec("1"), None).await;
    assert!(matches!(failed, Err(Error::Unavailable(_))), "{failed:?}");
    resume.send(()).expect("resume");

    let results = batch.await.expect("batch");
    assert!(results.iter().all(unavailable), "{results:?}");
    assert_consistent(&engine, &id, "10", 1).await;

    // The wallet serves again, from what disk holds.
    let again = engine
        .execute(&id, debit("4"), Some("second".into()))
        .await
        .expect("debit");
    assert_eq!(again.entry.seq, 2);
    assert_consistent(&engine, &id, "6", 2).await;
    engine.shutdown();
}

/// Issue 9, defect 3: when a batch's commit fails, results decided against
/// its staged state (a replay of a staged key, a refusal) fail with it.
#[actix_rt::test]
async fn a_failed_batch_commit_fails_its_replays_and_refusals_too() {
    let rig = rig();
    let engine = Arc::clone(&rig.engine);
    let id = new_wallet(&engine, "12").await;

    rig.faults.fail_next_writes(1);
    let results = engine
        .execute_batch(vec![
            item(&id, "1", Some("k")),
            item(&id, "1", Some("k")),
            item(&id, "10", None),
            item(&id, "5", None),
        ])
        .await;
    // Before the fix: 503, then "201 replayed" of an entry that was never
    // written, then 503, then a false 402.
    assert!(results.iter().all(unavailable), "{results:?}");
    assert_consistent(&engine, &id, "12", 1).await;

    let retried = engine
        .execute_batch(vec![item(&id, "1", Some("k")), item(&id, "1", Some("k"))])
        .await;
    let first = retried[0].as_ref().expect("applied");
    let second = retried[1].as_ref().expect("replayed");
    assert!(!first.replayed && second.replayed);
    assert_eq!(first.entry.txn_id, second.entry.txn_id);
    assert_consistent(&engine, &id, "11", 2).await;
    engine.shutdown();
}

/// Issue 9, defect 4: the wallet's pending write fails after the actor
/// decided the next request but before it replied. Before the fix the
/// actor saw nothing pending and answered 402 from the state the failed
/// write had lost.
#[actix_rt::test]
async fn no_reply_leaves_on_state_a_failed_write_lost() {
    let rig = rig();
    let engine = Arc::clone(&rig.engine);
    let id = new_wallet(&engine, "10").await;

    // The writer holds the debit of 8 until the actor is deciding the next
    // request; then that write fails.
    let (open_gate, gate) = mpsc::channel::<()>();
    let (in_write_tx, in_write) = mpsc::channel();
    *rig.faults.on_write.lock().expect("hook") = Some(Box::new(move || {
        let _ = in_write_tx.send(());
        let _ = gate.recv_timeout(Duration::from_secs(30));
    }));
    rig.faults.fail_next_writes(1);
    let (w1_failed, w1_failed_rx) = mpsc::channel::<()>();
    *rig.faults.on_lookup.lock().expect("hook") = Some(Box::new(move || {
        let _ = open_gate.send(());
        let _ = w1_failed_rx.recv_timeout(Duration::from_secs(30));
    }));

    let first_engine = Arc::clone(&engine);
    let first_id = id.clone();
    let first =
        actix_rt::spawn(async move { first_engine.execute(&first_id, debit("8"), None).await });
    // The first debit is staged and in the writer before the second is sent.
    recv(in_write).await;
    let second_engine = Arc::clone(&engine);
    let second_id = id.clone();
    let second = actix_rt::spawn(async move {
        second_engine
            .execute(&second_id, debit("5"), Some("k".into()))
            .await
    });
    let first = first.await.expect("joined");
    assert!(unavailable(&first), "{first:?}");
    w1_failed.send(()).expect("resume the actor");
    let second = second.await.expect("joined");
    assert!(
        unavailable(&second),
        "a refusal based on lost state: {second:?}"
    );
    assert_consistent(&engine, &id, "10", 1).await;

    let retried = engine
        .execute(&id, debit("5"), Some("k".into()))
        .await
        .expect("now it applies");
    assert_eq!(retried.entry.after.paid, credits("5"));
    engine.shutdown();
}
