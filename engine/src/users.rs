//! The deposit API's user index (`users` CF: user → default wallet id),
//! cached in memory. A user's wallet never changes once created, so a cached
//! entry is never stale; only found users are cached (a miss may become a
//! new wallet a moment later). Batches of deposits resolve most users
//! without a RocksDB read.

use crate::ids::WalletId;
use std::collections::HashMap;
use std::sync::RwLock;

/// Users kept at most. Past it the cache starts over: simpler than an LRU,
/// and a full refill costs one point read per user.
const USERS_CACHED_MAX: usize = 262_144;

/// User → default wallet id, for users known to have one.
#[derive(Default)]
pub(crate) struct UserCache {
    map: RwLock<HashMap<String, WalletId>>,
}

impl UserCache {
    /// The cached wallet of `user`, if any.
    pub(crate) fn get(&self, user: &str) -> Option<WalletId> {
        self.map.read().ok()?.get(user).cloned()
    }

    /// Remembers `user`'s wallet (which exists on disk).
    pub(crate) fn insert(&self, user: &str, wallet: &WalletId) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.len() >= USERS_CACHED_MAX {
            map.clear();
        }
        map.insert(user.to_owned(), wallet.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_found_users_and_stays_bounded() {
        let cache = UserCache::default();
        let wallet = WalletId::generate(1);
        assert_eq!(cache.get("u"), None);
        cache.insert("u", &wallet);
        assert_eq!(cache.get("u"), Some(wallet.clone()));
        for n in 0..USERS_CACHED_MAX {
            cache.insert(&n.to_string(), &wallet);
        }
        let size = cache.map.read().map(|map| map.len()).unwrap_or(0);
        assert!(size <= USERS_CACHED_MAX, "{size}");
    }
}
