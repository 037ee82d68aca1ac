//! Verified-token cache (DESIGN §8): a signature check costs far more than the HTTP around it,
//! and clients present the same token many times. Entries are keyed by the exact token string
//! (a changed byte is a miss and is verified in full), never outlive the token's `exp` (plus the
//! verification leeway), only verified tokens get in (random garbage cannot grow it), the size is
//! bounded, and everything is dropped when the key set changes.

use std::collections::HashMap;
use std::sync::RwLock;

use super::AccessClaims;

pub struct VerifiedCache {
    capacity: usize,
    inner: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    map: HashMap<Box<str>, AccessClaims>,
}

impl VerifiedCache {
    /// `capacity` 0 disables the cache.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: RwLock::new(Entries::default()),
        }
    }

    /// The claims of a token verified before under the same key set, still within
    /// `exp + leeway` at `now`.
    pub fn get(&self, token: &str, generation: u64, now: i64, leeway: i64) -> Option<AccessClaims> {
        if self.capacity == 0 {
            return None;
        }
        let entries = self.inner.read().ok()?;
        if entries.generation != generation {
            return None;
        }
        entries
            .map
            .get(token)
            .filter(|c| now <= c.exp.saturating_add(leeway))
            .cloned()
    }

    pub fn insert(&self, token: &str, claims: &AccessClaims, generation: u64, now: i64) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut entries) = self.inner.write() else {
            return;
        };
        if entries.generation != generation {
            entries.map.clear();
            entries.generation = generation;
        }
        if entries.map.len() >= self.capacity {
            entries.map.retain(|_, c| c.exp > now);
            if entries.map.len() >= self.capacity {
                // Still full of live tokens: start over rather than scan for the oldest; the
                // next requests refill it. Bounded memory matters more than hit rate here.
                entries.map.clear();
            }
        }
        entries.map.insert(token.into(), claims.clone());
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|e| e.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
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
        }
    }

    #[test]
    fn hits_only_the_exact_token_of_the_same_key_set_before_exp() {
        let cache = VerifiedCache::new(10);
        cache.insert("tok", &claims(100), 1, 0);
        assert!(cache.get("tok", 1, 50, 30).is_some());
        assert!(
            cache.get("tok ", 1, 50, 30).is_none(),
            "another string is a miss"
        );
        assert!(
            cache.get("tok", 2, 50, 30).is_none(),
            "another key set is a miss"
        );
        assert!(cache.get("tok", 1, 130, 30).is_some(), "inside the leeway");
        assert!(
            cache.get("tok", 1, 131, 30).is_none(),
            "never past exp + leeway"
        );
    }

    #[test]
    fn stays_bounded() {
        let cache = VerifiedCache::new(100);
        for i in 0..10_000 {
            cache.insert(&format!("t{i}"), &claims(1_000), 1, 0);
            assert!(cache.len() <= 100);
        }
        let disabled = VerifiedCache::new(0);
        disabled.insert("t", &claims(1_000), 1, 0);
        assert!(disabled.get("t", 1, 0, 30).is_none());
    }
}
