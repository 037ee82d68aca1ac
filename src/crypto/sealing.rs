//! Secrets at rest (session secrets, private signing keys): AES-256-GCM under
//! `AUTHGATE_ENCRYPTION_KEY` when set. The first byte says how a value is stored, so a key can be
//! added to an existing deployment (old plain values still read; new ones are sealed).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use crate::settings::EncryptionKey;

const PLAIN: u8 = 0;
const AES_GCM_V1: u8 = 1;

#[derive(Clone)]
pub struct Sealer {
    key: Option<std::sync::Arc<LessSafeKey>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("encrypts", &self.key.is_some())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    #[error("value is encrypted but AUTHGATE_ENCRYPTION_KEY is not set")]
    KeyMissing,
    #[error("value cannot be decrypted with AUTHGATE_ENCRYPTION_KEY (wrong key or corrupted)")]
    Undecryptable,
    #[error("unknown storage format")]
    Malformed,
}

impl Sealer {
    pub fn new(key: Option<&EncryptionKey>) -> anyhow::Result<Self> {
        let key = match key {
            Some(k) => Some(std::sync::Arc::new(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &k.0)
                    .map_err(|_| anyhow::anyhow!("invalid AES-256 key"))?,
            ))),
            None => None,
        };
        Ok(Self { key })
    }

    pub fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    /// `context` binds the ciphertext to its place (e.g. the session id) so a sealed value
    /// copied to another row does not open.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let Some(key) = &self.key else {
            let mut out = Vec::with_capacity(plaintext.len() + 1);
            out.push(PLAIN);
            out.extend_from_slice(plaintext);
            return out;
        };
        let nonce_bytes = crate::crypto::random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        // Sealing fails only for inputs beyond AES-GCM's size limit (64 GiB), never for secrets.
        #[allow(clippy::expect_used)]
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(context),
            &mut buf,
        )
        .expect("AES-GCM seal of a small buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(AES_GCM_V1);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        out
    }

    pub fn open(&self, stored: &[u8], context: &[u8]) -> Result<Vec<u8>, UnsealError> {
        match stored.split_first() {
            Some((&PLAIN, rest)) => Ok(rest.to_vec()),
            Some((&AES_GCM_V1, rest)) => {
                let key = self.key.as_ref().ok_or(UnsealError::KeyMissing)?;
                if rest.len() < NONCE_LEN {
                    return Err(UnsealError::Malformed);
                }
                let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
                let nonce =
                    Nonce::try_assume_unique_for_key(nonce).map_err(|_| UnsealError::Malformed)?;
                let mut buf = ciphertext.to_vec();
                let plain = key
                    .open_in_place(nonce, Aad::from(context), &mut buf)
                    .map_err(|_| UnsealError::Undecryptable)?;
                Ok(plain.to_vec())
            }
            _ => Err(UnsealError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_key_and_context() {
        let sealer = Sealer::new(Some(&EncryptionKey([9; 32]))).unwrap();
        let sealed = sealer.seal(b"session secret", b"sid-1");
        assert!(!sealed.windows(14).any(|w| w == b"session secret"));
        assert_eq!(sealer.open(&sealed, b"sid-1").unwrap(), b"session secret");
        assert!(sealer.open(&sealed, b"sid-2").is_err());
        let other = Sealer::new(Some(&EncryptionKey([8; 32]))).unwrap();
        assert!(other.open(&sealed, b"sid-1").is_err());
        let none = Sealer::new(None).unwrap();
        assert!(matches!(
            none.open(&sealed, b"sid-1"),
            Err(UnsealError::KeyMissing)
        ));
    }

    #[test]
    fn plain_values_stay_readable_after_a_key_is_added() {
        let plain = Sealer::new(None).unwrap().seal(b"abc", b"x");
        let keyed = Sealer::new(Some(&EncryptionKey([1; 32]))).unwrap();
        assert_eq!(keyed.open(&plain, b"x").unwrap(), b"abc");
    }
}
