//! TOTP second factor (RFC 6238: 30 s steps, 6 digits, HMAC-SHA-1 for authenticator apps), its
//! recovery codes, and re-authentication for sensitive changes. The secret is sealed at rest;
//! every accepted step is stored so a code works once; wrong codes lock the account's second
//! factor for a growing delay. Recovery codes (ten, single use, issued when TOTP is confirmed
//! and replaceable) are accepted wherever a TOTP code is, so losing the authenticator does not
//! lose the account; only their keyed hashes are stored.

use std::time::Duration;

use totp_rs::{Algorithm, Builder, Totp};

use crate::db::{self, users::UserRow, DbConnection};
use crate::domain::ClientInfo;
use crate::domain::Password;
use crate::error::ApiError;
use crate::notify::security::{self, Change, Lock};
use crate::service::lockout;
use crate::service::password::PasswordVerdict;
use crate::service::users;
use crate::state::AppState;

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: u8 = 6;
/// Wrong codes allowed before the first delay.
pub const FREE_FAILURES: i32 = 5;
const FIRST_DELAY: Duration = Duration::from_secs(30);
const MAX_DELAY: Duration = Duration::from_secs(3600);
const SECRET_BYTES: usize = 20;
/// Codes in a set of recovery codes.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (shown as two groups of five): 50 bits each.
const RECOVERY_CODE_LEN: usize = 10;
/// Crockford's base32 in lower case: no i, l, o or u to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Sealing context of a user's TOTP secret: a sealed secret copied to another user does not open.
fn context(user_id: &str) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

/// `otpauth://` labels may not contain ':'.
fn label(s: &str) -> String {
    s.replace(':', " ")
}

fn totp(secret: Vec<u8>, issuer: Option<&str>, account: &str) -> Result<Totp, ApiError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret)
        .with_account_name(label(account))
        .with_issuer(issuer.map(label))
        .build()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("building TOTP: {e:?}")))
}

/// The delay imposed after `failures` consecutive wrong codes: none for the first four, then
/// 30 s doubling at each further failure, at most an hour.
pub fn lock_delay(failures: i32) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let exp = u32::try_from(failures - FREE_FAILURES).unwrap_or(0).min(12);
    Some((FIRST_DELAY * (1u32 << exp)).min(MAX_DELAY))
}

fn unix_now() -> u64 {
    u64::try_from(db::now().and_utc().timestamp()).unwrap_or(0)
}

/// The freshly issued secret and its provisioning URL.
pub struct Enrollment {
    pub secret: String,
    pub otpauth_url: String,
}

/// Issues a new pending secret (replacing an unconfirmed one) after re-authentication with the
/// password. 409 when TOTP is already on.
pub fn begin(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    proof: &Reauth,
) -> Result<Enrollment, ApiError> {
    let user = users::active(conn, user_id)?;
    if user.totp_secret.is_some() {
        return Err(ApiError::Conflict {
            code: "totp_already_enabled",
            message: "TOTP is already enabled; disable it first to enroll a new authenticator"
                .into(),
        });
    }
    let user = reauthenticate(state, conn, client, &user.id, proof)?;
    let secret = crate::crypto::random_bytes::<SECRET_BYTES>().to_vec();
    let sealed = state.sealer.seal(&secret, &context(&user.id));
    let t = totp(secret, Some(&state.settings.product_name), &user.email)?;
    let otpauth_url = t
        .to_url()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("otpauth URL: {e:?}")))?;
    db::users::set_totp_pending(conn, &user.id, Some(&sealed))?;
    Ok(Enrollment {
        secret: t.secret().to_base32(),
        otpauth_url,
    })
}

/// 429 while the second factor is locked after wrong codes.
fn ensure_not_locked(user: &UserRow) -> Result<(), ApiError> {
    let now = db::now();
    match user.totp_locked_until {
        Some(until) if until > now => Err(ApiError::TooManyRequests {
            retry_after: (until - now).num_seconds().max(1).unsigned_abs(),
        }),
        _ => Ok(()),
    }
}

/// Counts a wrong code and locks when [`lock_delay`] says so. With `notify` (a code presented
/// after the first factor passed: a partially successful authentication, ASVS V6.3.5), the
/// owner is mailed when the lock first starts, once per run of failures.
fn record_failure(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
    notify: Option<&ClientInfo>,
) -> Result<(), ApiError> {
    let user_id = user.id.as_str();
    let failures = db::users::record_totp_failure(conn, user_id)?;
    if let Some(delay) = lock_delay(failures) {
        let until = db::now()
            .checked_add_signed(chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX))
            .unwrap_or_else(db::now);
        db::users::lock_totp_until(conn, user_id, until)?;
        tracing::warn!(
            user_id,
            failures,
            delay_s = delay.as_secs(),
            "TOTP locked after wrong codes"
        );
        if let (FREE_FAILURES, Some(client)) = (failures, notify) {
            security::queue_lock(state, conn, user, client, Lock::SecondFactor, delay)?;
        }
    }
    Ok(())
}

