//! `Engine`: the one entry point the API (and benches, and tests) call.
//! It owns the store, the commit writer and the router, and turns each call
//! into a message to a wallet actor, a direct durable write (wallet creation),
//! or a read of durable state.

use crate::actor::{
    load_entry, load_wallet, replay_tail, Answer, BatchResults, Execute, ExecuteBatch, Inspect,
    Job, KeyCheck, Receipt, Shared, Tick, WalletActor,
};
use crate::clock::Clock;
use crate::commit::{CommitConfig, CommitRequest, CommitWriter, Durability};
use crate::error::Error;
use crate::events::{self, event_ops, Delivery, DeliveryStatus, Event, EventKind, Outbox};
use crate::idempotency::{self, IdempotencyRecord};
use crate::ids::{TxnId, WalletId};
use crate::metrics::EngineMetrics;
use crate::money::Currency;
use crate::router::Router;
use crate::store::rocks::{RocksOptions, RocksStore};
use crate::store::{codec, keys, Cf, Direction, Scan, Store, StoreError, WriteOp};
use crate::wallet::{
    deposit_credits, Command, Entry, Metadata, NewWallet, Wallet, WalletError, WalletStatus,
};
use crate::watermark::{self, Reservation, Watermark};
use actix::dev::SendError;
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

mod accounts;
mod holds;
mod invoices;
mod payment_methods;
mod payments;
mod price_book;
mod sessions;
mod transfers;
pub use holds::{CaptureRequest, HoldPage, HoldRequest, HoldView};
pub use invoices::InvoicePage;
pub use payment_methods::MethodPatch;
pub use payments::PaymentSpec;
pub use price_book::{PriceList, PriceVersionPage};
pub use sessions::SessionSpec;
pub use transfers::TransferSpec;

/// Scope of idempotency keys sent with wallet creation.
const WALLET_CREATION_SCOPE: &str = "wallets";

/// Times a request is resent after reaching an actor that had just retired.
const RETRIES_MAX: usize = 4;

/// Striped locks that serialize wallet creation per idempotency key or user.
const CREATION_LOCKS: usize = 64;

/// Plain-data engine settings; it knows no files or environment.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Folder of the RocksDB data.
    pub data_dir: PathBuf,
    /// Shard arbiters (threads) hosting wallet actors.
    pub shards: usize,
    /// When a write counts as acknowledged.
    pub durability: Durability,
    /// WAL sync period in buffered mode.
    pub buffered_sync_interval: Duration,
    /// Commit requests that may wait for the writer.
    pub commit_queue_capacity: usize,
    /// Commit requests merged into one write at most.
    pub commit_group_max: usize,
    /// Messages that may wait in one wallet actor's mailbox.
    pub mailbox_capacity: usize,
    /// A wallet actor idle this long leaves memory.
    pub actor_idle_timeout: Duration,
    /// Wallet actors kept in memory at most (0: no limit); past it the least
    /// recently used idle ones leave.
    pub actors_resident_max: usize,
    /// Idempotency records are kept at least this long.
    pub idempotency_ttl: Duration,
    /// Idempotency keys each actor keeps in memory beyond pending ones.
    pub recent_keys_max: usize,
    /// Memory all RocksDB memtables together may use.
    pub memtable_budget_bytes: usize,
    /// The RocksDB block cache shared by all column families.
    pub block_cache_bytes: usize,
    /// Currency of wallets the deposit API creates for new users.
    pub user_wallet_currency: Currency,
    /// Rate of wallets the deposit API creates for new users.
    pub user_wallet_rate: Decimal,
    /// Whether a transfer's fee leg (the platform's income) is invoiced,
    /// to the transfer's payer.
    pub invoice_transfer_fees: bool,
    /// At least one webhook endpoint is configured: events are delivered.
    pub webhooks_enabled: bool,
    /// How long before a lot or wallet expires `wallet.lot_expiring` goes out.
    pub notice_lead: Duration,
    /// Events no longer pending are kept at least this long (from their
    /// creation), then pruned at compaction.
    pub events_retention: Duration,
}

impl EngineConfig {
    /// A small engine over `data_dir`, for tests, benches and tools: 2
    /// shards, `sync` durability, modest queues and memory, USD user wallets
    /// at rate 1, no webhooks. The server builds its configuration from
    /// `config/tally.toml` instead; callers override fields as they need.
    pub fn small(data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.into(),
            shards: 2,
            durability: Durability::Sync,
            buffered_sync_interval: Duration::from_millis(100),
            commit_queue_capacity: 1024,
            commit_group_max: 256,
            mailbox_capacity: 1024,
            actor_idle_timeout: Duration::from_secs(60),
            actors_resident_max: 100_000,
            idempotency_ttl: Duration::from_secs(3600),
            recent_keys_max: 16,
            memtable_budget_bytes: 64 << 20,
            block_cache_bytes: 32 << 20,
            user_wallet_currency: Currency::USD,
            user_wallet_rate: Decimal::ONE,
            invoice_transfer_fees: false,
            webhooks_enabled: false,
            notice_lead: Duration::from_secs(72 * 3600),
            events_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Failures opening the engine.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("metrics registration: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("starting the commit writer: {0}")]
    Io(#[from] std::io::Error),
}

/// Where a batch item goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A wallet by id; keys are scoped to it.
    Wallet(WalletId),
    /// A deposit-API user's default wallet (created on first use); keys are
    /// scoped to that wallet, as if it had been named by id.
    User(String),
}

/// One item of a batch.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// Where it goes.
    pub target: Target,
    /// What it does.
    pub command: Command,
    /// Its idempotency key, if any.
    pub key: Option<String>,
}

/// Wraps the store (e.g. to inject faults in tests).
pub type StoreLayer = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store>>;

/// A created (or replayed) wallet.
#[derive(Debug, Clone)]
pub struct Created {
    /// The wallet as of its creation.
    pub wallet: Wallet,
    /// True when answered from an idempotency record.
    pub replayed: bool,
}

/// One page of a wallet's ledger, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    /// The wallet as stored (its currency and rate price the entries).
    pub wallet: Wallet,
    /// Entries, newest first.
    pub entries: Vec<Entry>,
    /// Pass as `before_seq` to get the next (older) page.
    pub next_cursor: Option<u64>,
}

