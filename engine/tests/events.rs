//! Engine tests of the event list over a real RocksDB: paging while many
//! wallets write at once misses no event (ids are handed out before their
//! commit, and commits land out of id order).

use engine::{
    BatchItem, Command, Credits, Currency, Engine, EngineConfig, ManualClock, NewWallet, Target,
    WalletId,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        commit_queue_capacity: 8192,
        // Every debit then records a wallet_transaction.created event.
        webhooks_enabled: true,
        ..EngineConfig::small(dir)
    }
}

fn credits(text: &str) -> Credits {
    Credits::parse(text).expect("valid")
}

fn debit() -> Command {
    Command::Debit {
        credits: credits("0.001"),
        metadata: Vec::new(),
        fee_type: engine::FeeType::Charge,
    }
}

async fn new_wallet(engine: &Engine, customer: &str) -> WalletId {
    let spec = NewWallet {
        external_customer_id: customer.into(),
        currency: Currency::parse("USD").expect("known"),
        rate_amount: rust_decimal::Decimal::ONE,
        paid_credits: credits("1000000"),
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

/// Reads one page after `cursor` and returns the ids on it; the cursor
/// moves to the page's `next_cursor`, or else past its last event (what a
/// client polling the feed does at its end).
fn read_page(engine: &Engine, cursor: &mut Option<u64>, seen: &mut BTreeMap<u64, usize>) -> usize {
    let (events, next) = engine.events(None, *cursor, 500).expect("page");
    for event in &events {
        *seen.entry(event.id).or_default() += 1;
    }
    if let Some(next) = next.or_else(|| events.last().map(|event| event.id)) {
        *cursor = Some(next);
    }
    events.len()
}

/// Every stored event id, in order, read once writes have stopped.
fn every_event_id(engine: &Engine) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let (events, next) = engine.events(None, after, 1000).expect("page");
        ids.extend(events.iter().map(|event| event.id));
        match next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

#[actix_rt::test]
async fn paging_while_wallets_write_concurrently_returns_every_event_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let registry = prometheus::Registry::new();
    let engine = Arc::new(Engine::open(config(dir.path()), clock, &registry).expect("opens"));
    let mut wallets = Vec::new();
    for n in 0..6 {
        wallets.push(new_wallet(&engine, &format!("cus_{n}")).await);
    }
    let mut cursor = None;
    let mut seen = BTreeMap::new();
    read_page(&engine, &mut cursor, &mut seen);

    // Writers: long batch turns (hundreds of event ids handed out before
    // their one commit) beside single debits and new wallets on other
    // shards, whose later ids commit first.
    let writing = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for (n, wallet) in wallets.iter().enumerate() {
        let engine = Arc::clone(&engine);
        let wallet = wallet.clone();
        writers.push(actix_rt::spawn(async move {
            for round in 0..16 {
                if n % 2 == 0 {
                    let items = (0..1000)
                        .map(|_| BatchItem {
                            target: Target::Wallet(wallet.clone()),
                            command: debit(),
                            key: None,
                        })
                        .collect();
                    for result in engine.execute_batch(items).await {
                        result.expect("batch debit");
                    }
                } else {
                    let singles = (0..40).map(|_| engine.execute(&wallet, debit(), None));
                    for result in futures_util::future::join_all(singles).await {
                        result.expect("debit");
                    }
                    new_wallet(&engine, &format!("cus_{n}_{round}")).await;
                }
            }
        }));
    }
    let done = Arc::clone(&writing);
    let all_written = actix_rt::spawn(async move {
        for writer in writers {
            writer.await.expect("writer");
        }
        done.store(false, Ordering::SeqCst);
    });

    // The reader pages all along, as fast as it can.
    while writing.load(Ordering::SeqCst) {
        read_page(&engine, &mut cursor, &mut seen);
        tokio::task::yield_now().await;
    }
    all_written.await.expect("writers");
    while read_page(&engine, &mut cursor, &mut seen) > 0 {}

    let expected = every_event_id(&engine);
    assert!(expected.len() > 5_000, "{} events", expected.len());
    let missed: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|id| !seen.contains_key(id))
        .collect();
    assert!(
        missed.is_empty(),
        "{} of {} events were never returned while paging, e.g. {:?}",
        missed.len(),
        expected.len(),
        &missed[..missed.len().min(10)]
    );
    let repeated: Vec<(&u64, &usize)> = seen.iter().filter(|(_, count)| **count > 1).collect();
    assert!(repeated.is_empty(), "returned twice: {repeated:?}");
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), expected);
    engine.shutdown();
}

/// Records one delivery attempt of event `id` as settled with `status`.
async fn settle(engine: &Engine, id: u64, status: engine::DeliveryStatus) {
    let due = engine.due_events(100, &|_| false).expect("due");
    let event = due
        .iter()
        .find(|event| event.id == id)
        .expect("the event is pending");
    let mut delivery = event.delivery.clone();
    delivery.attempts += 1;
    delivery.status = status;
    engine
        .record_delivery(event, delivery)
        .await
        .expect("recorded");
}

fn listed(engine: &Engine) -> Vec<(u64, &'static str)> {
    let (events, next) = engine.events(None, None, 100).expect("events");
    assert!(next.is_none());
    events
        .iter()
        .map(|event| (event.id, event.delivery.status.as_str()))
        .collect()
}

#[actix_rt::test]
async fn compaction_prunes_settled_events_past_retention_but_never_pending_ones_or_the_newest() {
    use engine::DeliveryStatus::{Delivered, Failed};
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(1_700_000_000_000);
    let open = |registry: &prometheus::Registry| {
        Engine::open(config(dir.path()), Arc::new(clock.clone()), registry).expect("opens")
    };
    let engine = open(&prometheus::Registry::new());
    // 1 wallet.created, 2 its opening transaction; 3 a debit's transaction;
    // 4 and 5 the second wallet's.
    let first = new_wallet(&engine, "cus_a").await;
    engine.execute(&first, debit(), None).await.expect("debit");
    new_wallet(&engine, "cus_b").await;
    settle(&engine, 1, Delivered).await;
    settle(&engine, 3, Failed).await;
    settle(&engine, 4, Delivered).await;
    settle(&engine, 5, Delivered).await;
    let all = vec![
        (1, "delivered"),
        (2, "pending"),
        (3, "failed"),
        (4, "delivered"),
        (5, "delivered"),
    ];
    assert_eq!(listed(&engine), all);

    // Within the retention nothing goes.
    clock.advance(30 * 86_400_000);
    engine.compact().expect("compacts");
    assert_eq!(listed(&engine), all);

    // Past it, settled events go; the pending one stays, and so does the
    // newest, whose id the next start counts from.
    clock.advance(1_000);
    engine.compact().expect("compacts");
    assert_eq!(listed(&engine), vec![(2, "pending"), (5, "delivered")]);

    engine.shutdown();
    drop(engine);
    let engine = open(&prometheus::Registry::new());
    let third = new_wallet(&engine, "cus_c").await;
    let (events, _) = engine.events(None, Some(5), 100).expect("events");
    let fresh: Vec<(u64, &engine::WalletId)> = events
        .iter()
        .map(|event| (event.id, &event.wallet_id))
        .collect();
    assert_eq!(fresh, vec![(6, &third), (7, &third)], "ids are not reused");
    engine.shutdown();
}
