//! Durable group commit: `CommitQueue` (a bounded crossbeam channel) feeds one
//! writer thread that drains everything waiting, writes it as one atomic batch
//! with one WAL sync, and only then runs each request's completion.
//!
//! Why one thread: a WAL sync costs the same for one request as for a
//! thousand, so batching is where durable throughput comes from (TigerBeetle,
//! TiKV). Completions run in queue order, so replies of one wallet leave in
//! the order its actor produced them.
//!
//! Failure epochs: when a write fails, every request in that group fails, the
//! epoch goes up, and every request stamped with an older epoch fails without
//! being written. A wallet actor that sees the new epoch reloads from disk, so
//! no state computed on top of a lost write can ever reach disk.
// #[PerformanceCriticalPath]

use crate::metrics::EngineMetrics;
use crate::store::{Store, WriteOp};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// When a write counts as acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After the WAL is synced to disk (the default): nothing acknowledged is
    /// lost, even on power loss.
    Sync,
    /// After the write reaches the operating system; the WAL is synced every
    /// `buffered_sync_interval`. Survives a process crash; a power loss may
    /// lose up to that interval of acknowledged writes.
    Buffered,
}

/// Why a commit did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    #[error("the storage write failed")]
    WriteFailed,
    #[error("an earlier write of this wallet failed; this one was not attempted")]
    Aborted,
    #[error("the commit queue is full")]
    QueueFull,
    #[error("the commit writer has stopped")]
    Closed,
}

/// Runs once the request's fate is known, on the writer thread. Must be quick.
pub type Completion = Box<dyn FnOnce(Result<(), CommitError>) + Send>;

/// One unit of work for the writer: ops to write atomically (possibly none,
/// to order a reply behind earlier writes) and what to do afterwards.
pub struct CommitRequest {
    /// The failure epoch the requester's state is based on.
    pub epoch: u64,
    /// Ops written in the same batch as the rest of the group.
    pub ops: Vec<WriteOp>,
    /// Called with the outcome after the sync that covers `ops`.
    pub done: Completion,
}

enum Message {
    Commit(CommitRequest),
    Stop,
}

/// Settings of the writer.
#[derive(Debug, Clone, Copy)]
pub struct CommitConfig {
    /// Requests that may wait in the queue before submitters get `QueueFull`.
    pub queue_capacity: usize,
    /// Requests merged into one batch at most.
    pub group_max: usize,
    /// When a write counts as acknowledged.
    pub durability: Durability,
    /// WAL sync period in `Buffered` mode.
    pub buffered_sync_interval: Duration,
}

/// The submitting side of the writer. Cheap to clone.
#[derive(Clone)]
pub struct CommitQueue {
    sender: Sender<Message>,
    epoch: Arc<AtomicU64>,
    metrics: EngineMetrics,
}

impl CommitQueue {
    /// The current failure epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Queues `request`. Returns false, after running its completion with the
    /// error, when the queue is full or closed: then nothing will be written.
    pub fn submit(&self, request: CommitRequest) -> bool {
        match self.sender.try_send(Message::Commit(request)) {
            Ok(()) => {
                self.metrics
                    .commit_queue_depth
                    .set(self.sender.len() as i64);
                true
            }
            Err(TrySendError::Full(Message::Commit(request))) => {
                self.metrics.commit_rejections.inc();
                (request.done)(Err(CommitError::QueueFull));
                false
            }
            Err(TrySendError::Disconnected(Message::Commit(request))) => {
                (request.done)(Err(CommitError::Closed));
                false
            }
            Err(TrySendError::Full(Message::Stop) | TrySendError::Disconnected(Message::Stop)) => {
                unreachable!("submit only sends commits")
            }
        }
    }
}

