//! `WalletActor`: one actix actor per resident wallet, the only code that
//! changes that wallet. Its mailbox serializes the wallet's commands without
//! locks; the rules themselves live in `wallet::Wallet::apply`.
//!
//! Pipelining: the actor applies a command in memory, hands the write to the
//! commit writer and takes its next message at once. The reply travels with
//! the write and leaves only after the sync that covers it. Replies that need
//! no write (reads, refusals, replays) are still ordered behind the actor's
//! pending writes by sending an empty commit request, so a client never sees
//! state that is not yet durable.
// #[PerformanceCriticalPath]

use crate::clock::Clock;
use crate::commit::{CommitError, CommitQueue, CommitRequest};
use crate::error::Error;
use crate::events::{event_ops, EventKind, Outbox};
use crate::holds::{self, HoldRecord, HoldStatus, HoldStep};
use crate::idempotency::{self, Fingerprint, IdempotencyRecord};
use crate::ids::{HoldId, TxnId, WalletId};
use crate::metrics::EngineMetrics;
use crate::money::{Credits, Fixed};
use crate::rules::Trigger;
use crate::store::{codec, keys, Cf, Store, WriteOp};
use crate::totals::Totals;
use crate::wallet::{
    Command, Entry, EntryKind, Metadata, Source, Wallet, WalletError, WalletStatus,
};
use crate::watermark::{self, Reservation};
use actix::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The resident actors of one shard.
pub(crate) type Registry = Arc<RwLock<crate::residents::Residents>>;

/// What every actor needs, shared by all of them.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) commit: CommitQueue,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: EngineMetrics,
    pub(crate) mailbox_capacity: usize,
    pub(crate) idle_timeout: Duration,
    /// Idempotency records older than this are treated as gone (and are
    /// pruned at compaction), so a key's lifetime does not depend on when
    /// RocksDB happens to compact.
    pub(crate) idempotency_ttl_ms: i64,
    /// Idempotency keys remembered in memory per actor, beyond pending ones.
    pub(crate) recent_keys_max: usize,
    /// Where wallet events go.
    pub(crate) outbox: Outbox,
    /// How long before a lot or wallet expires its `wallet.lot_expiring`
    /// notice goes out.
    pub(crate) notice_lead_ms: i64,
}

impl Shared {
    /// Whether a record made at `created_at_ms` has outlived the TTL.
    pub(crate) fn idempotency_expired(&self, created_at_ms: i64) -> bool {
        self.clock.now_ms().saturating_sub(created_at_ms) > self.idempotency_ttl_ms
    }
}

/// The result of a change: the ledger entry it wrote (or, for a replay, the
/// entry the original request wrote) and the wallet's money settings.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The ledger entry, with balances after the change.
    pub entry: Arc<Entry>,
    /// The wallet's currency price of one credit.
    pub rate_amount: Fixed,
    /// The wallet's currency.
    pub currency: crate::money::Currency,
    /// True when answered from an idempotency record.
    pub replayed: bool,
}

/// An idempotency key as the actor checks it.
#[derive(Debug, Clone)]
pub(crate) struct KeyCheck {
    /// The client's key.
    pub(crate) key: String,
    /// Store key of the record: scope ‖ 0 ‖ key.
    pub(crate) record_key: Vec<u8>,
    /// Fingerprint of the request.
    pub(crate) fingerprint: Fingerprint,
    /// The fingerprint of the command as sent, when it differs from the
    /// canonical one (metadata not in order): format 2 fingerprinted that,
    /// so a record it made still replays after the upgrade.
    pub(crate) as_sent: Option<Fingerprint>,
    /// An earlier spelling of the same key (see `idempotency::earlier_form`):
    /// a live record under it *with this request's fingerprint* is a replay;
    /// one with another fingerprint is another request and is ignored.
    pub(crate) earlier: Option<Vec<u8>>,
}

/// A command and its key. Shared (`Arc`) so that a caller can resend it to a
/// fresh actor if the one it reached had just retired, without a copy.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) command: Command,
    pub(crate) key: Option<KeyCheck>,
    /// Writes that ride with the entry, in its atomic batch, only when it
    /// is applied (not on a replay or a refusal), made from the entry: a
    /// transfer's record rides with its source leg, and its end with its
    /// last receiving leg.
    pub(crate) also: Option<RideAlong>,
}

/// What makes a job's ride-along writes from its entry.
pub(crate) struct RideAlong(pub(crate) Box<MakeOps>);

/// Makes writes from an applied entry.
pub(crate) type MakeOps = dyn Fn(&Entry) -> Vec<WriteOp> + Send + Sync;

impl std::fmt::Debug for RideAlong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RideAlong")
    }
}

/// An actor's answer: done, or "I have retired; ask a fresh actor".
#[derive(Debug)]
pub(crate) enum Answer<T> {
    Done(Result<T, Error>),
    Retry,
}

/// Applies a command to the wallet.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Execute {
    pub(crate) job: Arc<Job>,
    pub(crate) reply: ReceiptReply,
}

/// Applies jobs to the wallet in order, made durable by one commit request.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ExecuteBatch {
    pub(crate) jobs: Vec<Arc<Job>>,
    pub(crate) reply: BatchReply,
}

/// Does what is due at the current time (expiries, notices, interval
/// top-ups); sent by the timer for the schedule key due at `due_ms`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Tick {
    pub(crate) due_ms: i64,
    pub(crate) reply: oneshot::Sender<Answer<()>>,
}

/// Asks the actor to leave memory (the shard holds too many): it goes when
/// nothing of it is pending, like an idle actor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Evict;

/// Reads the wallet as of the actor's last durable change.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Inspect {
    pub(crate) reply: oneshot::Sender<Answer<Wallet>>,
}

/// Reads the wallet and its lifetime totals as of its last durable change.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct InspectTotals {
    pub(crate) reply: oneshot::Sender<Answer<(Wallet, Totals)>>,
}

/// Where a reply to an `Execute` goes.
type ReceiptReply = oneshot::Sender<Answer<Receipt>>;

/// Per-job results of a batch, in job order.
pub(crate) type BatchResults = Vec<Result<Receipt, Error>>;

/// Where a reply to an `ExecuteBatch` goes.
type BatchReply = oneshot::Sender<Answer<BatchResults>>;

/// What a command leads to.
enum Decision {
    /// Answer from an idempotency record; nothing to write.
    Replay(Receipt),
    /// A new entry to make durable.
    Apply(Arc<Entry>),
}

