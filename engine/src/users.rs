//! Small caches of facts that never change once written, so a cached entry
//! is never stale: the deposit API's user → default wallet (`users` CF; only
//! found users are cached, since a miss may become a new wallet a moment
//! later), a wallet's currency and rate (fixed at creation), which a
//! transfer needs for each of its wallets, and a hold's wallet, which a
//! capture needs to find its actor.

use crate::ids::WalletId;
use crate::money::{Currency, Fixed};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

/// Entries kept at most per cache. Past it the cache starts over: simpler
/// than an LRU, and a full refill costs one read per entry.
const CACHED_MAX: usize = 262_144;

/// A bounded map of immutable facts.
pub(crate) struct Cache<K, V> {
    map: RwLock<HashMap<K, V>>,
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    /// The cached value of `key`, if any.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map.read().ok()?.get(key).cloned()
    }

    /// Remembers `value` for `key` (a fact that exists on disk).
    pub(crate) fn insert(&self, key: K, value: V) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= CACHED_MAX {
            map.clear();
        }
        map.insert(key, value);
    }
}

/// User → default wallet id, for users known to have one.
pub(crate) type UserCache = Cache<String, WalletId>;

/// Wallet → its currency and rate.
pub(crate) type MoneyCache = Cache<WalletId, (Currency, Fixed)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_found_users_and_stays_bounded() {
        let cache = UserCache::default();
        let wallet = WalletId::generate(1);
        assert_eq!(cache.get("u"), None);
        cache.insert("u".to_owned(), wallet.clone());
        assert_eq!(cache.get("u"), Some(wallet.clone()));
        for n in 0..CACHED_MAX {
            cache.insert(n.to_string(), wallet.clone());
        }
        let size = cache.map.read().map(|map| map.len()).unwrap_or(0);
        assert!(size <= CACHED_MAX, "{size}");
    }
}