/// Which second factor a code proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    /// A recovery code, now spent; `left` unused codes remain.
    RecoveryCode {
        left: i64,
    },
}

/// Checks a second-factor code presented by `client` after the first factor passed: a current
/// TOTP code (when TOTP is on), or an unused recovery code (which is spent). Must run inside the
/// caller's write transaction, which must commit even on `Ok(None)` so the failure counts. `Err`
/// 429 while locked; `Ok(None)` for a wrong, replayed, spent or malformed code.
pub fn check_code(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    code: &str,
) -> Result<Option<Factor>, ApiError> {
    let Some(user) = db::users::find_by_id(conn, user_id)? else {
        return Ok(None);
    };
    ensure_not_locked(&user)?;
    if let Some(recovery) = normalize_recovery_code(code) {
        let hash = recovery_hash(state, &user.id, &recovery);
        if db::recovery_codes::spend(conn, &user.id, &hash, db::now())? {
            db::users::clear_totp_failures(conn, &user.id)?;
            let left = db::recovery_codes::remaining(conn, &user.id)?;
            return Ok(Some(Factor::RecoveryCode { left }));
        }
    } else if let Some(sealed) = &user.totp_secret {
        let secret = state
            .sealer
            .open(sealed, &context(&user.id))
            .map_err(|e| ApiError::Internal(e.into()))?;
        let step = totp(secret, None, "")?.check(code.trim(), unix_now());
        if let Some(step) = step.and_then(|s| i64::try_from(s).ok()) {
            if db::users::accept_totp_step(conn, &user.id, step)? {
                return Ok(Some(Factor::Totp));
            }
        }
    }
    record_failure(state, conn, &user, Some(client))?;
    Ok(None)
}

/// A presented code read as a recovery code: case, spaces and dashes ignored. `None` when it
/// cannot be one (a six-digit TOTP code, for one).
fn normalize_recovery_code(code: &str) -> Option<String> {
    let normalized: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (normalized.len() == RECOVERY_CODE_LEN
        && normalized.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
    .then_some(normalized)
}

/// The stored form of a recovery code: keyed, and bound to its user, so a copied database
/// reveals no code and a hash moved to another account matches nothing.
fn recovery_hash(state: &AppState, user_id: &str, normalized: &str) -> String {
    state
        .code_key
        .mac_hex(format!("recovery:{user_id}:{normalized}").as_bytes())
}

/// A fresh set of recovery codes for the user, replacing any earlier set, in the caller's
/// transaction. The codes are returned to be shown once; only their hashes are kept.
pub fn issue_recovery_codes(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<Vec<String>, ApiError> {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw = crate::crypto::random_bytes::<RECOVERY_CODE_LEN>();
            let chars: String = raw
                .iter()
                .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)]))
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| normalize_recovery_code(c))
        .map(|c| recovery_hash(state, user_id, &c))
        .collect();
    db::recovery_codes::replace(conn, user_id, &hashes, db::now())?;
    Ok(codes)
}

/// Replaces the recovery codes after full re-authentication (password and a current code,
/// which may itself be one of the old recovery codes, or a passkey); the owner is notified. 409
/// `totp_not_enabled` when there is no second factor (TOTP or passkey) to recover.
pub fn replace_recovery_codes(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    proof: &Reauth,
) -> Result<Vec<String>, ApiError> {
    let user = users::active(conn, user_id)?;
    if !crate::service::passkeys::has_second_factor(conn, &user)? {
        return Err(ApiError::Conflict {
            code: "totp_not_enabled",
            message: "recovery codes stand in for a second factor (TOTP or a passkey), and the account has none".into(),
        });
    }
    let user = reauthenticate(state, conn, client, user_id, proof)?;
    db::write_transaction(conn, |conn| {
        let codes = issue_recovery_codes(state, conn, &user.id)?;
        security::queue_change(state, conn, &user, client, Change::RecoveryCodesReplaced)?;
        Ok(codes)
    })
}

/// What `mfa/totp/confirm/` received: one code, or two consecutive codes.
pub enum Confirmation {
    One(String),
    Two(String, String),
}

