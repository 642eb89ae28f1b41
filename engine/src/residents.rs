//! The resident wallet actors of one shard, and which of them leave memory
//! when the shard holds more than its share of `actors_resident_max`.
//!
//! Eviction is CLOCK (second chance), an approximation of least recently
//! used that costs one relaxed atomic store per message: each actor raises
//! its `used` flag whenever it handles a message; the hand walks the
//! residents in insertion order, lowers raised flags and picks those still
//! lowered. A picked actor is only *asked* to leave (`Evict`): it goes when
//! its mailbox reaches the request and nothing of it is pending, exactly as
//! an idle actor retires, so a wallet never has two actors.

use crate::actor::WalletActor;
use crate::ids::WalletId;
use actix::Addr;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One resident actor.
pub(crate) struct Resident {
    pub(crate) addr: Addr<WalletActor>,
    /// Raised by the actor on every message; lowered by the clock hand.
    pub(crate) used: Arc<AtomicBool>,
}

/// The residents of one shard, with the clock hand's queue.
#[derive(Default)]
pub(crate) struct Residents {
    map: HashMap<WalletId, Resident>,
    /// Wallet ids in the order the hand visits them; may hold ids that have
    /// since left (skipped and dropped when the hand reaches them).
    clock: VecDeque<WalletId>,
}

impl Residents {
    /// The resident actor of `id`.
    pub(crate) fn get(&self, id: &WalletId) -> Option<&Addr<WalletActor>> {
        self.map.get(id).map(|resident| &resident.addr)
    }

    /// Actors resident now.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Registers a new resident.
    pub(crate) fn insert(&mut self, id: WalletId, resident: Resident) {
        self.clock.push_back(id.clone());
        self.map.insert(id, resident);
        // Ids of actors that retired on their own pile up in the queue
        // until the hand passes; rebuild it before it outgrows the map.
        if self.clock.len() > 2 * self.map.len() + 64 {
            self.clock = self.map.keys().cloned().collect();
        }
    }

    /// Removes `id` if `addr` is still its registered actor.
    pub(crate) fn remove_if(&mut self, id: &WalletId, addr: &Addr<WalletActor>) {
        if self.get(id) == Some(addr) {
            self.map.remove(id);
        }
    }

    /// Forgets every resident (shutdown).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.clock.clear();
    }

    /// Up to `count` residents not used since the hand last passed them.
    /// The hand goes round at most once.
    pub(crate) fn victims(&mut self, count: usize) -> Vec<Addr<WalletActor>> {
        let mut victims = Vec::with_capacity(count);
        for _ in 0..self.clock.len() {
            if victims.len() == count {
                break;
            }
            let Some(id) = self.clock.pop_front() else {
                break;
            };
            let Some(resident) = self.map.get(&id) else {
                continue; // left already
            };
            if !resident.used.swap(false, Ordering::Relaxed) {
                victims.push(resident.addr.clone());
            }
            self.clock.push_back(id);
        }
        victims
    }
}