/// A key whose entry is pending or recent: answered from memory.
struct RecentKey {
    fingerprint: Fingerprint,
    entry: Arc<Entry>,
}

/// The actor of one resident wallet.
pub(crate) struct WalletActor {
    wallet: Wallet,
    /// The wallet's lifetime totals, moved with each entry (checkpointed
    /// with the wallet).
    totals: Totals,
    /// No totals are stored at the checkpoint yet: the next turn writes one.
    totals_unsaved: bool,
    shared: Arc<Shared>,
    registry: Registry,
    /// Failure epoch this state is based on; a newer epoch forces a reload.
    epoch: u64,
    /// Commit requests submitted and not yet completed.
    pending: Arc<AtomicUsize>,
    /// Highest sequence number known durable.
    durable_seq: Arc<AtomicU64>,
    recent: HashMap<Vec<u8>, RecentKey>,
    recent_order: VecDeque<(Vec<u8>, u64)>,
    /// Sequence number of the stored checkpoint of the wallet's state (at
    /// most: see [`WalletActor::rollback`]).
    checkpoint_seq: u64,
    /// Ids of the events staged in the current turn; they travel with the
    /// turn's commit request, which settles them (see `crate::watermark`).
    reservations: Vec<Reservation>,
    /// Hold steps staged in the current turn, counted in the metrics once
    /// the turn is durable.
    hold_steps: Vec<(HoldStep, Credits)>,
    /// Records of holds this actor resolved or looked up, newest state:
    /// what a second capture or release is answered from while the write
    /// that resolved the hold may still be pending.
    resolved: HashMap<HoldId, HoldRecord>,
    last_used: Instant,
    /// Raised on every message, for the shard's eviction clock.
    used: Arc<AtomicBool>,
    retired: bool,
}

/// A wallet's state is stored (checkpointed) at least once every this many
/// ledger entries. Between checkpoints a change writes only its entry (and
/// idempotency record): the state is the checkpoint plus the entries after
/// it, replayed on load, so at most this many.
pub(crate) const CHECKPOINT_EVERY: u64 = 128;

impl WalletActor {
    /// An actor for `loaded`, read from disk at `epoch`.
    pub(crate) fn new(
        loaded: Loaded,
        epoch: u64,
        shared: Arc<Shared>,
        registry: Registry,
        used: Arc<AtomicBool>,
    ) -> Self {
        let Loaded {
            wallet,
            totals,
            checkpoint_seq,
            totals_unsaved,
        } = loaded;
        let durable_seq = Arc::new(AtomicU64::new(wallet.seq));
        WalletActor {
            totals,
            totals_unsaved,
            checkpoint_seq,
            wallet,
            shared,
            registry,
            epoch,
            pending: Arc::new(AtomicUsize::new(0)),
            durable_seq,
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
            reservations: Vec::new(),
            hold_steps: Vec::new(),
            resolved: HashMap::new(),
            last_used: Instant::now(),
            used,
            retired: false,
        }
    }

    /// Notes a message: for the idle timer and the eviction clock.
    fn touch(&mut self) {
        self.last_used = Instant::now();
        self.used.store(true, Ordering::Relaxed);
    }

    /// Brings the state back in line with disk after a failed commit.
    fn reload_if_failed(&mut self) -> Result<(), Error> {
        let epoch = self.shared.commit.epoch();
        if epoch == self.epoch {
            return Ok(());
        }
        // Every request stamped with the old epoch will be aborted, and the
        // failing write has finished, so disk now holds this wallet's truth.
        let Loaded {
            wallet,
            totals,
            checkpoint_seq,
            totals_unsaved,
        } = load(self.shared.store.as_ref(), &self.wallet.id)?.ok_or(Error::WalletNotFound)?;
        self.totals = totals;
        self.totals_unsaved = totals_unsaved;
        tracing::warn!(wallet = %wallet.id, seq = wallet.seq, "wallet reloaded after a failed commit");
        self.durable_seq.store(wallet.seq, Ordering::Release);
        self.wallet = wallet;
        self.checkpoint_seq = checkpoint_seq;
        self.recent.clear();
        self.recent_order.clear();
        self.resolved.clear();
        self.epoch = epoch;
        Ok(())
    }

    /// The entry a key already produced, from memory or disk.
    fn lookup_key(&self, check: &KeyCheck) -> Result<Option<(Fingerprint, Arc<Entry>)>, Error> {
        if let Some(recent) = self.recent.get(&check.record_key) {
            if self.shared.idempotency_expired(recent.entry.created_at_ms) {
                return Ok(None);
            }
            return Ok(Some((recent.fingerprint, Arc::clone(&recent.entry))));
        }
        if let Some(found) = self.read_record(&check.record_key)? {
            return Ok(Some(found));
        }
        let Some(earlier) = &check.earlier else {
            return Ok(None);
        };
        // The earlier form may be pending here (not on disk yet) too.
        let found = match self.recent.get(earlier) {
            Some(recent) if !self.shared.idempotency_expired(recent.entry.created_at_ms) => {
                Some((recent.fingerprint, Arc::clone(&recent.entry)))
            }
            _ => self.read_record(earlier)?,
        };
        Ok(found.filter(|(fingerprint, _)| *fingerprint == check.fingerprint))
    }

    /// A live record of this wallet and its entry, from disk.
    fn read_record(&self, record_key: &[u8]) -> Result<Option<(Fingerprint, Arc<Entry>)>, Error> {
        let store = self.shared.store.as_ref();
        let Some(bytes) = store.get(Cf::Idempotency, record_key)? else {
            return Ok(None);
        };
        let (record, created_at_ms) = idempotency::decode(&bytes)?;
        if self.shared.idempotency_expired(created_at_ms) || record.wallet_id != self.wallet.id {
            return Ok(None);
        }
        let entry = load_entry(store, &record.wallet_id, record.seq)?;
        Ok(Some((record.fingerprint, Arc::new(entry))))
    }

    fn remember_key(&mut self, record_key: Vec<u8>, fingerprint: Fingerprint, entry: Arc<Entry>) {
        let seq = entry.seq;
        self.recent_order.push_back((record_key.clone(), seq));
        self.recent
            .insert(record_key, RecentKey { fingerprint, entry });
        // Forget only keys whose entries are durable: a pending key must stay
        // in memory, because its record is not on disk yet.
        let durable = self.durable_seq.load(Ordering::Acquire);
        while self.recent_order.len() > self.shared.recent_keys_max {
            match self.recent_order.front() {
                Some((_, seq)) if *seq <= durable => {
                    if let Some((key, seq)) = self.recent_order.pop_front() {
                        // The key may since have been reused (after its TTL)
                        // by a newer, possibly pending entry: keep that one.
                        if self
                            .recent
                            .get(&key)
                            .is_some_and(|recent| recent.entry.seq == seq)
                        {
                            self.recent.remove(&key);
                        }
                    }
                }
                _ => break,
            }
        }
    }

