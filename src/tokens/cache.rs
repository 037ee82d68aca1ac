//! Verified-token cache: a signature check costs far more than the HTTP around it,
//! and clients present the same token many times. Entries are keyed by the exact token string
//! (a changed byte is a miss and is verified in full), never outlive the token's `exp` (plus the
//! verification leeway), only verified tokens get in (random garbage cannot grow it), the size is
//! bounded, and everything is dropped when the key set changes.
//!
//! The key is the SHA-256 of the token, not the token: a dump of the process's memory holds no
//! usable bearer token, and an entry is under 1 KB instead of about 1.3 (the token alone is
//! ~700 bytes; 4,096 entries measured 3.4 MB against 5.2 before). Matching a digest is matching
//! the exact string: another token with the same SHA-256 would be a collision nobody can find.
//!
//! The map is `quick_cache`'s sharded cache: a hit takes one shard's read lock (no global write
//! lock on the hot path), and a full cache evicts single entries (S3-FIFO: tokens seen once go
//! first) instead of starting over, so a flood of fresh tokens has no cliff.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::AccessClaims;

/// A token's cache key: its SHA-256, computed once per verification (a lookup that misses is
/// followed by an insert under the same key).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    fn of(token: &str) -> Self {
        Self(crate::crypto::sha256(token.as_bytes()))
    }
}

#[derive(Clone)]
struct Entry {
    generation: u64,
    claims: Arc<AccessClaims>,
}

pub struct VerifiedCache {
    /// `None` when the cache is off.
    map: Option<quick_cache::sync::Cache<Key, Entry>>,
    /// The newest key-set generation seen by `insert`; moving past it empties the map.
    generation: AtomicU64,
}

impl VerifiedCache {
    /// `capacity` 0 disables the cache.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
            generation: AtomicU64::new(0),
        }
    }

    /// The key of `token`, or `None` when the cache is off (nothing to hash for).
    pub fn key(&self, token: &str) -> Option<Key> {
        self.map.as_ref().map(|_| Key::of(token))
    }

    /// The claims of a token verified before under the same key set, still within
    /// `exp + leeway` at `now`.
    pub fn get(
        &self,
        key: &Key,
        generation: u64,
        now: i64,
        leeway: i64,
    ) -> Option<Arc<AccessClaims>> {
        let entry = self.map.as_ref()?.get(key)?;
        (entry.generation == generation && now <= entry.claims.exp.saturating_add(leeway))
            .then_some(entry.claims)
    }

    /// Remembers a token that has just verified. Call only after a full verification.
    pub fn insert(&self, key: Key, claims: &Arc<AccessClaims>, generation: u64, now: i64) {
        let Some(map) = &self.map else {
            return;
        };
        if claims.exp < now {
            return;
        }
        // The first insert under a newer key set drops everything verified under older ones
        // (lookups already ignore them; this frees the memory).
        if self.generation.fetch_max(generation, Ordering::AcqRel) < generation {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                generation,
                claims: claims.clone(),
            },
        );
    }

    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(token: &str) -> Key {
        Key::of(token)
    }

    fn claims(exp: i64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "s".into(),
            iat: 0,
            nbf: 0,
            exp,
            jti: "j".into(),
            sid: "d".into(),
            email: "e".into(),
            email_verified: false,
            amr: vec![],
            aal: "aal1".into(),
            roles: vec![],
        })
    }

    #[test]
    fn a_token_is_cached_up_to_its_expiry_second_and_not_after() {
        let cache = VerifiedCache::new(10);
        assert!(cache.is_empty());
        cache.insert(k("at-exp"), &claims(100), 1, 100);
        assert!(!cache.is_empty());
        assert_eq!(cache.len(), 1, "exp == now still verifies, so it is kept");
        cache.insert(k("past"), &claims(100), 1, 101);
        assert_eq!(cache.len(), 1, "an expired token is not cached");
    }

    #[test]
    fn hits_only_the_exact_token_of_the_same_key_set_before_exp() {
        let cache = VerifiedCache::new(10);
        cache.insert(k("tok"), &claims(100), 1, 0);
        assert!(cache.get(&k("tok"), 1, 50, 30).is_some());
        assert!(
            cache.get(&k("tok "), 1, 50, 30).is_none(),
            "another string is a miss"
        );
        assert!(
            cache.get(&k("to"), 1, 50, 30).is_none(),
            "a prefix is a miss"
        );
        assert!(
            cache.get(&k("tok"), 2, 50, 30).is_none(),
            "another key set is a miss"
        );
        assert!(
            cache.get(&k("tok"), 1, 130, 30).is_some(),
            "inside the leeway"
        );
        assert!(
            cache.get(&k("tok"), 1, 131, 30).is_none(),
            "never past exp + leeway"
        );
    }

    #[test]
    fn stays_bounded_and_keeps_serving_when_full() {
        let cache = VerifiedCache::new(100);
        for i in 0..10_000 {
            cache.insert(k(&format!("t{i}")), &claims(1_000), 1, 0);
            assert!(cache.len() <= 100, "{} entries", cache.len());
        }
        // Evicting one entry at a time, not starting over: the cache is still (nearly) full
        // and the newest token is in it.
        assert!(cache.len() >= 50, "{} entries", cache.len());
        assert!(cache.get(&k("t9999"), 1, 0, 30).is_some());
    }

    #[test]
    fn a_token_presented_again_and_again_survives_a_flood_of_new_ones() {
        let cache = VerifiedCache::new(100);
        cache.insert(k("hot"), &claims(1_000), 1, 0);
        for i in 0..5_000 {
            assert!(
                cache.get(&k("hot"), 1, 0, 30).is_some(),
                "lost after {i} inserts"
            );
            cache.insert(k(&format!("t{i}")), &claims(1_000), 1, 0);
        }
    }

    #[test]
    fn disabled_cache_remembers_nothing() {
        let disabled = VerifiedCache::new(0);
        disabled.insert(k("t"), &claims(1_000), 1, 0);
        assert!(disabled.get(&k("t"), 1, 0, 30).is_none());
        assert!(disabled.is_empty());
        assert!(
            disabled.key("t").is_none(),
            "nothing hashed for a cache that is off"
        );
        assert!(VerifiedCache::new(1).key("t") == Some(k("t")));
    }

    #[test]
    fn a_new_key_set_empties_the_cache() {
        let cache = VerifiedCache::new(100);
        for i in 0..50 {
            cache.insert(k(&format!("t{i}")), &claims(1_000), 1, 0);
        }
        cache.insert(k("new"), &claims(1_000), 2, 0);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&k("new"), 2, 0, 30).is_some());
        // A late insert from a request verified under the old key set is never served.
        cache.insert(k("late"), &claims(1_000), 1, 0);
        assert!(cache.get(&k("late"), 2, 0, 30).is_none());
    }

    #[test]
    fn an_expired_token_is_not_remembered() {
        let cache = VerifiedCache::new(10);
        cache.insert(k("old"), &claims(10), 1, 20);
        assert!(cache.is_empty());
    }

    #[test]
    fn concurrent_readers_and_writers_stay_bounded() {
        let cache = Arc::new(VerifiedCache::new(64));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        let tok = format!("t{t}-{i}");
                        cache.insert(k(&tok), &claims(1_000), 1, 0);
                        let _ = cache.get(&k(&tok), 1, 0, 30);
                        assert!(cache.len() <= 64);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("worker thread");
        }
        assert!(cache.len() <= 64);
    }
}