/// The writer thread; `stop` drains the queue and joins it.
pub struct CommitWriter {
    sender: Sender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl CommitWriter {
    /// Starts the writer thread over `store`.
    pub fn start(
        store: Arc<dyn Store>,
        config: CommitConfig,
        metrics: EngineMetrics,
    ) -> std::io::Result<(CommitQueue, CommitWriter)> {
        assert!(config.queue_capacity > 0 && config.group_max > 0);
        let (sender, receiver) = crossbeam_channel::bounded(config.queue_capacity);
        let epoch = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            store,
            config,
            epoch: Arc::clone(&epoch),
            metrics: metrics.clone(),
            group: Vec::with_capacity(config.group_max),
            unsynced: false,
        };
        let thread = std::thread::Builder::new()
            .name("tally-commit".into())
            .spawn(move || writer.run(receiver))?;
        let queue = CommitQueue {
            sender: sender.clone(),
            epoch,
            metrics,
        };
        let writer = CommitWriter {
            sender,
            thread: Mutex::new(Some(thread)),
        };
        Ok((queue, writer))
    }

    /// Finishes everything queued so far, syncs, and joins the thread.
    /// Requests submitted afterwards complete with `Closed`.
    pub fn stop(&self) {
        // A full queue still drains, so this blocking send always returns.
        let _ = self.sender.send(Message::Stop);
        let thread = self.thread.lock().ok().and_then(|mut thread| thread.take());
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("commit writer thread panicked");
            }
        }
    }
}

struct Writer {
    store: Arc<dyn Store>,
    config: CommitConfig,
    epoch: Arc<AtomicU64>,
    metrics: EngineMetrics,
    group: Vec<CommitRequest>,
    /// Buffered mode: writes made since the last WAL sync.
    unsynced: bool,
}

impl Writer {
    fn run(mut self, receiver: Receiver<Message>) {
        loop {
            let first = match receiver.recv_timeout(self.config.buffered_sync_interval) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    self.sync_if_buffered();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut stop = !self.collect(first);
            while !stop && self.group.len() < self.config.group_max {
                match receiver.try_recv() {
                    Ok(message) => stop = !self.collect(message),
                    Err(_) => break,
                }
            }
            self.metrics.commit_queue_depth.set(receiver.len() as i64);
            self.commit_group();
            if stop {
                break;
            }
        }
        self.sync_if_buffered();
        // Whatever was queued after Stop is refused, so no submitter waits forever.
        drop(receiver);
    }

    /// Adds a commit to the group; false on Stop.
    fn collect(&mut self, message: Message) -> bool {
        match message {
            Message::Commit(request) => {
                self.group.push(request);
                true
            }
            Message::Stop => false,
        }
    }

    fn commit_group(&mut self) {
        if self.group.is_empty() {
            return;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut live = Vec::with_capacity(self.group.len());
        for request in self.group.drain(..) {
            if request.epoch < epoch {
                (request.done)(Err(CommitError::Aborted));
            } else {
                live.push(request);
            }
        }
        let batches: Vec<&[WriteOp]> = live
            .iter()
            .map(|request| request.ops.as_slice())
            .filter(|ops| !ops.is_empty())
            .collect();
        let result = if batches.is_empty() {
            Ok(())
        } else {
            let sync = self.config.durability == Durability::Sync;
            let started = Instant::now();
            let result = self.store.write(&batches, sync);
            self.metrics
                .commit_sync_seconds
                .observe(started.elapsed().as_secs_f64());
            self.metrics.commit_group_size.observe(batches.len() as f64);
            self.unsynced |= !sync;
            result
        };
        drop(batches);
        match result {
            Ok(()) => live.into_iter().for_each(|request| (request.done)(Ok(()))),
            Err(error) => {
                tracing::error!(%error, requests = live.len(), "commit group failed");
                self.metrics.commit_failures.inc();
                self.epoch.fetch_add(1, Ordering::AcqRel);
                live.into_iter()
                    .for_each(|request| (request.done)(Err(CommitError::WriteFailed)));
            }
        }
    }

    fn sync_if_buffered(&mut self) {
        if !self.unsynced {
            return;
        }
        match self.store.sync_wal() {
            Ok(()) => self.unsynced = false,
            Err(error) => tracing::error!(%error, "periodic WAL sync failed"),
        }
    }
}