    fn receipt(&self, entry: Arc<Entry>, replayed: bool) -> Receipt {
        Receipt {
            entry,
            rate_amount: self.wallet.rate_amount,
            currency: self.wallet.currency,
            replayed,
        }
    }

    /// Sends `result` once every earlier write of this wallet is durable.
    ///
    /// It leaves at once only when nothing is pending *and* no write failed
    /// since this state was loaded. `pending` is read before the epoch: the
    /// writer bumps the epoch before it runs the completions that bring
    /// `pending` to zero, so a zero followed by an unchanged epoch means every
    /// earlier write succeeded. Otherwise the reply rides an empty commit
    /// request stamped with this state's epoch, which the writer aborts if
    /// that epoch is stale: a reply never reveals state a failed write lost.
    fn reply_in_order<T: Send + 'static>(
        &self,
        reply: oneshot::Sender<Answer<T>>,
        result: Result<T, Error>,
    ) {
        if self.pending.load(Ordering::Acquire) == 0 && self.shared.commit.epoch() == self.epoch {
            let _ = reply.send(Answer::Done(result));
            return;
        }
        let pending = Arc::clone(&self.pending);
        pending.fetch_add(1, Ordering::AcqRel);
        self.shared.commit.submit(CommitRequest {
            epoch: self.epoch,
            ops: Vec::new(),
            done: Box::new(move |outcome| {
                pending.fetch_sub(1, Ordering::AcqRel);
                let result = match outcome {
                    Ok(()) => result,
                    Err(error) => Err(Error::from(error)),
                };
                let _ = reply.send(Answer::Done(result));
            }),
        });
    }

    /// Decides a command: an answer from the idempotency record, or a new
    /// ledger entry to commit.
    fn decide(&mut self, job: &Job) -> Result<Decision, Error> {
        self.reload_if_failed()?;
        self.decide_loaded(job)
    }

    /// [`WalletActor::decide`] against the state as it is: a batch reloads
    /// once before its first job, never between jobs, because a reload in
    /// the middle would drop the state that earlier jobs' staged ops assume.
    fn decide_loaded(&mut self, job: &Job) -> Result<Decision, Error> {
        if let Some(check) = &job.key {
            if let Some((fingerprint, entry)) = self.lookup_key(check)? {
                if fingerprint != check.fingerprint && Some(fingerprint) != check.as_sent {
                    return Err(Error::IdempotencyKeyReused);
                }
                self.shared.metrics.idempotent_replays.inc();
                return Ok(Decision::Replay(self.receipt(entry, true)));
            }
        }
        let now_ms = self.shared.clock.now_ms();
        let key = job.key.as_ref().map(|check| check.key.clone());
        let late;
        let command = match self.resolved_hold(&job.command)? {
            Some(command) => {
                late = command;
                &late
            }
            None => &job.command,
        };
        let entry = self
            .wallet
            .apply(TxnId::generate(now_ms), command, key, now_ms)?;
        Ok(Decision::Apply(Arc::new(entry)))
    }

    /// For a capture or release of a hold that is no longer pending: the
    /// refusal that says what became of it, or, for a capture of an expired
    /// hold, the late capture to apply instead. `None` when the hold is
    /// pending (or the command is about no hold).
    fn resolved_hold(&mut self, command: &Command) -> Result<Option<Command>, Error> {
        let (hold, capture) = match command {
            Command::Capture {
                hold,
                amount,
                metadata,
            } => (hold, Some((amount, metadata))),
            Command::Release { hold } => (hold, None),
            _ => return Ok(None),
        };
        if self.wallet.pending_hold(hold).is_ok() {
            return Ok(None);
        }
        let record = match self.resolved.get(hold) {
            Some(record) => record.clone(),
            None => {
                let store = self.shared.store.as_ref();
                let record = read_hold(store, hold)?
                    .filter(|record| record.wallet_id == self.wallet.id)
                    .ok_or(Error::HoldNotFound)?;
                self.remember_resolved(hold.clone(), record.clone());
                record
            }
        };
        let refused = |status| {
            Err(Error::Rejected(WalletError::HoldResolved {
                hold: hold.clone(),
                status,
            }))
        };
        match (record.status, capture) {
            // Placed by a write still pending and resolved by another: the
            // record here is older than the wallet. Cannot happen while the
            // hold is pending in memory; kept as a typed refusal.
            (HoldStatus::Pending, _) => refused(HoldStatus::Pending),
            (HoldStatus::Expired, Some((amount, metadata)))
                if record.late_capture_seq.is_none() =>
            {
                let placed = load_entry(
                    self.shared.store.as_ref(),
                    &self.wallet.id,
                    record.placed_seq,
                )?;
                let held = placed
                    .hold
                    .as_ref()
                    .map_or(Credits::ZERO, |hold| hold.credits);
                Ok(Some(Command::LateCapture {
                    hold: hold.clone(),
                    held,
                    amount: amount.clone(),
                    metadata: metadata.clone(),
                }))
            }
            (HoldStatus::Expired, Some(_)) => refused(HoldStatus::Captured),
            (status, _) => refused(status),
        }
    }

    /// Advances the wallet to `entry` in memory, remembers its key, and adds
    /// the ops that make it durable (entry and idempotency record), then
    /// what follows from it: events and threshold top-ups. The wallet state
    /// itself is written once per turn, by [`WalletActor::finish`].
    fn stage(&mut self, key: Option<&KeyCheck>, entry: &Arc<Entry>, ops: &mut Vec<WriteOp>) {
        let before = self.wallet.balance.total();
        // Where a hold this entry resolves began: known only before it.
        let placed_seq = entry
            .hold
            .as_ref()
            .and_then(|hold| self.wallet.pending_hold(&hold.id).ok())
            .map_or(entry.seq, |hold| hold.placed_seq);
        self.wallet.advance(entry);
        self.totals.apply(entry);
        ops.extend(ledger_ops(entry));
        if let Some(check) = key {
            let record = IdempotencyRecord {
                fingerprint: check.fingerprint,
                wallet_id: self.wallet.id.clone(),
                seq: entry.seq,
            };
            ops.push(WriteOp::Put {
                cf: Cf::Idempotency,
                key: check.record_key.clone(),
                value: idempotency::encode(&record, entry.created_at_ms),
            });
            self.remember_key(
                check.record_key.clone(),
                check.fingerprint,
                Arc::clone(entry),
            );
        }
        if let Some(hold) = &entry.hold {
            self.stage_hold(entry, hold, placed_seq, ops);
        }
        self.consequences(entry, before, ops);
    }

    /// The `holds` column family's side of an entry that moves a hold.
    fn stage_hold(
        &mut self,
        entry: &Entry,
        hold: &holds::HoldMove,
        placed_seq: u64,
        ops: &mut Vec<WriteOp>,
    ) {
        let id = &hold.id;
        let record = match hold.step {
            HoldStep::Place => {
                ops.push(WriteOp::Put {
                    cf: Cf::Holds,
                    key: holds::keys::by_wallet(&self.wallet.id, id),
                    value: Vec::new(),
                });
                ops.push(WriteOp::Put {
                    cf: Cf::Holds,
                    key: holds::keys::pending(id),
                    value: codec::encode(&hold.credits),
                });
                HoldRecord {
                    wallet_id: self.wallet.id.clone(),
                    placed_seq: entry.seq,
                    status: HoldStatus::Pending,
                    resolved_seq: None,
                    late_capture_seq: None,
                }
            }
            HoldStep::LateCapture => {
                // Decided from this record in the same turn (kept by
                // `remember_resolved`); disk has it otherwise.
                let known = match self.resolved.get(id) {
                    Some(record) => Some(record.clone()),
                    None => read_hold(self.shared.store.as_ref(), id).ok().flatten(),
                };
                let Some(mut record) = known else {
                    tracing::error!(hold = %id, "late capture of a hold without a record");
                    return;
                };
                record.late_capture_seq = Some(entry.seq);
                record
            }
            step => {
                ops.push(WriteOp::Delete {
                    cf: Cf::Holds,
                    key: holds::keys::pending(id),
                });
                HoldRecord {
                    wallet_id: self.wallet.id.clone(),
                    placed_seq,
                    status: HoldStatus::after(step),
                    resolved_seq: Some(entry.seq),
                    late_capture_seq: None,
                }
            }
        };
        ops.push(WriteOp::Put {
            cf: Cf::Holds,
            key: holds::keys::record(id),
            value: codec::encode(&record),
        });
        let moved = match hold.step {
            HoldStep::Place => hold.credits,
            HoldStep::LateCapture => Credits::ZERO,
            // What left the pending holds: everything the hold held (its
            // parts are negative here; counted as a positive amount).
            _ => hold
                .parts
                .iter()
                .try_fold(Credits::ZERO, |sum, part| sum.checked_add(part.delta))
                .unwrap_or(Credits::ZERO)
                .negated(),
        };
        self.hold_steps.push((hold.step, moved));
        if hold.step != HoldStep::Place {
            self.remember_resolved(id.clone(), record);
        }
        if hold.step == HoldStep::Expire {
            self.emit(EventKind::HoldExpired, Some(entry), Vec::new(), ops);
        }
    }

    /// Events an entry causes and the threshold rules it fires, checked here,
    /// right after the change, in the same turn and the same write.
    fn consequences(&mut self, entry: &Entry, before: Credits, ops: &mut Vec<WriteOp>) {
        let after = entry.after.total();
        match entry.kind {
            EntryKind::Update | EntryKind::Activate => {
                self.emit(EventKind::WalletUpdated, None, Vec::new(), ops);
            }
            EntryKind::Terminate => {
                self.emit(EventKind::WalletTerminated, None, Vec::new(), ops);
            }
            _ => {}
        }
        // Every change of credits, including a capture that spends exactly
        // its hold (no lot moves) and a usage that cost nothing.
        if !entry.lots.is_empty() || entry.hold.is_some() || entry.kind == EntryKind::Debit {
            self.emit(EventKind::TransactionCreated, Some(entry), Vec::new(), ops);
        }
        // Credits a capture or release gave back to a lot that expired
        // meanwhile expire now, in the same turn.
        if entry.hold.is_some() && entry.lots.iter().any(|change| !change.delta.is_negative()) {
            self.expire_lots(entry.created_at_ms, ops);
        }
        let outbound = matches!(
            entry.kind,
            EntryKind::Debit | EntryKind::Void | EntryKind::Expire | EntryKind::Hold
        );
        if !outbound {
            return;
        }
        if after.is_zero() && !before.is_zero() {
            self.emit(EventKind::Depleted, Some(entry), Vec::new(), ops);
        }
        for rule_id in self.wallet.thresholds_crossed(before, after) {
            let details = vec![("rule_id".to_owned(), rule_id.clone())];
            self.emit(EventKind::ThresholdCrossed, Some(entry), details, ops);
            self.fire_rule(&rule_id, Source::Threshold, None, ops);
        }
    }

    /// Keeps a resolved hold's record in memory: needed only while the
    /// write that resolved it may be pending (after that, disk answers), so
    /// past [`RESOLVED_KEPT`] records the durable ones are dropped.
    /// The record just remembered is always kept: the turn deciding on it
    /// (a late capture) reads it again when it stages the change.
    fn remember_resolved(&mut self, id: HoldId, record: HoldRecord) {
        if self.resolved.len() >= RESOLVED_KEPT {
            let durable = self.durable_seq.load(Ordering::Acquire);
            self.resolved.retain(|_, record| {
                record.resolved_seq.is_some_and(|seq| seq > durable)
                    || record.late_capture_seq.is_some_and(|seq| seq > durable)
            });
        }
        self.resolved.insert(id, record);
    }

    /// Expires what is left of the lots whose expiry has come.
    fn expire_lots(&mut self, now_ms: i64, ops: &mut Vec<WriteOp>) {
        if !self
            .wallet
            .lots
            .iter()
            .any(|lot| lot.expires_at_ms.is_some_and(|at| at <= now_ms))
        {
            return;
        }
        match self
            .wallet
            .apply(TxnId::generate(now_ms), &Command::ExpireLots, None, now_ms)
        {
            Ok(entry) => self.stage(None, &Arc::new(entry), ops),
            // Expiring lots takes nothing anyone could refuse; a refusal
            // (a terminated wallet) leaves them to the wallet's own fate.
            Err(refusal) => {
                tracing::warn!(wallet = %self.wallet.id, %refusal, "lot expiry refused");
            }
        }
    }

    /// Applies top-up rule `rule_id`; a rule that adds nothing leaves a
    /// `wallet.topup_failed` event saying why, never silence.
    fn fire_rule(
        &mut self,
        rule_id: &str,
        source: Source,
        key: Option<KeyCheck>,
        ops: &mut Vec<WriteOp>,
    ) {
        let command = Command::RuleTopUp {
            rule_id: rule_id.to_owned(),
            source,
        };
        let now_ms = self.shared.clock.now_ms();
        let idempotency_key = key.as_ref().map(|check| check.key.clone());
        let trigger = source.as_str();
        match self
            .wallet
            .apply(TxnId::generate(now_ms), &command, idempotency_key, now_ms)
        {
            Ok(entry) => {
                self.count_topup(trigger, "ok");
                self.stage(key.as_ref(), &Arc::new(entry), ops);
            }
            Err(refusal) => {
                self.count_topup(trigger, "failed");
                tracing::info!(wallet = %self.wallet.id, rule = rule_id, %refusal, "automatic top-up added nothing");
                let details = vec![
                    ("rule_id".to_owned(), rule_id.to_owned()),
                    ("trigger".to_owned(), trigger.to_owned()),
                    ("reason".to_owned(), refusal.to_string()),
                ];
                self.emit(EventKind::TopUpFailed, None, details, ops);
            }
        }
    }

    fn count_topup(&self, trigger: &str, outcome: &str) {
        self.shared
            .metrics
            .automatic_topups
            .with_label_values(&[trigger, outcome])
            .inc();
    }

    /// Writes an event of `kind` into the outbox with this turn's changes.
    /// Wallet events carry the wallet as it now stands.
    fn emit(
        &mut self,
        kind: EventKind,
        entry: Option<&Entry>,
        details: Metadata,
        ops: &mut Vec<WriteOp>,
    ) {
        let outbox = &self.shared.outbox;
        if !outbox.records(kind) {
            return;
        }
        let now_ms = self.shared.clock.now_ms();
        let new = outbox.event(kind, &self.wallet, now_ms, entry, details);
        self.shared
            .metrics
            .events
            .with_label_values(&[kind.as_str()])
            .inc();
        ops.extend(event_ops(&new.event));
        self.reservations.push(new.reservation);
    }

    /// Closes a turn: moves the wallet's schedule entry if its next wake
    /// came earlier (or, in a timer turn, changed), and checkpoints the wallet's state when the turn changed
    /// something its ledger entries do not carry (`stateful`: a timer turn
    /// moves rule schedules and notice flags; a new wake time), or when
    /// [`CHECKPOINT_EVERY`] entries have passed since the last checkpoint.
    /// Otherwise the turn writes only its entries: one memtable insert per
    /// change instead of two, and no state bytes in the WAL.
    fn finish(&mut self, ops: &mut Vec<WriteOp>, stateful: bool) {
        let wake = self.wallet.next_wake(self.shared.notice_lead_ms);
        // Only a timer turn (or a PUT, also stateful) sets the wake exactly.
        // Any other turn moves it only earlier: a wake that would move later
        // or go away (a capture of the wallet's only hold) stays where it
        // is, and the timer's visit then finds nothing due and moves it.
        // One spurious visit per wake instead of a schedule move and a
        // checkpoint on every hold and capture.
        let wake_moved = match (self.wallet.wake_at_ms, wake) {
            _ if stateful => wake != self.wallet.wake_at_ms,
            (Some(stored), Some(new)) => new < stored,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if wake_moved {
            if let Some(old) = self.wallet.wake_at_ms {
                ops.push(WriteOp::Delete {
                    cf: Cf::Schedule,
                    key: keys::schedule(old, &self.wallet.id),
                });
            }
            if let Some(new) = wake {
                ops.push(WriteOp::Put {
                    cf: Cf::Schedule,
                    key: keys::schedule(new, &self.wallet.id),
                    value: Vec::new(),
                });
            }
            self.wallet.wake_at_ms = wake;
        }
        let due = self.wallet.seq >= self.checkpoint_seq.saturating_add(CHECKPOINT_EVERY);
        if stateful || wake_moved || due || self.totals_unsaved {
            ops.push(WriteOp::Put {
                cf: Cf::Wallets,
                key: keys::wallet(&self.wallet.id),
                value: codec::encode(&self.wallet),
            });
            ops.push(WriteOp::Put {
                cf: Cf::Totals,
                key: keys::wallet(&self.wallet.id),
                value: codec::encode(&self.totals),
            });
            self.totals_unsaved = false;
            self.checkpoint_seq = self.wallet.seq;
        }
    }

    /// Queues `ops` (entries up to `last_seq`) with the turn's event ids;
    /// `done` runs after the sync. Returns false when the queue refused
    /// them: `done` has then already run with the error and the caller must
    /// roll back.
    fn submit(
        &mut self,
        ops: Vec<WriteOp>,
        last_seq: u64,
        done: impl FnOnce(Result<(), CommitError>) + Send + 'static,
    ) -> bool {
        let pending = Arc::clone(&self.pending);
        let durable_seq = Arc::clone(&self.durable_seq);
        let reservations = std::mem::take(&mut self.reservations);
        let hold_steps = std::mem::take(&mut self.hold_steps);
        let metrics = self.shared.metrics.clone();
        pending.fetch_add(1, Ordering::AcqRel);
        self.shared.commit.submit(CommitRequest {
            epoch: self.epoch,
            ops,
            done: Box::new(move |outcome| {
                if outcome.is_ok() {
                    durable_seq.fetch_max(last_seq, Ordering::AcqRel);
                    for (step, credits) in hold_steps {
                        let signed = if step == HoldStep::Place {
                            credits
                        } else {
                            credits.negated()
                        };
                        metrics.record_hold(step, signed);
                    }
                }
                // The events are readable now (or will never be): move the
                // watermark before the replies leave.
                watermark::settle(reservations, &outcome);
                pending.fetch_sub(1, Ordering::AcqRel);
                done(outcome);
            }),
        })
    }

    /// What a turn starts from, to undo it with [`WalletActor::rollback`].
    fn before_turn(&self) -> Before {
        Before {
            wallet: self.wallet.clone(),
            totals: self.totals,
            totals_unsaved: self.totals_unsaved,
            checkpoint_seq: self.checkpoint_seq,
        }
    }

    /// Undoes a turn that will not be written (the commit queue refused it,
    /// or a step of it failed): its event ids are released, and a checkpoint
    /// it meant to write was not written, so the stored one is where it was
    /// before the turn (exactly: earlier checkpoints were either written or
    /// failed, and a failure reloads the actor from disk).
    fn rollback(&mut self, before: Before) {
        let Before {
            wallet: before,
            totals,
            totals_unsaved,
            checkpoint_seq,
        } = before;
        let seq = before.seq;
        self.totals = totals;
        self.totals_unsaved = totals_unsaved;
        self.checkpoint_seq = checkpoint_seq;
        self.wallet = before;
        self.recent.retain(|_, recent| recent.entry.seq <= seq);
        self.resolved.retain(|_, record| {
            record.resolved_seq.is_none_or(|resolved| resolved <= seq)
                && record.late_capture_seq.is_none_or(|late| late <= seq)
        });
        self.reservations.clear();
        self.hold_steps.clear();
    }

    /// Applies one decided entry and queues it; the reply leaves after the sync.
    fn commit(&mut self, job: &Job, entry: Arc<Entry>, reply: ReceiptReply) {
        let before = self.before_turn();
        let mut ops = Vec::with_capacity(8);
        self.stage(job.key.as_ref(), &entry, &mut ops);
        if let Some(also) = &job.also {
            ops.extend((also.0)(&entry));
        }
        // A PUT's terms travel in its UPDATE entry, yet a whole new terms
        // record is checkpointed now rather than replayed later.
        let stateful = matches!(job.command, Command::Configure(_));
        self.finish(&mut ops, stateful);
        let receipt = self.receipt(Arc::clone(&entry), false);
        let accepted = self.submit(ops, self.wallet.seq, move |outcome| {
            let _ = reply.send(Answer::Done(outcome.map(|()| receipt).map_err(Error::from)));
        });
        if !accepted {
            self.rollback(before);
        }
    }

    /// Runs a batch of jobs in order; one commit request covers all of them.
    ///
    /// Every result waits for that commit, and when it fails every job fails
    /// with its error: replays and refusals were decided against the staged
    /// state of earlier jobs, so they are only true if those jobs are durable.
    fn execute_batch(&mut self, jobs: &[Arc<Job>], reply: BatchReply) {
        if let Err(error) = self.reload_if_failed() {
            let _ = reply.send(Answer::Done(Err(error)));
            return;
        }
        let before = self.before_turn();
        let mut ops = Vec::new();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let result = match self.decide_loaded(job) {
                Ok(Decision::Apply(entry)) => {
                    self.stage(job.key.as_ref(), &entry, &mut ops);
                    Ok(self.receipt(entry, false))
                }
                Ok(Decision::Replay(receipt)) => Ok(receipt),
                Err(error) => Err(error),
            };
            results.push(result);
        }
        if ops.is_empty() {
            self.reply_in_order(reply, Ok(results));
            return;
        }
        self.finish(&mut ops, false);
        let last_seq = self.wallet.seq;
        let accepted = self.submit(ops, last_seq, move |outcome| {
            let results = match outcome {
                Ok(()) => results,
                Err(error) => results.iter().map(|_| Err(Error::from(error))).collect(),
            };
            let _ = reply.send(Answer::Done(Ok(results)));
        });
        if !accepted {
            self.rollback(before);
        }
    }

    /// Does what is due at `now_ms`: the wallet's own expiry (termination),
    /// lot expiries, interval top-ups (once, however many periods a downtime
    /// missed) and expiry notices.
    fn run_due(&mut self, now_ms: i64, ops: &mut Vec<WriteOp>) -> Result<(), Error> {
        if self.wallet.status == WalletStatus::Terminated {
            return Ok(());
        }
        let wallet_expires = self
            .wallet
            .terms
            .expiration_at_ms
            .is_some_and(|at| at <= now_ms);
        // Holds whose expiry came go back first (all of them when the wallet
        // itself expires), so the lot expiry below takes what they return.
        // At most a bounded number per turn: the wake stays due, so the
        // timer's next pass does the rest (one bounded write each).
        let due: Vec<HoldId> = self
            .wallet
            .holds
            .iter()
            .filter(|hold| wallet_expires || hold.expires_at_ms <= now_ms)
            .take(EXPIRIES_PER_TURN)
            .map(|hold| hold.id.clone())
            .collect();
        // The wallet itself expires once all its holds are given back.
        let holds_left = due.len() < self.wallet.holds.len();
        for hold in due {
            let entry = self.wallet.apply(
                TxnId::generate(now_ms),
                &Command::ExpireHold { hold },
                None,
                now_ms,
            )?;
            self.stage(None, &Arc::new(entry), ops);
        }
        if wallet_expires && holds_left {
            return Ok(());
        }
        if wallet_expires {
            let entry = self.wallet.apply(
                TxnId::generate(now_ms),
                &Command::ExpireWallet,
                None,
                now_ms,
            )?;
            self.stage(None, &Arc::new(entry), ops);
            return Ok(());
        }
        if self
            .wallet
            .lots
            .iter()
            .any(|lot| lot.expires_at_ms.is_some_and(|at| at <= now_ms))
        {
            let entry =
                self.wallet
                    .apply(TxnId::generate(now_ms), &Command::ExpireLots, None, now_ms)?;
            self.stage(None, &Arc::new(entry), ops);
        }
        for index in 0..self.wallet.terms.rules.len() {
            let rule = &self.wallet.terms.rules[index];
            let Some((due_ms, next)) = rule.catch_up(now_ms) else {
                continue;
            };
            let rule_id = rule.id.clone();
            if let Trigger::Interval { next: stored, .. } =
                &mut Arc::make_mut(&mut self.wallet.terms).rules[index].trigger
            {
                *stored = next;
            }
            // The key `(rule, due time)` is what makes a repeated tick (after
            // a crash between write and reply) a replay, not a second top-up.
            let key = format!("interval:{rule_id}:{due_ms}");
            let command = Command::RuleTopUp {
                rule_id: rule_id.clone(),
                source: Source::Interval,
            };
            // Kept apart from every client key (`keys::internal_idempotency`):
            // a client cannot send this key first and so cancel the top-up.
            let check = KeyCheck {
                record_key: keys::internal_idempotency(&self.wallet.id, &key),
                fingerprint: idempotency::fingerprint(self.wallet.id.as_str(), &command),
                key,
                as_sent: None,
                earlier: None,
            };
            if self.lookup_key(&check)?.is_some() {
                continue;
            }
            self.fire_rule(&rule_id, Source::Interval, Some(check), ops);
        }
        self.send_notices(now_ms, ops);
        Ok(())
    }

    /// `wallet.lot_expiring` for each lot (and the wallet) whose expiry is
    /// within the notice lead time, once each.
    fn send_notices(&mut self, now_ms: i64, ops: &mut Vec<WriteOp>) {
        let lead = self.shared.notice_lead_ms;
        let mut notices = Vec::new();
        for lot in &mut self.wallet.lots {
            if let Some(at) = lot.expires_at_ms {
                if !lot.notified && at.saturating_sub(lead) <= now_ms {
                    lot.notified = true;
                    notices.push(vec![
                        ("lot_id".to_owned(), lot.id.to_string()),
                        ("credit_kind".to_owned(), lot.kind.as_str().to_owned()),
                        ("remaining_credits".to_owned(), lot.remaining.to_string()),
                        ("expires_at_ms".to_owned(), at.to_string()),
                    ]);
                }
            }
        }
        if let Some(at) = self.wallet.terms.expiration_at_ms {
            if !self.wallet.expiry_notified && at.saturating_sub(lead) <= now_ms {
                self.wallet.expiry_notified = true;
                notices.push(vec![
                    ("scope".to_owned(), "wallet".to_owned()),
                    ("expires_at_ms".to_owned(), at.to_string()),
                ]);
            }
        }
        for details in notices {
            self.emit(EventKind::LotExpiring, None, details, ops);
        }
    }

    /// One timer wake-up: does what is due, then moves the schedule entry.
    fn tick(&mut self, due_ms: i64, reply: oneshot::Sender<Answer<()>>) {
        if let Err(error) = self.reload_if_failed() {
            let _ = reply.send(Answer::Done(Err(error)));
            return;
        }
        let before = self.before_turn();
        let mut ops = Vec::new();
        let now_ms = self.shared.clock.now_ms();
        if let Err(error) = self.run_due(now_ms, &mut ops) {
            self.rollback(before);
            let _ = reply.send(Answer::Done(Err(error)));
            return;
        }
        self.finish(&mut ops, true);
        // The key that woke us may be stale: the wallet's wake moved since.
        if self.wallet.wake_at_ms != Some(due_ms) {
            ops.push(WriteOp::Delete {
                cf: Cf::Schedule,
                key: keys::schedule(due_ms, &self.wallet.id),
            });
        }
        let accepted = self.submit(ops, self.wallet.seq, move |outcome| {
            let _ = reply.send(Answer::Done(outcome.map_err(Error::from)));
        });
        if !accepted {
            self.rollback(before);
        }
    }

    /// Retires the actor if it has been idle and has nothing in flight.
    fn retire_if_idle(&mut self, ctx: &mut Context<Self>) {
        if self.last_used.elapsed() >= self.shared.idle_timeout {
            self.retire(ctx);
        }
    }

    /// Leaves memory unless writes are in flight (they need the actor to
    /// order replies; it is asked again later). Messages already queued get
    /// `Retry` and reach a fresh actor, loaded from disk, which holds every
    /// write of this one.
    fn retire(&mut self, ctx: &mut Context<Self>) -> bool {
        if self.pending.load(Ordering::Acquire) > 0 {
            return false;
        }
        let Ok(mut registry) = self.registry.write() else {
            return false;
        };
        // Only the registered actor of this wallet removes the entry.
        registry.remove_if(&self.wallet.id, &ctx.address());
        drop(registry);
        self.retired = true;
        ctx.stop();
        true
    }
}

