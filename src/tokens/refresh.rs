//! Refresh tokens: `base64url(session id ‖ counter ‖ HMAC-SHA-256(secret, id ‖ counter))`.
//! Deterministic per session step, so two tabs presenting the same token get the same successor,
//! and never stored: the session row keeps only the secret and the counter.

use aws_lc_rs::hmac;
use chrono::NaiveDateTime;

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

/// A session as stored, as far as a refresh decision reads it.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts {
    pub counter: u64,
    pub revoked: bool,
    pub expires_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub rotated_at: NaiveDateTime,
    /// The user is disabled or gone.
    pub user_disabled: bool,
}

/// How long a session may sit unused, and how long the previous token still answers.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub idle: chrono::Duration,
    pub grace: chrono::Duration,
}

/// What a presented refresh token earns: the one set of refresh rules, decided with no I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not this session's token (wrong MAC), or the session has ended: 401, nothing to write.
    Invalid,
    /// The session lapsed (`"expired"`: absolute lifetime or idle timeout) or its user is
    /// disabled (`"user_disabled"`): end it with that reason, then 401.
    End(&'static str),
    /// The current token: the session moves on to counter `next`.
    Rotate { next: u64 },
    /// The previous token inside the grace window: the current token (`current`) again.
    Grace { current: u64 },
    /// An older token, or the previous one after the grace window: the session is revoked.
    Reused(&'static str),
}

/// Decides a refresh: `presented_counter` is the token's, `mac_valid` whether it verified under
/// the session's secret.
pub fn decide(
    presented_counter: u64,
    mac_valid: bool,
    session: &SessionFacts,
    windows: Windows,
    now: NaiveDateTime,
) -> Decision {
    if !mac_valid || session.revoked {
        return Decision::Invalid;
    }
    if now >= session.expires_at || now - session.last_used_at > windows.idle {
        return Decision::End("expired");
    }
    if session.user_disabled {
        return Decision::End("user_disabled");
    }
    let current = session.counter;
    let previous = presented_counter.checked_add(1) == Some(current);
    if presented_counter == current {
        match current.checked_add(1) {
            Some(next) => Decision::Rotate { next },
            None => Decision::Invalid,
        }
    } else if previous && now - session.rotated_at <= windows.grace {
        Decision::Grace { current }
    } else if previous {
        Decision::Reused("the previous refresh token was presented after the grace window")
    } else {
        Decision::Reused("an old refresh token was presented again")
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

    fn facts(now: NaiveDateTime) -> SessionFacts {
        SessionFacts {
            counter: 5,
            revoked: false,
            expires_at: now + chrono::Duration::hours(1),
            last_used_at: now - chrono::Duration::minutes(1),
            rotated_at: now - chrono::Duration::seconds(5),
            user_disabled: false,
        }
    }

    const WINDOWS: Windows = Windows {
        idle: chrono::Duration::days(7),
        grace: chrono::Duration::seconds(10),
    };

    #[test]
    fn the_current_token_rotates_and_the_previous_one_repeats_only_inside_grace() {
        let now = chrono::Utc::now().naive_utc();
        let s = facts(now);
        assert_eq!(
            decide(5, true, &s, WINDOWS, now),
            Decision::Rotate { next: 6 }
        );
        assert_eq!(
            decide(4, true, &s, WINDOWS, now),
            Decision::Grace { current: 5 }
        );
        let late = SessionFacts {
            rotated_at: now - chrono::Duration::seconds(11),
            ..s
        };
        assert!(
            matches!(decide(4, true, &late, WINDOWS, now), Decision::Reused(c) if c.contains("after the grace"))
        );
        // Grace covers the immediate predecessor only, never an older ancestor.
        assert!(
            matches!(decide(3, true, &s, WINDOWS, now), Decision::Reused(c) if c.contains("old refresh token"))
        );
        assert!(
            matches!(decide(6, true, &s, WINDOWS, now), Decision::Reused(_)),
            "a token from the future"
        );
    }

    #[test]
    fn forged_revoked_lapsed_and_disabled_sessions_never_rotate() {
        let now = chrono::Utc::now().naive_utc();
        let s = facts(now);
        assert_eq!(decide(5, false, &s, WINDOWS, now), Decision::Invalid);
        let revoked = SessionFacts { revoked: true, ..s };
        assert_eq!(decide(5, true, &revoked, WINDOWS, now), Decision::Invalid);
        let expired = SessionFacts {
            expires_at: now,
            ..s
        };
        assert_eq!(
            decide(5, true, &expired, WINDOWS, now),
            Decision::End("expired")
        );
        let idle = SessionFacts {
            last_used_at: now - chrono::Duration::days(7) - chrono::Duration::seconds(1),
            ..s
        };
        assert_eq!(
            decide(5, true, &idle, WINDOWS, now),
            Decision::End("expired")
        );
        let idle_to_the_limit = SessionFacts {
            last_used_at: now - chrono::Duration::days(7),
            ..s
        };
        assert_eq!(
            decide(5, true, &idle_to_the_limit, WINDOWS, now),
            Decision::Rotate { next: 6 },
            "idle for exactly the timeout is still live, as the access-token check says"
        );
        let disabled = SessionFacts {
            user_disabled: true,
            ..s
        };
        assert_eq!(
            decide(5, true, &disabled, WINDOWS, now),
            Decision::End("user_disabled")
        );
        let last = SessionFacts {
            counter: u64::MAX,
            ..s
        };
        assert_eq!(
            decide(u64::MAX, true, &last, WINDOWS, now),
            Decision::Invalid
        );
    }
}
