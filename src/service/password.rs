//! Password recovery (`password/forgot/`, `password/reset/`) and change (`user/password/`).

use crate::crypto::password::PasswordHasher;
use crate::db::{self, DbConnection};
use crate::domain::ClientInfo;
use crate::domain::{Email, OneTimeCode, Password};
use crate::error::ApiError;
use crate::notify::security::{self, Change as Notice};
use crate::notify::{self, Template};
use crate::service::audit::{self, Event};
use crate::service::codes::{self, Checked, Purpose};
use crate::service::email::{queue_code_mail, CodeMail};
use crate::service::lockout;
use crate::service::users;
use crate::state::AppState;

const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

/// Mails a reset code to the account's stored address. Unknown and disabled accounts, and an
/// address still cooling down, get no mail; the caller answers 202 alike in every case, and the
/// database work has the same shape (a lookup, the cooldown query, a write transaction).
/// Returns whether a code was queued (the work an unknown address must not be seen to skip).
pub fn forgot(state: &AppState, conn: &mut DbConnection, email: &Email) -> Result<bool, ApiError> {
    let user = db::users::find_by_email(conn, email.as_str())?.filter(|u| !u.disabled);
    let recipient = user.as_ref().map_or(email.as_str(), |u| u.email.as_str());
    let cooling =
        notify::cooldown_left(state, conn, recipient, Purpose::PasswordReset.as_str())?.is_some();
    let ttl = state.settings.reset_code_ttl;
    db::write_transaction(conn, |conn| -> Result<(), ApiError> {
        match &user {
            Some(user) if !cooling => {
                let code = codes::issue(
                    conn,
                    &state.code_key,
                    &user.id,
                    Purpose::PasswordReset,
                    None,
                    ttl,
                )?;
                queue_code_mail(
                    state,
                    conn,
                    CodeMail {
                        template: Template::PasswordReset,
                        to: &user.email,
                        account_email: &user.email,
                        code: &code,
                        ttl,
                        link_path: "reset-password",
                    },
                )?;
            }
            _ => {
                db::codes::void_all(conn, NOBODY, &[Purpose::PasswordReset.as_str()], db::now())?;
            }
        }
        Ok(())
    })?;
    if user.is_some() && cooling {
        tracing::info!("password reset mail skipped: address cooling down");
    }
    Ok(user.is_some() && !cooling)
}

/// A password nobody knows, for an account made without one (a passkey sign-up, an invited
/// account): hashed like any other, so every password path treats the account alike and none
/// can match.
pub fn unusable() -> Result<Password, ApiError> {
    let random = crate::crypto::random_bytes::<32>();
    let secret: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Password::parse_for_sign_in(secret)?)
}

/// A password checked against a stored hash away from any connection (sign-in, password change,
/// re-authentication), to be compared with the account as it is when the flow writes.
pub struct PasswordVerdict {
    /// The hash it was checked against: a password changed since then does not count.
    hash: String,
    matches: bool,
}

impl PasswordVerdict {
    /// Checks `password` against `hash` (bcrypt: the hashing threads).
    pub fn check(hasher: &PasswordHasher, password: &Password, hash: String) -> Self {
        let matches = hasher.verify(password, &hash);
        Self { hash, matches }
    }

    /// Whether the password matched the hash it was checked against.
    pub fn matched(&self) -> bool {
        self.matches
    }

    /// Whether the password matched `user`'s hash as it stands now.
    pub fn matches(&self, user: &db::users::UserRow) -> bool {
        self.matches && self.hash == user.password_hash
    }
}

/// A password being set (sign-up, reset), hashed on the hashing threads before the flow takes
/// a connection: a job below the workers' priority must not hold what they wait for.
/// The rules for a password being set, never one presented at sign-in: common passwords and
/// context words (ASVS 6.2.4, 6.2.11) for the account `email`, then, when enabled, the breached
/// password check (6.2.12). All refusals are 400 `weak_password` naming the rule. Sign-up,
/// reset, change and `authgate users create` all call this.
pub async fn check_new(
    state: &AppState,
    password: &Password,
    email: &crate::domain::Email,
) -> Result<(), ApiError> {
    state
        .password_policy
        .check(password, email)
        .map_err(|w| ApiError::from(crate::domain::Invalid::from(w)))?;
    if let Some(breach) = &state.breach {
        breach
            .check(&state.http_client, &state.metrics, password)
            .await?;
    }
    Ok(())
}

pub fn hash_new(state: &AppState, password: &Password) -> Result<String, ApiError> {
    state.hasher.hash(password).map_err(ApiError::Internal)
}

pub struct Reset {
    pub email: Result<Email, crate::domain::Invalid>,
    pub code: OneTimeCode,
    pub password: Password,
}

