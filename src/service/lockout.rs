//! The per-account sign-in lockout: consecutive password failures of one login lock
//! it for a growing time, known and unknown accounts alike, and while it is locked every attempt
//! (the right password too) gets 429 with `Retry-After`. The state is in the database
//! (`signin_throttle`), so every replica sees it and a restart keeps it. Rows are keyed by an
//! HMAC of the normalised login, never the login. A successful sign-in or password reset
//! clears it; password reset is never locked, so a locked-out owner can always recover.

use std::time::Duration;

use aws_lc_rs::hmac;

use crate::db::{self, users::UserRow, DbConnection};
use crate::domain::ClientInfo;
use crate::error::ApiError;
use crate::notify::security::{self, Lock};
use crate::state::AppState;

/// Failures older than this are forgotten: a new failure counts from 1 again.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);

pub use crate::settings::Ladder;

/// Which login an attempt is about, as stored: an HMAC of the normalised login (keyed by the
/// password pepper when one is set), so the table never holds an address.
#[derive(Debug, Clone)]
pub struct LoginKey(String);

impl LoginKey {
    /// `login` must be normalised already (`Email::as_str`); a login that is not an address
    /// passes "" and shares one key with every other malformed login, which can never succeed.
    pub fn new(state: &AppState, login: &str) -> Self {
        let secret = state
            .settings
            .password_pepper
            .as_ref()
            .map_or(b"authgate-signin-throttle".as_slice(), |p| {
                p.expose().as_bytes()
            });
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&key, format!("signin:{login}").as_bytes());
        Self(tag.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }
}

fn add(now: chrono::NaiveDateTime, d: Duration) -> chrono::NaiveDateTime {
    now.checked_add_signed(chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
        .unwrap_or(chrono::NaiveDateTime::MAX)
}

/// 429 with the seconds left while the login is locked. Checked before the password, so a
/// locked login costs no hash and tells nothing about the password.
pub fn ensure_open(
    state: &AppState,
    conn: &mut DbConnection,
    key: &LoginKey,
) -> Result<(), ApiError> {
    if state.settings.lockout_ladder.is_off() {
        return Ok(());
    }
    let now = db::now();
    match db::throttle::locked_until(conn, &key.0)? {
        Some(until) if until > now => {
            state.metrics.lockouts.with_label_values(&["refused"]).inc();
            let left = (until - now).to_std().unwrap_or_default();
            Err(ApiError::TooManyRequests {
                retry_after: crate::limits::ceil_secs(left),
            })
        }
        _ => Ok(()),
    }
}

/// Counts a failed password for the login and locks it when the ladder says so. When the lock
/// reaches a new step and the login is a known account (`owner`), its owner is mailed (ASVS
/// V6.3.5): once per step, never per attempt. The notice is one more row in this request's
/// work, queued for the background sender, so the answer is the same as for an unknown login.
pub fn failed(
    state: &AppState,
    conn: &mut DbConnection,
    key: &LoginKey,
    owner: Option<(&UserRow, &ClientInfo)>,
) -> Result<(), ApiError> {
    let ladder = &state.settings.lockout_ladder;
    if ladder.is_off() {
        return Ok(());
    }
    let now = db::now();
    let forget_before = now
        .checked_sub_signed(
            chrono::Duration::from_std(FAILURE_MEMORY).unwrap_or(chrono::Duration::MAX),
        )
        .unwrap_or(chrono::NaiveDateTime::MIN);
    // No transaction of its own (callers may hold one): the count is one atomic statement, and
    // the lock that follows only ever moves `locked_until` forward for this count.
    let failures = db::throttle::record_failure(conn, &key.0, now, forget_before)?;
    if let Some(lock) = ladder.lock_for(failures) {
        db::throttle::lock(conn, &key.0, add(now, lock))?;
        state.metrics.lockouts.with_label_values(&["locked"]).inc();
        tracing::warn!(
            failures,
            lock_s = lock.as_secs(),
            "sign-in locked after consecutive failures"
        );
        if let (Some(lock), Some((user, client))) = (ladder.step_reached(failures), owner) {
            security::queue_lock(state, conn, user, client, Lock::SignIn, lock)?;
        }
    }
    Ok(())
}

/// Forgets the login's failures (a successful sign-in or password reset).
pub fn clear(state: &AppState, conn: &mut DbConnection, key: &LoginKey) -> Result<(), ApiError> {
    if state.settings.lockout_ladder.is_off() {
        return Ok(());
    }
    db::throttle::clear(conn, &key.0)?;
    Ok(())
}

/// Drops rows idle for longer than [`FAILURE_MEMORY`] and no longer locked.
pub fn purge(conn: &mut DbConnection) -> Result<usize, ApiError> {
    let now = db::now();
    let before = now
        .checked_sub_signed(
            chrono::Duration::from_std(FAILURE_MEMORY).unwrap_or(chrono::Duration::MAX),
        )
        .unwrap_or(chrono::NaiveDateTime::MIN);
    Ok(db::throttle::purge(conn, before, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_ladder_grows_with_the_failures() {
        let l = Ladder::parse("5:30s,10:5m,20:1h").unwrap();
        assert_eq!(l.lock_for(4), None);
        assert_eq!(l.lock_for(5), Some(Duration::from_secs(30)));
        assert_eq!(l.lock_for(9), Some(Duration::from_secs(30)));
        assert_eq!(l.lock_for(10), Some(Duration::from_secs(300)));
        assert_eq!(l.lock_for(25), Some(Duration::from_secs(3600)));
        assert!(Ladder::parse("").unwrap().is_off());
        assert_eq!(
            Ladder::parse("20:1h, 5:30s").unwrap().lock_for(6),
            Some(Duration::from_secs(30))
        );
        assert!(Ladder::parse("5").is_err());
        assert!(Ladder::parse("0:30s").is_err());
        assert!(Ladder::parse("5:soon").is_err());
        assert_eq!(l.step_reached(4), None);
        assert_eq!(l.step_reached(5), Some(Duration::from_secs(30)));
        assert_eq!(
            l.step_reached(6),
            None,
            "the same step again is not a new one"
        );
        assert_eq!(l.step_reached(10), Some(Duration::from_secs(300)));
        assert_eq!(l.step_reached(20), Some(Duration::from_secs(3600)));
        assert_eq!(l.step_reached(21), None);
    }
}
