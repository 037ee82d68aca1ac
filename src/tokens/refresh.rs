//! Refresh tokens: `base64url(session id ‖ counter ‖ HMAC-SHA-256(secret, id ‖ counter))`.
//! Deterministic per session step, so two tabs presenting the same token get the same successor,
//! and never stored: the session row keeps only the secret and the counter.

use aws_lc_rs::hmac;

use crate::crypto::{b64url, b64url_decode};

const ID_LEN: usize = 16;
const COUNTER_LEN: usize = 8;
const MAC_LEN: usize = 32;
const RAW_LEN: usize = ID_LEN + COUNTER_LEN + MAC_LEN;

/// A refresh token taken apart; its MAC is not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub session_id: uuid::Uuid,
    pub counter: u64,
    mac: [u8; MAC_LEN],
}

fn message(session_id: &uuid::Uuid, counter: u64) -> [u8; ID_LEN + COUNTER_LEN] {
    let mut msg = [0u8; ID_LEN + COUNTER_LEN];
    msg[..ID_LEN].copy_from_slice(session_id.as_bytes());
    msg[ID_LEN..].copy_from_slice(&counter.to_be_bytes());
    msg
}

/// The token for step `counter` of a session.
pub fn encode(session_id: &uuid::Uuid, counter: u64, secret: &[u8]) -> String {
    let msg = message(session_id, counter);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &msg);
    let mut raw = Vec::with_capacity(RAW_LEN);
    raw.extend_from_slice(&msg);
    raw.extend_from_slice(tag.as_ref());
    b64url(&raw)
}

/// Splits a token; `None` when it cannot be one of ours.
pub fn parse(token: &str) -> Option<Presented> {
    if token.len() > 128 {
        return None;
    }
    let raw = b64url_decode(token)?;
    if raw.len() != RAW_LEN {
        return None;
    }
    let session_id = uuid::Uuid::from_slice(&raw[..ID_LEN]).ok()?;
    let counter = u64::from_be_bytes(raw[ID_LEN..ID_LEN + COUNTER_LEN].try_into().ok()?);
    let mac = raw[ID_LEN + COUNTER_LEN..].try_into().ok()?;
    Some(Presented {
        session_id,
        counter,
        mac,
    })
}

impl Presented {
    /// Constant-time check of the MAC under the session's secret.
    pub fn mac_valid(&self, secret: &[u8]) -> bool {
        let msg = message(&self.session_id, self.counter);
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), &msg, &self.mac).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_deterministic_and_url_safe() {
        let sid = uuid::Uuid::new_v4();
        let secret = [3u8; 32];
        let a = encode(&sid, 7, &secret);
        assert_eq!(a, encode(&sid, 7, &secret));
        assert_ne!(a, encode(&sid, 8, &secret));
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let p = parse(&a).unwrap();
        assert_eq!((p.session_id, p.counter), (sid, 7));
        assert!(p.mac_valid(&secret));
        assert!(!p.mac_valid(&[4u8; 32]));
    }

    #[test]
    fn tampering_is_detected() {
        let sid = uuid::Uuid::new_v4();
        let secret = [3u8; 32];
        let token = encode(&sid, 1, &secret);
        let mut raw = b64url_decode(&token).unwrap();
        raw[ID_LEN + COUNTER_LEN - 1] ^= 1; // counter 1 → 0, MAC unchanged
        let forged = parse(&b64url(&raw)).unwrap();
        assert_eq!(forged.counter, 0);
        assert!(!forged.mac_valid(&secret));
        assert!(parse("not-a-token").is_none());
        assert!(parse("").is_none());
        assert!(parse(&"A".repeat(500)).is_none());
    }
}