/// Sets a new password (`hash`, made beforehand on the hashing threads, without a connection)
/// with a reset code and ends every session of the user. The address is proven by the code, so
/// it counts as verified.
pub fn reset(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: Reset,
    hash: &str,
) -> Result<(), ApiError> {
    let ended = db::write_transaction(conn, |conn| -> Result<Option<_>, ApiError> {
        let user = match &input.email {
            Ok(email) => db::users::find_by_email(conn, email.as_str())?,
            Err(_) => None,
        };
        let user_id = user.as_ref().map_or(NOBODY, |u| u.id.as_str());
        let checked = codes::check(
            conn,
            &state.code_key,
            user_id,
            &[Purpose::PasswordReset],
            &input.code,
        )?;
        let (Checked::Matched(_), Some(user)) = (checked, user) else {
            return Ok(None);
        };
        let now = db::now();
        db::users::set_password(conn, &user.id, hash, now)?;
        // The owner proved the address: a sign-in lock on it ends with the new password.
        lockout::clear(state, conn, &lockout::LoginKey::new(state, &user.email))?;
        if !user.email_verified {
            db::users::set_email_verified(conn, &user.id, now)?;
        }
        // The code proved the address, so it counts as verified for the notice too.
        let proven = db::users::UserRow {
            email_verified: true,
            ..user.clone()
        };
        security::queue_change(state, conn, &proven, client, Notice::PasswordReset)?;
        let revoked =
            db::sessions::revoke_all_for_user(conn, &user.id, None, "password_reset", now)?;
        crate::service::sessions::announce_ended(
            state,
            conn,
            &user.id,
            &revoked,
            "password_reset",
        )?;
        audit::record(
            conn,
            client,
            Event {
                kind: "password_reset",
                outcome: "success",
                user_id: Some(&user.id),
                session_id: None,
                method: Some("code"),
            },
        );
        tracing::info!(user_id = %user.id, sessions_revoked = revoked.len(), "password reset");
        Ok(Some((revoked, now)))
    })?;
    // Listed once committed: a rolled-back reset ends nothing.
    let (revoked, at) = ended.ok_or(ApiError::InvalidCode)?;
    state
        .revocations
        .add(revoked.iter().map(String::as_str), at);
    Ok(())
}

pub struct Change {
    pub user_id: String,
    pub session_id: String,
    pub old_password: Password,
    pub password: Password,
}

/// A password change's first step, before any hashing: the sign-in lockout open, and the hash
/// the current password is checked against ([`check_change`], on the hashing threads).
fn change_lookup(
    state: &AppState,
    conn: &mut DbConnection,
    input: &Change,
) -> Result<String, ApiError> {
    let user = users::active(conn, &input.user_id)?;
    lockout::ensure_open(state, conn, &lockout::LoginKey::new(state, &user.email))?;
    Ok(user.password_hash)
}

/// The current password checked, and the new one hashed when it matched: no connection held.
fn check_change(
    state: &AppState,
    input: &Change,
    hash: String,
) -> Result<(PasswordVerdict, Option<String>), ApiError> {
    let verdict = PasswordVerdict::check(&state.hasher, &input.old_password, hash);
    let new_hash = if verdict.matched() {
        Some(hash_new(state, &input.password)?)
    } else {
        None
    };
    Ok((verdict, new_hash))
}

/// `user/password/`: the current password checked and the new one hashed on the hashing
/// threads, then the change written (every other session of the user ends).
pub async fn change(
    state: &std::sync::Arc<AppState>,
    client: ClientInfo,
    input: Change,
) -> Result<(), ApiError> {
    crate::service::run::read_hash_write(
        state,
        input,
        change_lookup,
        |state, input, hash| check_change(state, input, hash),
        move |state, conn, input, checked| finish_change(state, conn, &client, input, checked),
    )
    .await
}

/// Changes the password of the signed-in user once [`check_change`] found the current one
/// right (against the hash the account still has), and ends every other session of the user
/// (the caller's stays).
fn finish_change(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: Change,
    (verdict, new_hash): (PasswordVerdict, Option<String>),
) -> Result<(), ApiError> {
    let user = users::active(conn, &input.user_id)?;
    let key = lockout::LoginKey::new(state, &user.email);
    lockout::ensure_open(state, conn, &key)?;
    let hash = new_hash.filter(|_| verdict.matches(&user));
    let Some(hash) = hash else {
        lockout::failed(state, conn, &key, Some((&user, client)))?;
        audit::record(
            conn,
            client,
            Event {
                kind: "password_change",
                outcome: "bad_password",
                user_id: Some(&user.id),
                session_id: Some(&input.session_id),
                method: Some("password"),
            },
        );
        return Err(ApiError::WrongPassword);
    };
    let (ended, at) = db::write_transaction(conn, |conn| -> Result<_, ApiError> {
        let now = db::now();
        db::users::set_password(conn, &user.id, &hash, now)?;
        let ended = db::sessions::revoke_all_for_user(
            conn,
            &user.id,
            Some(&input.session_id),
            "password_change",
            now,
        )?;
        crate::service::sessions::announce_ended(state, conn, &user.id, &ended, "password_change")?;
        db::codes::void_all(conn, &user.id, &[Purpose::PasswordReset.as_str()], now)?;
        security::queue_change(state, conn, &user, client, Notice::PasswordChanged)?;
        audit::record(
            conn,
            client,
            Event {
                kind: "password_change",
                outcome: "success",
                user_id: Some(&user.id),
                session_id: Some(&input.session_id),
                method: Some("password"),
            },
        );
        Ok((ended, now))
    })?;
    state.revocations.add(ended.iter().map(String::as_str), at);
    Ok(())
}