impl Actor for WalletActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.shared.metrics.resident_actors.inc();
        let every = (self.shared.idle_timeout / 2).max(Duration::from_millis(50));
        ctx.run_interval(every, |actor, ctx| actor.retire_if_idle(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.shared.metrics.resident_actors.dec();
    }
}

impl Handler<Execute> for WalletActor {
    type Result = ();

    fn handle(&mut self, message: Execute, _ctx: &mut Context<Self>) {
        self.shared.metrics.mailbox_depth.dec();
        if self.retired {
            let _ = message.reply.send(Answer::Retry);
            return;
        }
        self.touch();
        match self.decide(&message.job) {
            Ok(Decision::Apply(entry)) => self.commit(&message.job, entry, message.reply),
            Ok(Decision::Replay(receipt)) => self.reply_in_order(message.reply, Ok(receipt)),
            Err(error) => self.reply_in_order(message.reply, Err(error)),
        }
    }
}

impl Handler<ExecuteBatch> for WalletActor {
    type Result = ();

    fn handle(&mut self, message: ExecuteBatch, _ctx: &mut Context<Self>) {
        self.shared.metrics.mailbox_depth.dec();
        if self.retired {
            let _ = message.reply.send(Answer::Retry);
            return;
        }
        self.touch();
        self.execute_batch(&message.jobs, message.reply);
    }
}

