//! `Router`: maps a wallet id to its shard (one actix `Arbiter` thread per
//! shard, chosen by hashing the id) and to its resident `WalletActor`,
//! starting the actor from disk on first use.
//!
//! Each shard keeps its registry behind an `RwLock`: lookups of resident
//! actors share a read lock; only starting or retiring an actor writes.
//! The wallet is loaded from disk while the write lock is held, so a wallet
//! can never have two actors, or an actor with state older than disk.
// #[PerformanceCriticalPath]

use crate::actor::{load, Evict, Loaded, Registry, Shared, WalletActor};
use crate::error::Error;
use crate::ids::WalletId;
use crate::residents::Resident;
use actix::{Actor, Addr, Arbiter, ArbiterHandle};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Actors asked to leave at once when a shard is over its share: a few at a
/// time, so the clock hand's walk is paid once per several new residents.
const EVICT_BATCH: usize = 16;

struct Shard {
    handle: ArbiterHandle,
    /// Taken (stopped and joined) at shutdown.
    arbiter: std::sync::Mutex<Option<Arbiter>>,
    registry: Registry,
}

/// Wallet id → shard → resident actor.
pub(crate) struct Router {
    shards: Vec<Shard>,
    shared: Arc<Shared>,
    /// Each shard's share of `actors_resident_max` (0: no limit).
    resident_max_per_shard: usize,
}

impl Router {
    /// Starts `shards` arbiter threads. Must run inside an actix `System`.
    pub(crate) fn new(shards: usize, resident_max: usize, shared: Arc<Shared>) -> Router {
        assert!(shards > 0, "at least one shard");
        let resident_max_per_shard = resident_max.div_ceil(shards);
        let shards = (0..shards)
            .map(|_| {
                let arbiter = Arbiter::new();
                Shard {
                    handle: arbiter.handle(),
                    arbiter: std::sync::Mutex::new(Some(arbiter)),
                    registry: Registry::default(),
                }
            })
            .collect();
        Router {
            shards,
            shared,
            resident_max_per_shard,
        }
    }

    fn shard(&self, id: &WalletId) -> &Shard {
        // DefaultHasher::new() uses fixed keys, so a wallet keeps its shard
        // across restarts (useful when reading logs; nothing depends on it).
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        let index = (hasher.finish() % self.shards.len() as u64) as usize;
        &self.shards[index]
    }

    /// The wallet's actor if it is in memory.
    pub(crate) fn resident(&self, id: &WalletId) -> Option<Addr<WalletActor>> {
        let registry = self.shard(id).registry.read().ok()?;
        registry.get(id).cloned()
    }

    /// The wallet's actor, started from disk if needed; `None` if the wallet
    /// does not exist.
    pub(crate) fn actor(&self, id: &WalletId) -> Result<Option<Addr<WalletActor>>, Error> {
        if let Some(addr) = self.resident(id) {
            return Ok(Some(addr));
        }
        let shard = self.shard(id);
        let mut registry = shard
            .registry
            .write()
            .map_err(|_| Error::Overloaded("shard registry poisoned"))?;
        if let Some(addr) = registry.get(id) {
            return Ok(Some(addr.clone()));
        }
        // Read the epoch before the state: if a write fails in between, the
        // actor starts with an old epoch and reloads on its first message.
        let epoch = self.shared.commit.epoch();
        let Some(loaded) = load(self.shared.store.as_ref(), id)? else {
            return Ok(None);
        };
        let used = Arc::new(AtomicBool::new(true));
        let addr = self.spawn(
            &shard.handle,
            loaded,
            epoch,
            Arc::clone(&shard.registry),
            Arc::clone(&used),
        );
        registry.insert(
            id.clone(),
            Resident {
                addr: addr.clone(),
                used,
            },
        );
        let max = self.resident_max_per_shard;
        if max > 0 && registry.len() > max {
            let over = registry.len() - max;
            for victim in registry.victims(over.max(EVICT_BATCH)) {
                // A full mailbox means a busy actor: not one to evict.
                let _ = victim.try_send(Evict);
            }
        }
        Ok(Some(addr))
    }

    fn spawn(
        &self,
        arbiter: &ArbiterHandle,
        loaded: Loaded,
        epoch: u64,
        registry: Registry,
        used: Arc<AtomicBool>,
    ) -> Addr<WalletActor> {
        let shared = Arc::clone(&self.shared);
        WalletActor::start_in_arbiter(arbiter, move |ctx| {
            ctx.set_mailbox_capacity(shared.mailbox_capacity);
            WalletActor::new(loaded, epoch, shared, registry, used)
        })
    }

    /// Stops every shard thread (and with them every actor) and waits for
    /// them to exit, so nothing holds the store afterwards.
    pub(crate) fn stop(&self) {
        for shard in &self.shards {
            if let Ok(mut registry) = shard.registry.write() {
                registry.clear();
            }
            let arbiter = shard
                .arbiter
                .lock()
                .ok()
                .and_then(|mut arbiter| arbiter.take());
            if let Some(arbiter) = arbiter {
                arbiter.stop();
                if arbiter.join().is_err() {
                    tracing::error!("a shard thread panicked");
                }
            }
        }
    }
}