/// Enables the pending secret when the code(s) match it, issues the first set of recovery codes
/// (returned, to be shown once) and notifies the owner. 400 `invalid_code` otherwise (counted
/// toward the lock); 409 `totp_not_pending` when there is nothing to confirm.
pub fn confirm(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    codes: Confirmation,
) -> Result<Vec<String>, ApiError> {
    let accepted = db::write_transaction(conn, |conn| -> Result<Option<Vec<String>>, ApiError> {
        let user = users::active(conn, user_id)?;
        ensure_not_locked(&user)?;
        let Some(sealed) = user.totp_pending.clone() else {
            return Err(ApiError::Conflict {
                code: "totp_not_pending",
                message: "no TOTP enrollment is pending: start one with POST mfa/totp/".into(),
            });
        };
        let secret = state
            .sealer
            .open(&sealed, &context(&user.id))
            .map_err(|e| ApiError::Internal(e.into()))?;
        let t = totp(secret, None, "")?;
        let now = unix_now();
        let step = match &codes {
            Confirmation::One(c) => t.check(c.trim(), now),
            Confirmation::Two(a, b) => match (t.check(a.trim(), now), t.check(b.trim(), now)) {
                (Some(s1), Some(s2)) if s2 == s1 + 1 => Some(s2),
                _ => None,
            },
        };
        match step.and_then(|s| i64::try_from(s).ok()) {
            Some(step) => {
                db::users::set_totp(conn, &user.id, Some(&sealed), Some(step), db::now())?;
                let recovery = issue_recovery_codes(state, conn, &user.id)?;
                security::queue_change(state, conn, &user, client, Change::TotpEnabled)?;
                Ok(Some(recovery))
            }
            None => {
                record_failure(state, conn, &user, None)?;
                Ok(None)
            }
        }
    })?;
    accepted.ok_or(ApiError::InvalidCode)
}

/// Full re-authentication (ASVS 5.0 V7.5.1) before a change to how the account signs in or
/// recovers (email, phone, TOTP): the current password always, and a current TOTP code as well
/// when TOTP is on. One mechanism for every such endpoint.
#[derive(Default)]
pub struct Reauth {
    pub password: Option<Password>,
    pub code: Option<String>,
    /// A passkey assertion with user verification, instead of the password and code.
    pub passkey: Option<crate::service::passkeys::Assertion>,
    /// The password checked beforehand ([`reauth_lookup`], then [`check_reauth_password`] on
    /// the hashing threads), so that [`reauthenticate`], holding a connection, only compares.
    pub verdict: Option<PasswordVerdict>,
}

/// A re-authentication's password (ASVS V7.5.1: email, phone and TOTP changes) checked on the
/// hashing threads before the change runs on the blocking pool, where [`reauthenticate`] then
/// only compares the verdict.
pub async fn check_reauth(
    state: &std::sync::Arc<AppState>,
    user_id: &str,
    proof: Reauth,
) -> Result<Reauth, ApiError> {
    let user_id = user_id.to_owned();
    let (proof, ()) = crate::service::run::read_then_hash(
        state,
        proof,
        move |state, conn, proof| reauth_lookup(state, conn, &user_id, proof),
        |state, proof, hash| {
            if let Some(hash) = hash {
                check_reauth_password(state, proof, hash);
            }
            Ok(())
        },
    )
    .await?;
    Ok(proof)
}

/// The first step of a re-authentication, before any hashing: the parts the account needs
/// present, the sign-in lockout open, and the stored hash to check the password against
/// (`None` when the proof has no password: [`reauthenticate`] answers that).
fn reauth_lookup(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    proof: &Reauth,
) -> Result<Option<String>, ApiError> {
    let user = users::active(conn, user_id)?;
    if proof.password.is_none() {
        return Ok(None);
    }
    required_code(&user, proof)?;
    lockout::ensure_open(state, conn, &lockout::LoginKey::new(state, &user.email))?;
    Ok(Some(user.password_hash))
}

/// [`reauth_lookup`]'s hash checked against the proof's password: the hashing threads.
fn check_reauth_password(state: &AppState, proof: &mut Reauth, hash: String) {
    if let Some(password) = &proof.password {
        proof.verdict = Some(PasswordVerdict::check(&state.hasher, password, hash));
    }
}

/// The TOTP code the proof must carry when TOTP is on.
fn required_code<'p>(user: &UserRow, proof: &'p Reauth) -> Result<Option<&'p String>, ApiError> {
    match (&user.totp_secret, &proof.code) {
        (Some(_), None) => Err(reauth_required(
            "two-factor authentication is on: this change needs a current TOTP or recovery `code` as well as the password",
        )),
        (Some(_), Some(code)) => Ok(Some(code)),
        (None, _) => Ok(None),
    }
}

