//! Cryptographic building blocks, all on aws-lc-rs (already linked for JWT signing).

pub mod password;
pub mod sealing;
pub mod webauthn;

use aws_lc_rs::rand::SecureRandom as _;

/// `N` bytes from the operating system's CSPRNG.
/// A fresh one-time code from the operating system's CSPRNG.
pub fn new_code() -> crate::domain::OneTimeCode {
    crate::domain::OneTimeCode::from_random(|| u32::from_le_bytes(random_bytes::<4>()))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The system RNG fails only when the OS cannot provide entropy, in which case no secret this
    // service makes would be safe: stopping is the only correct answer.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut out)
        .expect("the operating system's random number generator failed");
    out
}

/// SHA-256 of `bytes`: the stored form of codes and the verified-token cache's key.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// [`sha256`] as lowercase hex, the form stored in the database.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The server secret one-time codes are hashed under (HMAC-SHA-256), so a copy of the database
/// alone does not let anyone try the million 6-digit codes against a stored hash. Derived from
/// `AUTHGATE_ENCRYPTION_KEY` when set, else from the password pepper, else from a fixed label
/// (then the hash is only as strong as the database's secrecy, and startup says so).
#[derive(Clone)]
pub struct CodeKey(aws_lc_rs::hmac::Key);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey([redacted])")
    }
}

/// Domain separation: the same server secret keys other things too.
const CODE_KEY_LABEL: &[u8] = b"authgate one-time codes v1";

impl CodeKey {
    /// `secret`: the encryption key's bytes, else the pepper's, else `None`.
    pub fn derive(secret: Option<&[u8]>) -> Self {
        use aws_lc_rs::hmac;
        let derived = match secret {
            Some(secret) => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), CODE_KEY_LABEL),
            None => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, CODE_KEY_LABEL), b""),
        };
        Self(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    /// Lowercase hex HMAC-SHA-256 of `message`.
    pub fn mac_hex(&self, message: &[u8]) -> String {
        aws_lc_rs::hmac::sign(&self.0, message)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Base64url without padding: the form of every opaque token this service hands out.
pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::new_code;

    #[test]
    fn code_keys_are_hmac_sha256_under_a_derived_key() {
        use super::CodeKey;
        // RFC 4231 test case 2 for the primitive: key "Jefe".
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"Jefe");
        let tag = aws_lc_rs::hmac::sign(&key, b"what do ya want for nothing?");
        assert_eq!(tag.as_ref()[..4], [0x5b, 0xdc, 0xc1, 0x46], "RFC 4231 4.3");
        let a = CodeKey::derive(Some(&[7; 32]));
        let b = CodeKey::derive(Some(&[8; 32]));
        let none = CodeKey::derive(None);
        let msg = b"row:123456";
        assert_eq!(a.mac_hex(msg).len(), 64);
        assert_eq!(a.mac_hex(msg), CodeKey::derive(Some(&[7; 32])).mac_hex(msg));
        assert_ne!(
            a.mac_hex(msg),
            b.mac_hex(msg),
            "another secret, another hash"
        );
        assert_ne!(a.mac_hex(msg), none.mac_hex(msg));
        assert_ne!(
            a.mac_hex(msg),
            super::sha256_hex(msg),
            "not the unkeyed digest"
        );
        assert_eq!(format!("{a:?}"), "CodeKey([redacted])");
    }

    #[test]
    fn sha256_hex_is_the_standard_digest_in_lowercase_hex() {
        // FIPS 180-2 test vector: stored code hashes must keep matching across versions.
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(super::sha256(b"abc")[0], 0xba);
    }

    #[test]
    fn generated_codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> =
            (0..50).map(|_| new_code().expose().to_owned()).collect();
        assert!(codes
            .iter()
            .all(|c| crate::domain::OneTimeCode::parse(c).is_ok()));
        assert!(
            codes.len() > 45,
            "50 codes from a CSPRNG should hardly repeat"
        );
        assert!(!format!("{:?}", new_code())
            .chars()
            .any(|c| c.is_ascii_digit()));
    }
}
