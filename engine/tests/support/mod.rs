//! Shared by the engine's test crates: a store layer that injects write
//! failures and pauses, over the real RocksDB store underneath.
#![allow(dead_code)] // each test crate uses part of it

use engine::engine::StoreLayer;
use engine::store::{Cf, ReadView, Scan, Store, StoreError, StoreStat, WriteOp};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A one-shot pause: the code that reaches it runs the hook (on its own thread).
pub(crate) type Hook = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// The test's handles on a [`FaultyStore`].
#[derive(Clone, Default)]
pub(crate) struct Faults {
    /// The next this many writes fail.
    pub(crate) fail_writes: Arc<AtomicUsize>,
    /// When set (`crash_after`), writes left before every write fails: the
    /// process as good as died there.
    pub(crate) writes_left: Arc<Mutex<Option<usize>>>,
    /// Runs once when an idempotency record is next read.
    pub(crate) on_lookup: Hook,
    /// Runs once when a write next starts.
    pub(crate) on_write: Hook,
    /// The real store underneath, once the engine has opened it.
    pub(crate) inner: Arc<Mutex<Option<Arc<dyn Store>>>>,
}

impl Faults {
    /// A store layer for `Engine::open_layered`, controlled through `self`.
    pub(crate) fn layer(&self) -> StoreLayer {
        let faults = self.clone();
        Box::new(move |inner| {
            *faults.inner.lock().expect("slot") = Some(Arc::clone(&inner));
            Arc::new(FaultyStore { inner, faults })
        })
    }

    /// The next `count` writes fail.
    pub(crate) fn fail_next_writes(&self, count: usize) {
        self.fail_writes.store(count, Ordering::SeqCst);
    }

    /// The next `count` writes succeed, every one after fails: a crash
    /// right after the `count`-th write, as far as disk can tell.
    pub(crate) fn crash_after(&self, count: usize) {
        *self.writes_left.lock().expect("slot") = Some(count);
    }

    /// The real store, for writing behind the engine's back.
    pub(crate) fn inner(&self) -> Arc<dyn Store> {
        self.inner
            .lock()
            .expect("slot")
            .clone()
            .expect("engine opened")
    }
}

fn fire(hook: &Hook) {
    let taken = hook.lock().expect("hook").take();
    if let Some(hook) = taken {
        hook();
    }
}

/// Passes everything through, but fails and pauses as [`Faults`] says.
struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Faults,
}

impl ReadView for FaultyStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if cf == Cf::Idempotency {
            fire(&self.faults.on_lookup);
        }
        self.inner.get(cf, key)
    }
    fn scan(&self, scan: Scan<'_>) -> Result<Vec<engine::store::Pair>, StoreError> {
        self.inner.scan(scan)
    }
}

impl Store for FaultyStore {
    fn snapshot(&self) -> Box<dyn ReadView + '_> {
        self.inner.snapshot()
    }
    fn write(&self, groups: &[&[WriteOp]], sync: bool) -> Result<(), StoreError> {
        fire(&self.faults.on_write);
        if let Some(left) = self.faults.writes_left.lock().expect("slot").as_mut() {
            if *left == 0 {
                return Err(StoreError::Backend("injected crash: no write lands".into()));
            }
            *left -= 1;
        }
        let failing = self
            .faults
            .fail_writes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Backend("injected write failure".into()));
        }
        self.inner.write(groups, sync)
    }
    fn sync_wal(&self) -> Result<(), StoreError> {
        self.inner.sync_wal()
    }
    fn stats(&self) -> Vec<StoreStat> {
        self.inner.stats()
    }
}
