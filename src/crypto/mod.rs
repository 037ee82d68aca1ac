//! Cryptographic building blocks, all on aws-lc-rs (already linked for JWT signing).

pub mod password;
pub mod sealing;

use aws_lc_rs::rand::SecureRandom as _;

/// `N` bytes from the operating system's CSPRNG.
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
    #[test]
    fn sha256_hex_is_the_standard_digest_in_lowercase_hex() {
        // FIPS 180-2 test vector: stored code hashes must keep matching across versions.
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(super::sha256(b"abc")[0], 0xba);
    }
}
