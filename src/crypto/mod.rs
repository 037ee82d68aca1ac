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