impl Handler<Tick> for WalletActor {
    type Result = ();

    fn handle(&mut self, message: Tick, _ctx: &mut Context<Self>) {
        self.shared.metrics.mailbox_depth.dec();
        if self.retired {
            let _ = message.reply.send(Answer::Retry);
            return;
        }
        self.touch();
        self.tick(message.due_ms, message.reply);
    }
}

impl Handler<Evict> for WalletActor {
    type Result = ();

    fn handle(&mut self, _message: Evict, ctx: &mut Context<Self>) {
        self.evict(ctx);
    }
}

impl WalletActor {
    /// Leaves memory as the clock hand asked. Writes in flight delay it: it
    /// tries again shortly, so a cap reached in a burst still holds after.
    /// Messages queued behind the request get `Retry` and reach a fresh
    /// actor; a wallet in steady use is not picked in the first place (its
    /// `used` flag is up whenever the hand passes).
    fn evict(&mut self, ctx: &mut Context<Self>) {
        if self.retired {
            return;
        }
        if self.retire(ctx) {
            self.shared.metrics.actor_evictions.inc();
        } else {
            ctx.run_later(EVICT_RETRY, |actor, ctx| actor.evict(ctx));
        }
    }
}

/// Holds one timer turn expires at most.
const EXPIRIES_PER_TURN: usize = 1_000;

