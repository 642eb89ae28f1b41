//! `Router`: maps a wallet id to its shard (one actix `Arbiter` thread per
//! shard, chosen by hashing the id) and to its resident `WalletActor`,
//! starting the actor from disk on first use.
//!
//! Each shard keeps its registry behind an `RwLock`: lookups of resident
//! actors share a read lock; only starting or retiring an actor writes.
//! The wallet is loaded from disk while the write lock is held, so a wallet
//! can never have two actors, or an actor with state older than disk.
// #[PerformanceCriticalPath]

use crate::actor::{load, Loaded, Registry, Shared, WalletActor};
use crate::error::Error;
use crate::ids::WalletId;
use actix::{Actor, Addr, Arbiter, ArbiterHandle};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

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
}

impl Router {
    /// Starts `shards` arbiter threads. Must run inside an actix `System`.
    pub(crate) fn new(shards: usize, shared: Arc<Shared>) -> Router {
        assert!(shards > 0, "at least one shard");
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
        Router { shards, shared }
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
        let addr = self.spawn(&shard.handle, loaded, epoch, Arc::clone(&shard.registry));
        registry.insert(id.clone(), addr.clone());
        Ok(Some(addr))
    }

    fn spawn(
        &self,
        arbiter: &ArbiterHandle,
        loaded: Loaded,
        epoch: u64,
        registry: Registry,
    ) -> Addr<WalletActor> {
        let shared = Arc::clone(&self.shared);
        WalletActor::start_in_arbiter(arbiter, move |ctx| {
            ctx.set_mailbox_capacity(shared.mailbox_capacity);
            WalletActor::new(loaded, epoch, shared, registry)
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
