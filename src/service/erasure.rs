//! Deleting an account (GDPR Art. 17): the account and everything that refers to it, in one
//! transaction. What is left afterwards, on purpose: one audit event that an account was
//! deleted (kind `account_deleted`, its time; no user id, address, IP or user agent), and
//! tombstones of its session ids (random, kept until no access token of theirs can be alive, so
//! `verify/` and the proxy keep refusing them). The farewell notice is queued in the same
//! transaction and erased from the outbox once sent.

use crate::db::{self, DbConnection};
use crate::domain::ClientInfo;
use crate::error::ApiError;
use crate::notify::security::{self, Change};
use crate::notify::webhooks;
use crate::service::audit::{self, Event};
use crate::service::lockout;
use crate::service::mfa::{self, Reauth};
use crate::state::AppState;

/// Deletes the signed-in user's account after full re-authentication (the password, and a
/// second factor when one is on).
pub fn delete_own_account(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    proof: &Reauth,
) -> Result<(), ApiError> {
    let user = mfa::reauthenticate(state, conn, client, user_id, proof)?;
    erase(state, conn, client, &user.id)
}

/// Erases the account and everything that refers to it (disabled accounts too: the operator's
/// command uses this); the verified address gets a last notice. 404 when there is no account.
pub fn erase(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
) -> Result<(), ApiError> {
    let now = db::now();
    let ended = db::write_transaction(conn, |conn| -> Result<Vec<String>, ApiError> {
        let user = db::users::find_by_id(conn, user_id)?.ok_or(ApiError::NotFound)?;
        let mut recipients = db::codes::targets_of(conn, &user.id)?;
        recipients.push(user.email.clone());
        recipients.extend(user.phone.clone());
        let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
        db::outbox::delete_to(conn, &recipients)?;
        // Events about the person go too; `user.deleted` (the id only) is queued below.
        webhooks::erase_user(state, conn, &user.id)?;
        db::events::delete_for_user(conn, &user.id)?;
        // An erased admin's actions stay in the trail under a pseudonym.
        db::events::pseudonymise_actor(
            conn,
            &format!("user:{}", user.id),
            &format!(
                "erased:{}",
                &crate::crypto::sha256_hex(user.id.as_bytes())[..16]
            ),
        )?;
        lockout::clear(state, conn, &lockout::LoginKey::new(state, &user.email))?;
        let sessions = db::sessions::tombstone_for_user(conn, &user.id, now)?;
        db::users::delete(conn, &user.id)?;
        security::queue_change(state, conn, &user, client, Change::AccountDeleted)?;
        audit::record(
            conn,
            &ClientInfo::default(),
            Event {
                kind: "account_deleted",
                outcome: "success",
                user_id: None,
                session_id: None,
                method: None,
            },
        );
        Ok(sessions)
    })?;
    // Refused here at once; other replicas learn it at their next reload of the list.
    state.revocations.add(ended.iter().map(String::as_str), now);
    state
        .metrics
        .sessions_revoked
        .with_label_values(&["account_deleted"])
        .inc_by(u64::try_from(ended.len()).unwrap_or(0));
    Ok(())
}