/// Resolved hold records an actor keeps in memory before dropping the
/// durable ones (see `WalletActor::remember_resolved`).
const RESOLVED_KEPT: usize = 256;

/// How soon an actor asked to leave while writes were in flight tries again.
const EVICT_RETRY: Duration = Duration::from_millis(5);

impl Handler<Inspect> for WalletActor {
    type Result = ();

    fn handle(&mut self, message: Inspect, _ctx: &mut Context<Self>) {
        if self.retired {
            let _ = message.reply.send(Answer::Retry);
            return;
        }
        self.touch();
        let result = self.reload_if_failed().map(|()| self.wallet.clone());
        self.reply_in_order(message.reply, result);
    }
}

impl Handler<InspectTotals> for WalletActor {
    type Result = ();

    fn handle(&mut self, message: InspectTotals, _ctx: &mut Context<Self>) {
        if self.retired {
            let _ = message.reply.send(Answer::Retry);
            return;
        }
        self.touch();
        let result = self
            .reload_if_failed()
            .map(|()| (self.wallet.clone(), self.totals));
        self.reply_in_order(message.reply, result);
    }
}

/// The state a turn started from.
struct Before {
    wallet: Wallet,
    totals: Totals,
    totals_unsaved: bool,
    checkpoint_seq: u64,
}

