//! One-time codes: 6 digits from the CSPRNG, stored as HMAC-SHA-256 under a server secret
//! ([`CodeKey`]) of the row id and the code, compared in constant time, 5 attempts then void,
//! single use, a new one voids the previous one of the same purpose.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::crypto::CodeKey;
use crate::db::{self, codes::CodeRow, codes::NewCode, DbConnection};
use crate::domain::OneTimeCode;

pub const MAX_ATTEMPTS: i32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    EmailVerification,
    PasswordReset,
    EmailChange,
    /// Binding a phone number (`target` holds the number).
    PhoneBinding,
    /// Signing in by SMS.
    SmsSignIn,
    /// Undoing an applied email change, from the old address (`target` holds it).
    EmailRevert,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
            Self::EmailChange => "email_change",
            Self::PhoneBinding => "phone_binding",
            Self::SmsSignIn => "sms_signin",
            Self::EmailRevert => "email_revert",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::EmailVerification,
            Self::PasswordReset,
            Self::EmailChange,
            Self::PhoneBinding,
            Self::SmsSignIn,
            Self::EmailRevert,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Hex HMAC-SHA-256 under `key` of `row id ‖ ":" ‖ code`: equal codes in two rows hash
/// differently, and without the key a stolen hash cannot be tried against the million codes.
pub fn hash(key: &CodeKey, id: &str, code: &str) -> String {
    key.mac_hex(format!("{id}:{code}").as_bytes())
}

fn expiry(now: NaiveDateTime, ttl: Duration) -> NaiveDateTime {
    now.checked_add_signed(chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX))
        .unwrap_or(NaiveDateTime::MAX)
}

/// Issues a new code (voiding the user's earlier codes of this purpose) and returns it: the only
/// moment the code exists in clear, to be put in a (sealed) mail.
pub fn issue(
    conn: &mut DbConnection,
    key: &CodeKey,
    user_id: &str,
    purpose: Purpose,
    target: Option<&str>,
    ttl: Duration,
) -> diesel::QueryResult<OneTimeCode> {
    let now = db::now();
    db::codes::void_all(conn, user_id, &[purpose.as_str()], now)?;
    let code = crate::crypto::new_code();
    let id = uuid::Uuid::now_v7().to_string();
    db::codes::insert(
        conn,
        &NewCode {
            id: &id,
            user_id,
            purpose: purpose.as_str(),
            code_hash: &hash(key, &id, code.expose()),
            target,
            attempts: 0,
            created_at: now,
            expires_at: expiry(now, ttl),
        },
    )?;
    Ok(code)
}

/// The outcome of presenting a code.
#[derive(Debug)]
pub enum Checked {
    /// The code matched a live code, which is now consumed.
    Matched(CodeRow),
    /// Wrong, expired, used or voided; the failure was counted.
    Refused,
}

/// Checks a presented code against the user's live codes of these purposes. Every live code is
/// compared (no early exit); a miss counts one attempt on each of them. Must run inside the
/// caller's write transaction, which must commit even on `Refused` so the attempt counts.
pub fn check(
    conn: &mut DbConnection,
    key: &CodeKey,
    user_id: &str,
    purposes: &[Purpose],
    code: &OneTimeCode,
) -> diesel::QueryResult<Checked> {
    let now = db::now();
    let names: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    let live = db::codes::live(conn, user_id, &names, now)?;
    let mut matched = None;
    for row in &live {
        let presented = hash(key, &row.id, code.expose());
        let equal = aws_lc_rs::constant_time::verify_slices_are_equal(
            presented.as_bytes(),
            row.code_hash.as_bytes(),
        )
        .is_ok();
        if equal && row.attempts < MAX_ATTEMPTS && matched.is_none() {
            matched = Some(row.clone());
        }
    }
    match matched {
        Some(row) if db::codes::consume(conn, &row.id, now)? => Ok(Checked::Matched(row)),
        Some(_) => Ok(Checked::Refused),
        None => {
            for row in &live {
                db::codes::record_failure(conn, &row.id, MAX_ATTEMPTS, now)?;
            }
            Ok(Checked::Refused)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_keyed_salted_by_the_row_id_and_never_the_code() {
        let key = CodeKey::derive(Some(b"a server secret of some length"));
        let a = hash(&key, "row-a", "123456");
        assert_eq!(a.len(), 64);
        assert_ne!(a, hash(&key, "row-b", "123456"));
        assert_eq!(a, hash(&key, "row-a", "123456"));
        assert_ne!(a, hash(&CodeKey::derive(None), "row-a", "123456"));
        assert_ne!(
            a,
            crate::crypto::sha256_hex(b"row-a:123456"),
            "not the old unkeyed form"
        );
        assert!(!a.contains("123456"));
        assert_eq!(
            Purpose::parse("password_reset"),
            Some(Purpose::PasswordReset)
        );
    }
}