fn reauth_required(message: &str) -> ApiError {
    ApiError::validation("reauthentication_required", message)
}

/// Checks the proof. 400 `reauthentication_required` when a part is missing (checked first,
/// costing no hash); the password counts toward the sign-in lockout like every password check
/// (400 `invalid_password`, 429 while locked); the code toward the TOTP lock (400
/// `invalid_code`).
pub fn reauthenticate(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    proof: &Reauth,
) -> Result<UserRow, ApiError> {
    let user = users::active(conn, user_id)?;
    if proof.password.is_none() {
        if let Some(assertion) = &proof.passkey {
            crate::service::passkeys::reauthenticate(state, conn, client, &user, assertion)?;
            return Ok(user);
        }
        return Err(reauth_required(
            "this change needs your current `password` (and a TOTP `code` when two-factor authentication is on), or a `passkey` assertion",
        ));
    }
    let code = required_code(&user, proof)?;
    // The same lockout as sign-in: a stolen session cannot brute-force the password.
    let key = lockout::LoginKey::new(state, &user.email);
    lockout::ensure_open(state, conn, &key)?;
    // Checked beforehand, off this connection (the caller ran `check_reauth_password`).
    let verdict = proof.verdict.as_ref().ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "re-authentication without a checked password"
        ))
    })?;
    if !verdict.matches(&user) {
        lockout::failed(state, conn, &key, Some((&user, client)))?;
        return Err(ApiError::validation(
            "invalid_password",
            "the password is wrong",
        ));
    }
    if let Some(code) = code {
        let factor =
            db::write_transaction(conn, |conn| check_code(state, conn, client, &user.id, code))?;
        if factor.is_none() {
            return Err(ApiError::validation(
                "invalid_code",
                "the code is wrong or already used",
            ));
        }
    }
    Ok(user)
}

/// Turns TOTP off, its recovery codes with it unless passkeys remain, after full re-authentication (password and a
/// current code); the owner is notified. 409 `totp_not_enabled` when it is off.
pub fn disable(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    proof: Reauth,
) -> Result<(), ApiError> {
    let user = users::active(conn, user_id)?;
    if user.totp_secret.is_none() {
        return Err(ApiError::Conflict {
            code: "totp_not_enabled",
            message: "TOTP is not enabled".into(),
        });
    }
    let user = reauthenticate(state, conn, client, user_id, &proof)?;
    db::write_transaction(conn, |conn| -> Result<(), ApiError> {
        db::users::set_totp(conn, &user.id, None, None, db::now())?;
        // The codes stay while passkeys remain: they cover losing those too.
        if db::passkeys::count_for_user(conn, &user.id)? == 0 {
            db::recovery_codes::delete_all(conn, &user.id)?;
        }
        security::queue_change(state, conn, &user, client, Change::TotpRemoved)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_after_five_failures_and_is_capped() {
        assert_eq!(lock_delay(4), None);
        assert_eq!(lock_delay(5), Some(Duration::from_secs(30)));
        assert_eq!(lock_delay(6), Some(Duration::from_secs(60)));
        assert_eq!(lock_delay(7), Some(Duration::from_secs(120)));
        assert_eq!(lock_delay(40), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn recovery_codes_are_read_in_any_case_with_or_without_the_dash() {
        assert_eq!(
            normalize_recovery_code("ab3de-fg7hj").as_deref(),
            Some("ab3defg7hj")
        );
        assert_eq!(
            normalize_recovery_code(" AB3DE FG7HJ ").as_deref(),
            Some("ab3defg7hj")
        );
        assert_eq!(
            normalize_recovery_code("123456"),
            None,
            "a TOTP code is not one"
        );
        assert_eq!(
            normalize_recovery_code("ab3de-fg7hu"),
            None,
            "u is not in the alphabet"
        );
        assert_eq!(
            normalize_recovery_code("ab3de-fg7hjk"),
            None,
            "one character too many"
        );
    }

    #[test]
    fn matches_the_rfc_6238_sha1_vector() {
        let t = totp(b"12345678901234567890".to_vec(), None, "").unwrap();
        // RFC 6238 Appendix B, T = 59: 94287082 (8 digits); its last 6 digits.
        assert_eq!(t.generate(59).to_string(), "287082");
        assert_eq!(t.check("287082", 59), Some(1));
        assert_eq!(t.check("287082", 59 + 3 * 30), None);
    }
}