/// A wallet as read from disk: its stored checkpoint with the ledger
/// entries after it replayed, its lifetime totals likewise, and the
/// sequence number of that checkpoint.
pub(crate) struct Loaded {
    pub(crate) wallet: Wallet,
    pub(crate) totals: Totals,
    pub(crate) checkpoint_seq: u64,
    /// The totals were summed from the whole ledger (none stored at the
    /// checkpoint): the next turn writes them, so this happens once.
    pub(crate) totals_unsaved: bool,
}

/// Reads a wallet's durable state (see [`Loaded`]).
pub(crate) fn load(store: &dyn Store, id: &WalletId) -> Result<Option<Loaded>, Error> {
    let Some(bytes) = store.get(Cf::Wallets, &keys::wallet(id))? else {
        return Ok(None);
    };
    let checkpoint: Wallet = codec::decode(Cf::Wallets.name(), &bytes)?;
    let checkpoint_seq = checkpoint.seq;
    // Totals are checkpointed with the wallet, at its sequence number; a
    // wallet older than them (or a mismatch) has them summed from its whole
    // ledger, once per load until its next checkpoint writes them.
    let stored: Option<Totals> = match store.get(Cf::Totals, &keys::wallet(id))? {
        Some(bytes) => Some(codec::decode(Cf::Totals.name(), &bytes)?),
        None => None,
    };
    let (mut totals, from, totals_unsaved) =
        match stored.filter(|totals| totals.seq == checkpoint_seq) {
            Some(totals) => (totals, checkpoint_seq, false),
            None => (Totals::default(), 0, true),
        };
    let mut wallet = checkpoint;
    each_entry_after(store, id, from, |entry| {
        totals.apply(&entry);
        if entry.seq > wallet.seq {
            if entry.seq != wallet.seq + 1 {
                return Err(gap(&wallet, &entry));
            }
            wallet.advance(&entry);
        }
        Ok(())
    })?;
    Ok(Some(Loaded {
        wallet,
        totals,
        checkpoint_seq,
        totals_unsaved,
    }))
}

