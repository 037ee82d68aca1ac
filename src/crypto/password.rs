//! Password hashing: bcrypt over a fixed-length HMAC-SHA-384 pre-hash, so every byte
//! of a long password counts (bcrypt alone ignores everything past 72 bytes and stops at NUL).
//!
//! Stored form: `$agv1$` followed by the bcrypt hash of the pre-hash. A hash without the prefix
//! is plain bcrypt of the raw password (imported from another system) and still verifies.

use aws_lc_rs::hmac;
use base64::Engine as _;

use crate::domain::Password;
use crate::settings::Secret;

const PREFIX_V1: &str = "$agv1$";
/// Domain-separation key used when no pepper is configured: the pre-hash must still be an HMAC
/// so the construction is the same either way.
const DEFAULT_KEY: &[u8] = b"authgate password pre-hash v1";

#[derive(Clone)]
pub struct PasswordHasher {
    key: hmac::Key,
    cost: u32,
    /// A real hash of a random password at the configured cost: unknown accounts are verified
    /// against it so they cost as much time as known ones. Made on a background thread at start
    /// (a bcrypt hash is most of a cold start); the first use waits for it if it must.
    dummy: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn new(pepper: Option<&Secret>, cost: u32) -> anyhow::Result<Self> {
        let key_bytes = pepper.map_or(DEFAULT_KEY, |p| p.expose().as_bytes());
        let key = hmac::Key::new(hmac::HMAC_SHA384, key_bytes);
        let hasher = Self {
            key,
            cost,
            dummy: std::sync::Arc::default(),
        };
        let warm = hasher.clone();
        std::thread::spawn(move || {
            warm.dummy_hash();
        });
        Ok(hasher)
    }

    fn dummy_hash(&self) -> &str {
        self.dummy.get_or_init(|| {
            let random = crate::crypto::b64url(&crate::crypto::random_bytes::<24>());
            self.hash_raw(random.as_bytes()).unwrap_or_default()
        })
    }

    fn prehash(&self, password: &[u8]) -> String {
        let tag = hmac::sign(&self.key, password);
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    }

    fn hash_raw(&self, password: &[u8]) -> anyhow::Result<String> {
        let inner = bcrypt::hash(self.prehash(password), self.cost)?;
        Ok(format!("{PREFIX_V1}{inner}"))
    }

    /// A new stored hash. Slow by design: call it on the blocking pool.
    pub fn hash(&self, password: &Password) -> anyhow::Result<String> {
        self.hash_raw(password.expose().as_bytes())
    }

    /// Checks a password against a stored hash. A malformed stored hash is a mismatch.
    /// Slow by design: call it on the blocking pool.
    pub fn verify(&self, password: &Password, stored: &str) -> bool {
        let raw = password.expose().as_bytes();
        match stored.strip_prefix(PREFIX_V1) {
            Some(inner) => bcrypt::verify(self.prehash(raw), inner).unwrap_or(false),
            None if stored.starts_with("$2") => bcrypt::verify(raw, stored).unwrap_or(false),
            None => false,
        }
    }

    /// Spends the time of one verification, for accounts that do not exist.
    pub fn verify_dummy(&self, password: &Password) -> bool {
        let _ = self.verify(password, self.dummy_hash());
        false
    }

    /// Whether a stored hash should be replaced on the next successful sign-in (imported plain
    /// bcrypt, or a cost below the configured one).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        match stored.strip_prefix(PREFIX_V1) {
            Some(inner) => inner
                .split('$')
                .nth(2)
                .and_then(|c| c.parse::<u32>().ok())
                .is_none_or(|c| c < self.cost),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn round_trip_and_mismatch() {
        let h = PasswordHasher::new(None, 4).unwrap();
        let stored = h.hash(&pw("correct horse battery")).unwrap();
        assert!(stored.starts_with("$agv1$$2"));
        assert!(h.verify(&pw("correct horse battery"), &stored));
        assert!(!h.verify(&pw("correct horse batterx"), &stored));
    }

    #[test]
    fn bytes_past_72_count() {
        let h = PasswordHasher::new(None, 4).unwrap();
        let base = "a".repeat(80);
        let stored = h.hash(&pw(&base)).unwrap();
        let mut other = "a".repeat(79);
        other.push('b');
        assert!(
            !h.verify(&pw(&other), &stored),
            "a password differing after byte 72 must not verify"
        );
    }

    #[test]
    fn pepper_changes_the_hash() {
        let a = PasswordHasher::new(Some(&Secret::new("pepper-one-0123456789")), 4).unwrap();
        let b = PasswordHasher::new(Some(&Secret::new("pepper-two-0123456789")), 4).unwrap();
        let stored = a.hash(&pw("password123")).unwrap();
        assert!(a.verify(&pw("password123"), &stored));
        assert!(!b.verify(&pw("password123"), &stored));
    }

    #[test]
    fn imported_plain_bcrypt_verifies_and_wants_rehash() {
        let h = PasswordHasher::new(None, 4).unwrap();
        let imported = bcrypt::hash("legacy-password", 4).unwrap();
        assert!(h.verify(&pw("legacy-password"), &imported));
        assert!(h.needs_rehash(&imported));
        assert!(!h.verify(&pw("legacy-passworx"), &imported));
        assert!(!h.verify(&pw("legacy-password"), "not a hash"));
    }

    #[test]
    fn lower_cost_wants_rehash() {
        let low = PasswordHasher::new(None, 4).unwrap();
        let high = PasswordHasher::new(None, 5).unwrap();
        let stored = low.hash(&pw("password123")).unwrap();
        assert!(!low.needs_rehash(&stored));
        assert!(high.needs_rehash(&stored));
    }
}