/// Stored records read per scan call.
const SCAN_PAGE: usize = 256;

/// Stored records one list page reads at most.
pub const SCAN_MAX: usize = 10_000;

/// Which wallets a list returns.
#[derive(Debug, Clone, Default)]
pub struct WalletFilter {
    /// Only this customer's (read through the customer index).
    pub external_customer_id: Option<String>,
    /// Only wallets in this status.
    pub status: Option<WalletStatus>,
    /// Only wallets in this currency.
    pub currency: Option<Currency>,
}

impl WalletFilter {
    fn accepts(&self, wallet: &Wallet) -> bool {
        self.status.is_none_or(|status| status == wallet.status)
            && self
                .currency
                .is_none_or(|currency| currency == wallet.currency)
    }
}

/// A page of wallets.
#[derive(Debug, Clone)]
pub struct WalletList {
    /// The wallets, oldest first.
    pub wallets: Vec<Wallet>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next_cursor: Option<WalletId>,
}

/// What one timer pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerPass {
    /// Wallets woken.
    pub woken: usize,
    /// When the next wallet is due, if any is scheduled.
    pub next_due_ms: Option<i64>,
}

/// Which keys a list page may read: those with `prefix`, below `end`.
#[derive(Debug, Clone, Copy)]
struct Bounds<'a> {
    prefix: &'a [u8],
    end: Option<&'a [u8]>,
}

/// The wallet id a list cursor key names.
fn keys_wallet(cf: Cf, key: &[u8]) -> Option<WalletId> {
    match cf {
        Cf::Customers => keys::customer_parts(key).map(|(_, id)| id),
        _ => keys::wallet_id(key),
    }
}

/// The id the next event gets: one past the highest stored.
fn next_event_id(store: &dyn Store) -> Result<u64, StoreError> {
    let last = store.scan(Scan {
        cf: Cf::Events,
        prefix: &[],
        start_exclusive: None,
        direction: Direction::Reverse,
        limit: 1,
    })?;
    Ok(last
        .first()
        .and_then(|(key, _)| events::event_id(key))
        .map_or(1, |id| id + 1))
}

/// The wallet engine.
pub struct Engine {
    shared: Arc<Shared>,
    store: Arc<RocksStore>,
    router: Router,
    writer: CommitWriter,
    creation_locks: Vec<tokio::sync::Mutex<()>>,
    user_creation: tokio::sync::Mutex<()>,
    users: crate::users::UserCache,
    /// Each wallet's currency and rate, for transfers.
    money: crate::users::MoneyCache,
    /// Each hold's wallet, for captures and releases.
    hold_wallets: crate::users::Cache<crate::ids::HoldId, WalletId>,
    config: EngineConfig,
}

impl Engine {
    /// Opens the store and starts the writer and shard threads. Must be called
    /// inside a running actix `System`.
    pub fn open(
        config: EngineConfig,
        clock: Arc<dyn Clock>,
        registry: &prometheus::Registry,
    ) -> Result<Engine, OpenError> {
        Engine::open_layered(config, clock, registry, None)
    }