fn gap(wallet: &Wallet, entry: &Entry) -> Error {
    crate::store::StoreError::Corrupt {
        cf: "ledger",
        reason: format!(
            "wallet {} has entry #{} after #{}",
            wallet.id, entry.seq, wallet.seq
        ),
    }
    .into()
}

/// Calls `visit` with each ledger entry of `id` after `seq`, in order.
fn each_entry_after(
    store: &dyn Store,
    id: &WalletId,
    seq: u64,
    mut visit: impl FnMut(Entry) -> Result<(), Error>,
) -> Result<(), Error> {
    let prefix = keys::ledger_prefix(id);
    let mut after = keys::ledger(id, seq);
    loop {
        let pairs = store.scan(crate::store::Scan {
            cf: Cf::Ledger,
            prefix: &prefix,
            start_exclusive: Some(&after),
            direction: crate::store::Direction::Forward,
            limit: CHECKPOINT_EVERY as usize,
        })?;
        let Some((last, _)) = pairs.last() else {
            return Ok(());
        };
        after = last.clone();
        let full = pairs.len() == CHECKPOINT_EVERY as usize;
        for (_, value) in &pairs {
            visit(codec::decode(Cf::Ledger.name(), value)?)?;
        }
        if !full {
            return Ok(());
        }
    }
}

/// Reads a wallet's durable state.
pub(crate) fn load_wallet(store: &dyn Store, id: &WalletId) -> Result<Option<Wallet>, Error> {
    Ok(load(store, id)?.map(|loaded| loaded.wallet))
}

/// Brings a stored checkpoint up to date: applies the ledger entries after
/// its sequence number, in order.
pub(crate) fn replay_tail(store: &dyn Store, checkpoint: Wallet) -> Result<Wallet, Error> {
    let mut wallet = checkpoint;
    let id = wallet.id.clone();
    each_entry_after(store, &id, wallet.seq, |entry| {
        if entry.seq != wallet.seq + 1 {
            return Err(gap(&wallet, &entry));
        }
        wallet.advance(&entry);
        Ok(())
    })?;
    Ok(wallet)
}

/// Reads one durable ledger entry; its absence is corruption.
pub(crate) fn load_entry(store: &dyn Store, id: &WalletId, seq: u64) -> Result<Entry, Error> {
    let bytes = store
        .get(Cf::Ledger, &keys::ledger(id, seq))?
        .ok_or_else(|| crate::store::StoreError::Corrupt {
            cf: "ledger",
            reason: format!("missing entry {id}#{seq}"),
        })?;
    Ok(codec::decode(Cf::Ledger.name(), &bytes)?)
}

pub use crate::store::TxnLocation;

/// The writes of one ledger entry: the entry, and its place in the global
/// transaction index.
pub(crate) fn ledger_ops(entry: &Entry) -> [WriteOp; 2] {
    [
        WriteOp::Put {
            cf: Cf::Ledger,
            key: keys::ledger(&entry.wallet_id, entry.seq),
            value: codec::encode(entry),
        },
        WriteOp::Put {
            cf: Cf::Transactions,
            key: keys::transaction(&entry.txn_id),
            value: codec::encode(&TxnLocation {
                wallet_id: entry.wallet_id.clone(),
                seq: entry.seq,
            }),
        },
    ]
}

/// A hold's record, from disk.
pub(crate) fn read_hold(store: &dyn Store, id: &HoldId) -> Result<Option<HoldRecord>, Error> {
    match store.get(Cf::Holds, &holds::keys::record(id))? {
        Some(bytes) => Ok(Some(codec::decode(Cf::Holds.name(), &bytes)?)),
        None => Ok(None),
    }
}