    /// As [`Engine::open`], with `layer` wrapped around the RocksDB store:
    /// the hook fault-injection tests use to make writes fail.
    pub fn open_layered(
        config: EngineConfig,
        clock: Arc<dyn Clock>,
        registry: &prometheus::Registry,
        layer: Option<StoreLayer>,
    ) -> Result<Engine, OpenError> {
        let metrics = EngineMetrics::register(registry)?;
        // The highest event id committed; raised once the store is open.
        let newest_event = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let ttl_ms = i64::try_from(config.idempotency_ttl.as_millis()).unwrap_or(i64::MAX);
        let filter_clock = Arc::clone(&clock);
        let events_clock = Arc::clone(&clock);
        let retention_ms = i64::try_from(config.events_retention.as_millis()).unwrap_or(i64::MAX);
        let newest = Arc::clone(&newest_event);
        let options = RocksOptions {
            idempotency_expired: Arc::new(move |value: &[u8]| {
                idempotency::created_at_ms(value)
                    .is_some_and(|created| filter_clock.now_ms().saturating_sub(created) > ttl_ms)
            }),
            events_expired: Arc::new(move |key: &[u8], value: &[u8]| {
                events::expired(
                    key,
                    value,
                    events_clock.now_ms(),
                    retention_ms,
                    newest.load(std::sync::atomic::Ordering::Acquire),
                )
            }),
            memtable_budget_bytes: config.memtable_budget_bytes,
            block_cache_bytes: config.block_cache_bytes,
            // A quarter of the memtable budget: a restart replays at most that.
            wal_max_bytes: (config.memtable_budget_bytes / 4).max(8 << 20),
        };
        std::fs::create_dir_all(&config.data_dir)?;
        let store = Arc::new(RocksStore::open(&config.data_dir, options)?);
        let commit_config = CommitConfig {
            queue_capacity: config.commit_queue_capacity,
            group_max: config.commit_group_max,
            durability: config.durability,
            buffered_sync_interval: config.buffered_sync_interval,
        };
        let mut dyn_store: Arc<dyn Store> = store.clone();
        if let Some(layer) = layer {
            dyn_store = layer(dyn_store);
        }
        let (commit, writer) =
            CommitWriter::start(Arc::clone(&dyn_store), commit_config, metrics.clone())?;
        let shared = Arc::new(Shared {
            store: dyn_store,
            commit,
            clock,
            metrics,
            mailbox_capacity: config.mailbox_capacity,
            idle_timeout: config.actor_idle_timeout,
            idempotency_ttl_ms: ttl_ms,
            recent_keys_max: config.recent_keys_max,
            outbox: Outbox::new(
                Watermark::new(next_event_id(store.as_ref())?, newest_event),
                config.webhooks_enabled,
            ),
            notice_lead_ms: i64::try_from(config.notice_lead.as_millis()).unwrap_or(i64::MAX),
        });
        let router = Router::new(
            config.shards,
            config.actors_resident_max,
            Arc::clone(&shared),
        );
        let creation_locks = (0..CREATION_LOCKS)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect();
        let engine = Engine {
            shared,
            store,
            router,
            writer,
            creation_locks,
            user_creation: tokio::sync::Mutex::new(()),
            users: crate::users::UserCache::default(),
            money: crate::users::MoneyCache::default(),
            hold_wallets: crate::users::Cache::default(),
            config,
        };
        index_transactions(engine.shared.store.as_ref())?;
        // The hold gauges count from what is on disk, not from zero.
        let (pending, held) = engine.count_pending_holds()?;
        let metrics = &engine.shared.metrics;
        metrics.holds_pending.set(pending);
        metrics.record_held_start(held);
        Ok(engine)
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Compacts every column family now, which also prunes expired
    /// idempotency records and events past their retention (normally
    /// RocksDB does this in the background).
    pub fn compact(&self) -> Result<(), Error> {
        Ok(self.store.compact()?)
    }

    /// Recomputes every wallet from its ledger over a consistent snapshot,
    /// while the engine keeps serving.
    pub fn verify(&self) -> Result<crate::verify::Report, Error> {
        Ok(crate::verify::verify(
            self.shared.store.snapshot().as_ref(),
        )?)
    }

    /// Verifies a data folder that no server has open (`tally verify`).
    pub fn verify_data_dir(data_dir: &std::path::Path) -> Result<crate::verify::Report, Error> {
        if !data_dir.join("CURRENT").exists() {
            return Err(
                StoreError::Backend(format!("{} holds no Tally data", data_dir.display())).into(),
            );
        }
        let options = RocksOptions::with_expiry(Arc::new(|_: &[u8]| false));
        let store = RocksStore::open(data_dir, options)?;
        let snapshot = store.snapshot();
        let report = crate::verify::verify(snapshot.as_ref())?;
        Ok(report)
    }

    /// Storage statistics for metrics.
    pub fn store_stats(&self) -> Vec<crate::store::StoreStat> {
        self.store.stats()
    }

    /// Creates a wallet, with its opening entry, customer index entry and
    /// idempotency record in one durable write.
    pub async fn create_wallet(
        &self,
        spec: NewWallet,
        key: Option<String>,
    ) -> Result<Created, Error> {
        let check = key.map(|key| KeyCheck {
            record_key: keys::creation_idempotency(&key),
            fingerprint: idempotency::fingerprint(WALLET_CREATION_SCOPE, &spec),
            key,
            as_sent: None,
            earlier: None,
        });
        let _guard = match &check {
            Some(check) => Some(self.creation_lock(&check.record_key).lock().await),
            None => None,
        };
        if let Some(check) = &check {
            if let Some(created) = self.replay_creation(check).await? {
                return Ok(created);
            }
        }
        let (wallet, _) = self.open_wallet(spec, check.as_ref()).await?;
        Ok(Created {
            wallet,
            replayed: false,
        })
    }

    async fn replay_creation(&self, check: &KeyCheck) -> Result<Option<Created>, Error> {
        let Some(bytes) = self.shared.store.get(Cf::Idempotency, &check.record_key)? else {
            return Ok(None);
        };
        let (record, created_at_ms) = idempotency::decode(&bytes)?;
        if self.shared.idempotency_expired(created_at_ms) {
            return Ok(None);
        }
        if record.fingerprint != check.fingerprint {
            return Err(Error::IdempotencyKeyReused);
        }
        let entry = load_entry(self.shared.store.as_ref(), &record.wallet_id, record.seq)?;
        let mut wallet = self.wallet(&record.wallet_id).await?;
        // The original response showed the wallet as its opening entry left it.
        wallet.balance = entry.after;
        wallet.seq = entry.seq;
        wallet.status = entry.status;
        wallet.lots.clear();
        crate::lots::apply(&mut wallet.lots, &entry.lots);
        if let Some(terms) = &entry.terms {
            wallet.terms = Arc::clone(terms);
        }
        self.shared.metrics.idempotent_replays.inc();
        Ok(Some(Created {
            wallet,
            replayed: true,
        }))
    }

    /// Builds a new wallet, its opening entry, and the ops that store them
    /// (wallet, entry, customer index, idempotency record, events). The ids
    /// of its events are added to `reservations`.
    fn opening(
        &self,
        spec: NewWallet,
        check: Option<&KeyCheck>,
        reservations: &mut Vec<Reservation>,
    ) -> Result<(Wallet, Entry, Vec<WriteOp>), Error> {
        let now_ms = self.shared.clock.now_ms();
        let id = WalletId::generate(now_ms);
        let key = check.map(|check| check.key.clone());
        let (mut wallet, entry) = Wallet::open(id, TxnId::generate(now_ms), spec, key, now_ms)?;
        wallet.wake_at_ms = wallet.next_wake(self.shared.notice_lead_ms);
        let mut ops = vec![
            WriteOp::Put {
                cf: Cf::Wallets,
                key: keys::wallet(&wallet.id),
                value: codec::encode(&wallet),
            },
            WriteOp::Put {
                cf: Cf::Customers,
                key: keys::customer(&wallet.external_customer_id, &wallet.id),
                value: Vec::new(),
            },
        ];
        ops.extend(crate::actor::ledger_ops(&entry));
        let mut totals = crate::totals::Totals::default();
        totals.apply(&entry);
        ops.push(WriteOp::Put {
            cf: Cf::Totals,
            key: keys::wallet(&wallet.id),
            value: codec::encode(&totals),
        });
        if let Some(due) = wallet.wake_at_ms {
            ops.push(WriteOp::Put {
                cf: Cf::Schedule,
                key: keys::schedule(due, &wallet.id),
                value: Vec::new(),
            });
        }
        let outbox = &self.shared.outbox;
        let mut created = vec![(EventKind::WalletCreated, None)];
        if !entry.lots.is_empty() {
            created.push((EventKind::TransactionCreated, Some(&entry)));
        }
        for (kind, with_entry) in created {
            if outbox.records(kind) {
                let new = outbox.event(kind, &wallet, now_ms, with_entry, Vec::new());
                ops.extend(event_ops(&new.event));
                reservations.push(new.reservation);
            }
        }
        if let Some(check) = check {
            let record = IdempotencyRecord {
                fingerprint: check.fingerprint,
                wallet_id: wallet.id.clone(),
                seq: entry.seq,
            };
            ops.push(WriteOp::Put {
                cf: Cf::Idempotency,
                key: check.record_key.clone(),
                value: idempotency::encode(&record, now_ms),
            });
        }
        Ok((wallet, entry, ops))
    }

    /// Writes a new wallet durably.
    async fn open_wallet(
        &self,
        spec: NewWallet,
        check: Option<&KeyCheck>,
    ) -> Result<(Wallet, Entry), Error> {
        let mut reservations = Vec::new();
        let (wallet, entry, ops) = self.opening(spec, check, &mut reservations)?;
        self.commit_events(ops, reservations).await?;
        self.observe_opening(&entry);
        Ok((wallet, entry))
    }

    fn observe_opening(&self, entry: &Entry) {
        self.count("OPEN", "ok");
        self.shared
            .metrics
            .record_credits("OPEN", entry.delta.total());
    }

    /// Writes `ops` durably, outside any wallet actor.
    async fn commit(&self, ops: Vec<WriteOp>) -> Result<(), Error> {
        self.commit_events(ops, Vec::new()).await
    }

    /// Writes `ops`, which hold new events, durably; their ids are settled
    /// by the outcome (see `crate::watermark`) whether or not the caller
    /// still waits for it.
    async fn commit_events(
        &self,
        ops: Vec<WriteOp>,
        reservations: Vec<Reservation>,
    ) -> Result<(), Error> {
        let (sender, receiver) = oneshot::channel();
        self.shared.commit.submit(CommitRequest {
            epoch: self.shared.commit.epoch(),
            ops,
            done: Box::new(move |outcome| {
                watermark::settle(reservations, &outcome);
                let _ = sender.send(outcome);
            }),
        });
        receiver.await.map_err(|_| Error::ShuttingDown)??;
        Ok(())
    }

    fn creation_lock(&self, key: &[u8]) -> &tokio::sync::Mutex<()> {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        &self.creation_locks[(hasher.finish() % CREATION_LOCKS as u64) as usize]
    }

    /// The wallet as of its last durable change.
    pub async fn wallet(&self, id: &WalletId) -> Result<Wallet, Error> {
        for _ in 0..RETRIES_MAX {
            let Some(addr) = self.router.resident(id) else {
                // No actor means no pending writes: disk is current.
                return load_wallet(self.shared.store.as_ref(), id)?.ok_or(Error::WalletNotFound);
            };
            let (reply, answer) = oneshot::channel();
            match addr.try_send(Inspect { reply }) {
                Ok(()) => {}
                Err(SendError::Full(_)) => return Err(Error::Overloaded("wallet mailbox full")),
                Err(SendError::Closed(_)) => continue,
            }
            if let Ok(Answer::Done(result)) = answer.await {
                return result;
            }
        }
        Err(Error::Overloaded("wallet actor restarting"))
    }

    /// The wallet and its lifetime totals (credited, spent, removed, lost)
    /// as of its last durable change.
    pub async fn wallet_totals(
        &self,
        id: &WalletId,
    ) -> Result<(Wallet, crate::totals::Totals), Error> {
        for _ in 0..RETRIES_MAX {
            let Some(addr) = self.router.resident(id) else {
                let loaded = crate::actor::load(self.shared.store.as_ref(), id)?
                    .ok_or(Error::WalletNotFound)?;
                return Ok((loaded.wallet, loaded.totals));
            };
            let (reply, answer) = oneshot::channel();
            match addr.try_send(crate::actor::InspectTotals { reply }) {
                Ok(()) => {}
                Err(SendError::Full(_)) => return Err(Error::Overloaded("wallet mailbox full")),
                Err(SendError::Closed(_)) => continue,
            }
            if let Ok(Answer::Done(result)) = answer.await {
                return result;
            }
        }
        Err(Error::Overloaded("wallet actor restarting"))
    }

    /// Applies `command` to wallet `id`. With a key, a replay of the same
    /// request returns the original receipt and a different request with the
    /// same key is refused.
    pub async fn execute(
        &self,
        id: &WalletId,
        command: Command,
        key: Option<String>,
    ) -> Result<Receipt, Error> {
        let check = key.map(|key| command_check(id, key, &command));
        self.run(
            id,
            Job {
                command,
                key: check,
                also: None,
            },
        )
        .await
    }

    pub(crate) async fn run(&self, id: &WalletId, job: Job) -> Result<Receipt, Error> {
        let kind = command_kind(&job.command);
        let job = Arc::new(job);
        let result = self
            .ask(id, |reply| Execute {
                job: Arc::clone(&job),
                reply,
            })
            .await;
        self.observe(kind, &result);
        result
    }

    /// Sends the message `make` builds to the wallet's actor (started from
    /// disk if needed) and awaits the answer. An actor that had just retired
    /// answers `Retry` (or drops the reply): the message is built again for a
    /// fresh one. A full mailbox is an immediate `Overloaded`.
    async fn ask<T, M>(
        &self,
        id: &WalletId,
        make: impl Fn(oneshot::Sender<Answer<T>>) -> M,
    ) -> Result<T, Error>
    where
        M: actix::Message<Result = ()> + Send + 'static,
        WalletActor: actix::Handler<M>,
    {
        for _ in 0..RETRIES_MAX {
            let addr = self.router.actor(id)?.ok_or(Error::WalletNotFound)?;
            let (reply, answer) = oneshot::channel();
            match addr.try_send(make(reply)) {
                Ok(()) => self.shared.metrics.mailbox_depth.inc(),
                Err(SendError::Full(_)) => return Err(Error::Overloaded("wallet mailbox full")),
                Err(SendError::Closed(_)) => continue,
            }
            if let Ok(Answer::Done(done)) = answer.await {
                return done;
            }
        }
        Err(Error::Overloaded("wallet actor restarting"))
    }

    /// Counts an operation's outcome in the metrics.
    fn observe(&self, kind: &str, result: &Result<Receipt, Error>) {
        self.count(kind, outcome_label(result));
        match result {
            Ok(receipt) if !receipt.replayed => {
                // Both sides of a delta share a sign: one label lookup, not two.
                self.shared
                    .metrics
                    .record_credits(kind, receipt.entry.delta.total());
            }
            Err(Error::Rejected(WalletError::InsufficientCredits { .. })) => {
                self.shared.metrics.insufficient_credits.inc();
            }
            _ => {}
        }
    }

    /// Applies many items, each to its own wallet and with its own key, and
    /// returns one result per item in item order. Items of one wallet apply
    /// in item order, as one message to its actor and one commit request;
    /// every result is known only after the sync that covers the batch.
    pub async fn execute_batch(&self, items: Vec<BatchItem>) -> Vec<Result<Receipt, Error>> {
        let mut results: Vec<Option<Result<Receipt, Error>>> = Vec::with_capacity(items.len());
        let mut groups: Vec<(WalletId, Vec<usize>, Vec<Arc<Job>>)> = Vec::new();
        let mut group_of: std::collections::HashMap<WalletId, usize> =
            std::collections::HashMap::new();
        let targets = self.resolve_targets(&items).await;
        for (index, (item, target)) in items.into_iter().zip(targets).enumerate() {
            results.push(None);
            let wallet_id = match target {
                Ok(target) => target,
                Err(error) => {
                    results[index] = Some(Err(error));
                    continue;
                }
            };
            let check = item
                .key
                .map(|key| command_check(&wallet_id, key, &item.command));
            let job = Arc::new(Job {
                command: item.command,
                key: check,
                also: None,
            });
            let group = *group_of.entry(wallet_id.clone()).or_insert_with(|| {
                groups.push((wallet_id, Vec::new(), Vec::new()));
                groups.len() - 1
            });
            groups[group].1.push(index);
            groups[group].2.push(job);
        }
        let replies = groups
            .into_iter()
            .map(|(wallet_id, indexes, jobs)| async move {
                let outcome = self.run_batch(&wallet_id, &jobs).await;
                (indexes, jobs, outcome)
            });
        for (indexes, jobs, outcome) in futures_util::future::join_all(replies).await {
            let per_job: Vec<Result<Receipt, Error>> = match outcome {
                Ok(per_job) => per_job,
                Err(error) => indexes
                    .iter()
                    .map(|_| Err(error.clone_for_batch()))
                    .collect(),
            };
            for ((index, job), result) in indexes.into_iter().zip(&jobs).zip(per_job) {
                self.observe(command_kind(&job.command), &result);
                results[index] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|result| result.unwrap_or(Err(Error::Overloaded("batch item lost"))))
            .collect()
    }

    /// The wallet of each item (keys are scoped to it, whichever way it was
    /// named). Deposit users without a wallet get one, all in one durable
    /// write, unless their amount is refused (a refused first deposit
    /// creates nothing).
    async fn resolve_targets(&self, items: &[BatchItem]) -> Vec<Result<WalletId, Error>> {
        let mut missing = std::collections::BTreeSet::new();
        let mut targets: Vec<Result<Option<WalletId>, Error>> = Vec::with_capacity(items.len());
        for item in items {
            let target = match &item.target {
                Target::Wallet(id) => Ok(Some(id.clone())),
                Target::User(user) => {
                    self.user_wallet_id(user)
                        .and_then(|found| match (found, &item.command) {
                            (Some(id), _) => Ok(Some(id)),
                            (None, Command::Deposit { amount, .. }) => {
                                deposit_credits(
                                    *amount,
                                    self.config.user_wallet_currency,
                                    self.config.user_wallet_rate,
                                )?;
                                missing.insert(user.clone());
                                Ok(None)
                            }
                            (None, _) => Err(Error::WalletNotFound),
                        })
                }
            };
            targets.push(target);
        }
        let created = if missing.is_empty() {
            Ok(std::collections::HashMap::new())
        } else {
            self.ensure_user_wallets(missing).await
        };
        items
            .iter()
            .zip(targets)
            .map(|(item, target)| {
                let id = match (target?, &item.target) {
                    (Some(id), _) => id,
                    (None, Target::User(user)) => match &created {
                        Ok(created) => created.get(user).cloned().ok_or(Error::WalletNotFound)?,
                        Err(error) => return Err(error.clone_for_batch()),
                    },
                    (None, Target::Wallet(id)) => id.clone(),
                };
                Ok(id)
            })
            .collect()
    }

    async fn run_batch(&self, id: &WalletId, jobs: &[Arc<Job>]) -> Result<BatchResults, Error> {
        self.ask(id, |reply| ExecuteBatch {
            jobs: jobs.to_vec(),
            reply,
        })
        .await
    }

    /// Deposits `amount` of currency into `user`'s default wallet, creating
    /// the wallet on the first deposit. Keys are scoped to the wallet, so a
    /// key means the same whether the deposit names the user or the wallet.
    pub async fn deposit(
        &self,
        user: &str,
        amount: Decimal,
        metadata: Metadata,
        key: Option<String>,
    ) -> Result<Receipt, Error> {
        let command = Command::Deposit { amount, metadata };
        let wallet_id = match self.user_wallet_id(user)? {
            Some(id) => id,
            None => {
                // Refuse a bad amount before creating anything.
                deposit_credits(
                    amount,
                    self.config.user_wallet_currency,
                    self.config.user_wallet_rate,
                )?;
                self.create_user_wallet(user).await?
            }
        };
        let check = key.map(|key| command_check(&wallet_id, key, &command));
        self.run(
            &wallet_id,
            Job {
                command,
                key: check,
                also: None,
            },
        )
        .await
    }

    /// The default wallet of a deposit-API user, if it exists.
    pub async fn user_wallet(&self, user: &str) -> Result<Option<Wallet>, Error> {
        match self.user_wallet_id(user)? {
            Some(id) => self.wallet(&id).await.map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn user_wallet_id(&self, user: &str) -> Result<Option<WalletId>, Error> {
        if let Some(id) = self.users.get(user) {
            return Ok(Some(id));
        }
        let Some(bytes) = self.shared.store.get(Cf::Users, user.as_bytes())? else {
            return Ok(None);
        };
        let id: WalletId = codec::decode(Cf::Users.name(), &bytes)?;
        self.users.insert(user.to_owned(), id.clone());
        Ok(Some(id))
    }

    pub(crate) async fn create_user_wallet(&self, user: &str) -> Result<WalletId, Error> {
        let mut created = self
            .ensure_user_wallets(std::iter::once(user.to_owned()).collect())
            .await?;
        created.remove(user).ok_or(Error::WalletNotFound)
    }

    /// The default wallets of `users`, creating the missing ones in one
    /// durable write: each wallet with its opening entry, customer index and
    /// user index entry, so a user never has two wallets or a half-made one.
    async fn ensure_user_wallets(
        &self,
        users: std::collections::BTreeSet<String>,
    ) -> Result<std::collections::HashMap<String, WalletId>, Error> {
        // One creator at a time; creation happens once per user, ever.
        let _guard = self.user_creation.lock().await;
        let mut wallets = std::collections::HashMap::with_capacity(users.len());
        let mut ops = Vec::new();
        let mut openings = Vec::new();
        // Dropped unsettled (ids released) if a step below fails.
        let mut reservations = Vec::new();
        for user in users {
            if let Some(id) = self.user_wallet_id(&user)? {
                wallets.insert(user, id);
                continue;
            }
            // `user` is an account key (`crate::accounts`): a user's own
            // name for the deposit API's wallet, a tagged one for the others.
            let (customer, name) = crate::accounts::parts(&user);
            let spec = NewWallet {
                external_customer_id: customer.to_owned(),
                currency: self.config.user_wallet_currency,
                rate_amount: self.config.user_wallet_rate,
                paid_credits: crate::money::Credits::ZERO,
                granted_credits: crate::money::Credits::ZERO,
                status: crate::wallet::WalletStatus::Active,
                terms: crate::terms::TermsSpec {
                    name: name.map(str::to_owned),
                    ..crate::terms::TermsSpec::default()
                },
            };
            let (wallet, entry, wallet_ops) = self.opening(spec, None, &mut reservations)?;
            ops.extend(wallet_ops);
            ops.push(WriteOp::Put {
                cf: Cf::Users,
                key: user.as_bytes().to_vec(),
                value: codec::encode(&wallet.id),
            });
            openings.push(entry);
            wallets.insert(user, wallet.id);
        }
        if !ops.is_empty() {
            self.commit_events(ops, reservations).await?;
            openings
                .iter()
                .for_each(|entry| self.observe_opening(entry));
        }
        Ok(wallets)
    }

    /// A page of the wallet's durable ledger, newest first, strictly older
    /// than `before_seq` when given.
    pub fn transactions(
        &self,
        id: &WalletId,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Page, Error> {
        assert!(limit > 0, "a page holds at least one entry");
        let wallet = load_wallet(self.shared.store.as_ref(), id)?.ok_or(Error::WalletNotFound)?;
        let prefix = keys::ledger_prefix(id);
        let start = before_seq.map(|seq| keys::ledger(id, seq));
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::Ledger,
            prefix: &prefix,
            start_exclusive: start.as_deref(),
            direction: Direction::Reverse,
            limit: limit + 1,
        })?;
        let more = pairs.len() > limit;
        let entries = pairs
            .iter()
            .take(limit)
            .map(|(_, value)| codec::decode::<Entry>(Cf::Ledger.name(), value))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if more {
            entries.last().map(|entry| entry.seq)
        } else {
            None
        };
        Ok(Page {
            wallet,
            entries,
            next_cursor,
        })
    }

    /// A ledger entry by its transaction id, from any wallet, with that
    /// wallet (for its rate and currency). `None` for an unknown id.
    pub fn transaction(&self, txn: &TxnId) -> Result<Option<(Entry, Wallet)>, Error> {
        let store = self.shared.store.as_ref();
        let Some(bytes) = store.get(Cf::Transactions, &keys::transaction(txn))? else {
            return Ok(None);
        };
        let at: crate::actor::TxnLocation = codec::decode(Cf::Transactions.name(), &bytes)?;
        let entry = load_entry(store, &at.wallet_id, at.seq)?;
        let wallet = load_wallet(store, &at.wallet_id)?.ok_or(Error::WalletNotFound)?;
        Ok(Some((entry, wallet)))
    }

    /// The engine's current time, from its injected clock.
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Wallets in id (creation) order, strictly after `after`, that pass
    /// `filter`. A page reads at most [`SCAN_MAX`] stored wallets, so a rare
    /// filter may return a short page with a cursor to go on from.
    pub fn list_wallets(
        &self,
        filter: &WalletFilter,
        after: Option<&WalletId>,
        limit: usize,
    ) -> Result<WalletList, Error> {
        let store = self.shared.store.as_ref();
        let (cf, prefix, start) = match &filter.external_customer_id {
            Some(customer) => (
                Cf::Customers,
                keys::customer_prefix(customer),
                after.map(|id| keys::customer(customer, id)),
            ),
            None => (Cf::Wallets, Vec::new(), after.map(keys::wallet)),
        };
        let bounds = Bounds {
            prefix: &prefix,
            end: None,
        };
        let (wallets, last) = self.scan_page(cf, bounds, start, limit, |key, value| {
            let wallet: Wallet = match cf {
                Cf::Customers => {
                    let (_, id) = keys::customer_parts(key).ok_or_else(|| StoreError::Corrupt {
                        cf: "customers",
                        reason: "index key without wallet id".into(),
                    })?;
                    load_wallet(store, &id)?.ok_or(Error::WalletNotFound)?
                }
                // The stored state is a checkpoint: bring it up to date.
                _ => replay_tail(store, codec::decode(Cf::Wallets.name(), value)?)?,
            };
            Ok(filter.accepts(&wallet).then_some(wallet))
        })?;
        Ok(WalletList {
            wallets,
            next_cursor: last.and_then(|key| keys_wallet(cf, &key)),
        })
    }

    /// Reads `cf` in key order from just past `start`, within `bounds`,
    /// keeping what `keep` returns, until `limit` are kept or [`SCAN_MAX`]
    /// are read. Returns them and, when more may follow, the last key read
    /// (where the next page starts).
    fn scan_page<T>(
        &self,
        cf: Cf,
        bounds: Bounds<'_>,
        mut start: Option<Vec<u8>>,
        limit: usize,
        mut keep: impl FnMut(&[u8], &[u8]) -> Result<Option<T>, Error>,
    ) -> Result<(Vec<T>, Option<Vec<u8>>), Error> {
        let mut kept = Vec::new();
        let mut read = 0;
        loop {
            let pairs = self.shared.store.scan(Scan {
                cf,
                prefix: bounds.prefix,
                start_exclusive: start.as_deref(),
                direction: Direction::Forward,
                limit: SCAN_PAGE,
            })?;
            let exhausted = pairs.len() < SCAN_PAGE;
            for (key, value) in pairs {
                if bounds.end.is_some_and(|end| key.as_slice() >= end) {
                    return Ok((kept, None));
                }
                read += 1;
                if let Some(item) = keep(&key, &value)? {
                    kept.push(item);
                }
                if kept.len() == limit || read >= SCAN_MAX {
                    return Ok((kept, Some(key)));
                }
                start = Some(key);
            }
            if exhausted {
                return Ok((kept, None));
            }
        }
    }

    /// Wakes every wallet whose schedule entry is due by the clock's now,
    /// each once per pass, and waits until what they did is durable.
    /// The timer actor calls this; so does a test's clock endpoint.
    pub async fn fire_due(&self) -> Result<TimerPass, Error> {
        let mut seen = std::collections::HashSet::new();
        let mut pass = TimerPass::default();
        loop {
            let now_ms = self.shared.clock.now_ms();
            let pairs = self.shared.store.scan(Scan {
                cf: Cf::Schedule,
                prefix: &[],
                start_exclusive: None,
                direction: Direction::Forward,
                limit: SCAN_PAGE,
            })?;
            pass.next_due_ms = None;
            let mut due = Vec::new();
            for (key, _) in &pairs {
                let Some((at, id)) = keys::schedule_parts(key) else {
                    continue;
                };
                if seen.contains(key) {
                    continue;
                }
                if at > now_ms {
                    pass.next_due_ms = Some(at);
                    break;
                }
                seen.insert(key.clone());
                due.push((at, id));
            }
            if due.is_empty() {
                self.retry_stalled_transfers().await;
                if let Err(error) = self.expire_sessions().await {
                    tracing::warn!(%error, "expiring payment sessions");
                }
                return Ok(pass);
            }
            let ticks = due.iter().map(|(at, id)| self.tick(id, *at));
            for result in futures_util::future::join_all(ticks).await {
                match result {
                    Ok(()) => pass.woken += 1,
                    Err(error) => {
                        tracing::warn!(%error, "a timer wake-up failed; it is retried on the next pass")
                    }
                }
            }
            self.shared.metrics.timer_wakeups.inc_by(due.len() as u64);
        }
    }

    async fn tick(&self, id: &WalletId, due_ms: i64) -> Result<(), Error> {
        match self.ask(id, |reply| Tick { due_ms, reply }).await {
            // A key without a wallet is garbage: drop it.
            Err(Error::WalletNotFound) => {
                self.commit(vec![WriteOp::Delete {
                    cf: Cf::Schedule,
                    key: keys::schedule(due_ms, id),
                }])
                .await
            }
            other => other,
        }
    }

    /// Events in id order, strictly after `after`, with `status` if given,
    /// and only below the visible watermark (see `crate::watermark`): an
    /// event still being written when this page is read has an id no lower
    /// than the watermark, so a cursor never passes an event that appears
    /// later. Like [`Engine::list_wallets`], a page reads at most
    /// [`SCAN_MAX`].
    pub fn events(
        &self,
        status: Option<DeliveryStatus>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Event>, Option<u64>), Error> {
        // Read the watermark before the store: everything below it is
        // already readable.
        let end = events::event_key(self.shared.outbox.ids().visible());
        let start = after.map(events::event_key);
        let bounds = Bounds {
            prefix: &[],
            end: Some(&end),
        };
        let (found, last) = self.scan_page(Cf::Events, bounds, start, limit, |_, value| {
            let event = events::decode_event(value)?;
            Ok(status
                .is_none_or(|status| status == event.delivery.status)
                .then_some(event))
        })?;
        Ok((found, last.and_then(|key| events::event_id(&key))))
    }

    /// Pending events whose next attempt is due by the clock's now, soonest
    /// first, at most `limit`, passing over those `skip` names (the
    /// deliverer's events already in flight). Reads at most [`SCAN_MAX`]
    /// outbox pointers.
    pub fn due_events(
        &self,
        limit: usize,
        skip: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<Event>, Error> {
        let now_ms = self.shared.clock.now_ms();
        let mut due = Vec::new();
        let mut start: Option<Vec<u8>> = None;
        let mut read = 0;
        while due.len() < limit && read < SCAN_MAX {
            let pairs = self.shared.store.scan(Scan {
                cf: Cf::Outbox,
                prefix: &[],
                start_exclusive: start.as_deref(),
                direction: Direction::Forward,
                limit: SCAN_PAGE,
            })?;
            let exhausted = pairs.len() < SCAN_PAGE;
            for (key, _) in pairs {
                read += 1;
                let Some((at, id)) = events::outbox_parts(&key) else {
                    continue;
                };
                if at > now_ms {
                    return Ok(due);
                }
                start = Some(key);
                if skip(id) {
                    continue;
                }
                if let Some(bytes) = self.shared.store.get(Cf::Events, &events::event_key(id))? {
                    due.push(events::decode_event(&bytes)?);
                    if due.len() == limit {
                        break;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(due)
    }

    /// Records a delivery attempt of `event` durably: its new delivery state,
    /// and its outbox pointer moved to the next attempt (or dropped).
    pub async fn record_delivery(&self, event: &Event, delivery: Delivery) -> Result<(), Error> {
        self.record_deliveries(vec![(event, delivery)]).await
    }

    /// Records delivery attempts of many events in one durable write (see
    /// [`Engine::record_delivery`]).
    pub async fn record_deliveries(&self, attempts: Vec<(&Event, Delivery)>) -> Result<(), Error> {
        let mut ops = Vec::with_capacity(attempts.len() * 3);
        for (event, delivery) in attempts {
            ops.push(WriteOp::Delete {
                cf: Cf::Outbox,
                key: events::outbox_key(event.delivery.next_attempt_ms, event.id),
            });
            let mut updated = event.clone();
            updated.delivery = delivery;
            ops.extend(event_ops(&updated));
        }
        self.commit(ops).await
    }

    /// Stores (creates or replaces) an API key record durably.
    pub async fn put_api_key(
        &self,
        record: &crate::credentials::ApiKeyRecord,
    ) -> Result<(), Error> {
        self.commit(vec![WriteOp::Put {
            cf: Cf::ApiKeys,
            key: record.id.as_bytes().to_vec(),
            value: codec::encode(record),
        }])
        .await
    }

    /// Stores a new API key unless its id is taken: `Ok(false)` then, and
    /// nothing is written. The check and the write happen under the id's
    /// creation lock, so two creations of one id cannot both pass the check
    /// (a plain `put_api_key` would replace the older key).
    pub async fn insert_api_key(
        &self,
        record: &crate::credentials::ApiKeyRecord,
    ) -> Result<bool, Error> {
        let mut lock_key = b"api_keys\0".to_vec();
        lock_key.extend_from_slice(record.id.as_bytes());
        let _guard = self.creation_lock(&lock_key).lock().await;
        if self
            .shared
            .store
            .get(Cf::ApiKeys, record.id.as_bytes())?
            .is_some()
        {
            return Ok(false);
        }
        self.put_api_key(record).await?;
        Ok(true)
    }

    /// Every stored API key, by id.
    pub fn api_keys(&self) -> Result<Vec<crate::credentials::ApiKeyRecord>, Error> {
        let pairs = self.shared.store.scan(Scan {
            cf: Cf::ApiKeys,
            prefix: &[],
            start_exclusive: None,
            direction: Direction::Forward,
            limit: usize::MAX,
        })?;
        pairs
            .iter()
            .map(|(_, value)| Ok(codec::decode(Cf::ApiKeys.name(), value)?))
            .collect()
    }

    /// Stops the shard threads, then drains and syncs the commit queue.
    /// Call after the HTTP server has stopped taking requests.
    pub fn shutdown(&self) {
        self.router.stop();
        self.writer.stop();
    }

    fn count(&self, kind: &str, outcome: &str) {
        self.shared
            .metrics
            .operations
            .with_label_values(&[kind, outcome])
            .inc();
    }
}

/// The key check of a wallet command: the record lives in the wallet's
/// client key space, and the fingerprint is of what the command means, not
/// of how a route spelled it: metadata is a set of pairs, so it is
/// fingerprinted in sorted order (a TOPUP keeps its array's order on one
/// route, a batch item's object comes sorted on another). The scope inside
/// the fingerprint is the wallet id's text, as in format 2, so records
/// migrated from it keep matching.
/// Builds the global transaction index over a ledger written before it
/// existed, once (a `meta` key records that it is complete): every
/// entry written since carries its index key in its own batch.
pub(crate) fn index_transactions(store: &dyn Store) -> Result<(), StoreError> {
    const DONE: &[u8] = b"transactions_indexed";
    if store.get(Cf::Meta, DONE)?.is_some() {
        return Ok(());
    }
    let mut start: Option<Vec<u8>> = None;
    let mut indexed = 0u64;
    loop {
        let pairs = store.scan(Scan {
            cf: Cf::Ledger,
            prefix: &[],
            start_exclusive: start.as_deref(),
            direction: Direction::Forward,
            limit: 4096,
        })?;
        let Some((last, _)) = pairs.last() else {
            break;
        };
        start = Some(last.clone());
        let mut ops = Vec::with_capacity(pairs.len());
        for (_, value) in &pairs {
            let entry: Entry = codec::decode(Cf::Ledger.name(), value)?;
            let [_, index] = crate::actor::ledger_ops(&entry);
            ops.push(index);
        }
        indexed += ops.len() as u64;
        store.write(&[ops.as_slice()], false)?;
    }
    let done = WriteOp::Put {
        cf: Cf::Meta,
        key: DONE.to_vec(),
        value: codec::encode(&1u32),
    };
    store.write(&[std::slice::from_ref(&done)], true)?;
    if indexed > 0 {
        tracing::info!(indexed, "transaction index built over the existing ledger");
    }
    Ok(())
}

/// The check of an internal key (`keys::internal_idempotency`): one no
/// client can send, for a change the engine repeats until it is durable.
pub(crate) fn internal_check(wallet: &WalletId, name: String, command: &Command) -> KeyCheck {
    KeyCheck {
        record_key: keys::internal_idempotency(wallet, &name),
        fingerprint: idempotency::fingerprint(wallet.as_str(), command),
        as_sent: None,
        earlier: None,
        key: name,
    }
}

fn command_check(wallet: &WalletId, key: String, command: &Command) -> KeyCheck {
    let canonical = command.canonical();
    let as_sent = matches!(canonical, std::borrow::Cow::Owned(_))
        .then(|| idempotency::fingerprint(wallet.as_str(), command));
    KeyCheck {
        record_key: keys::idempotency(wallet, &key),
        fingerprint: idempotency::fingerprint(wallet.as_str(), &canonical),
        as_sent,
        earlier: idempotency::earlier_form(&key).map(|earlier| keys::idempotency(wallet, earlier)),
        key,
    }
}

fn command_kind(command: &Command) -> &'static str {
    match command {
        Command::TopUp { .. } => "TOPUP",
        Command::Deposit { .. } => "DEPOSIT",
        Command::Void { .. } => "VOID",
        Command::Debit { .. } => "DEBIT",
        Command::Activate => "ACTIVATE",
        Command::Terminate => "TERMINATE",
        Command::Configure(_) => "UPDATE",
        Command::RuleTopUp { .. } => "TOPUP",
        Command::ExpireLots => "EXPIRE",
        Command::ExpireWallet => "TERMINATE",
        Command::Hold { .. } => "HOLD",
        Command::Capture { .. } | Command::LateCapture { .. } => "CAPTURE",
        Command::Release { .. } | Command::ExpireHold { .. } => "RELEASE",
        Command::Usage { .. } => "USAGE",
        Command::TransferOut { .. } => "TRANSFER_OUT",
        Command::TransferIn { .. } => "TRANSFER_IN",
    }
}

fn outcome_label(result: &Result<Receipt, Error>) -> &'static str {
    match result {
        Ok(receipt) if receipt.replayed => "replayed",
        Ok(_) => "ok",
        Err(Error::Rejected(WalletError::InsufficientCredits { .. })) => "insufficient_credits",
        Err(
            Error::Rejected(_)
            | Error::WalletNotFound
            | Error::HoldNotFound
            | Error::TransferNotFound
            | Error::TransactionNotFound
            | Error::InvoiceNotFound
            | Error::PaymentMethodNotFound
            | Error::PaymentNotFound
            | Error::UnknownModel(_)
            | Error::IdempotencyKeyReused,
        ) => "rejected",
        Err(Error::Overloaded(_)) => "overloaded",
        Err(Error::Unavailable(_) | Error::Store(_) | Error::ShuttingDown) => "failed",
    }
}
