//! An operator's rescue of an account, from the command line or the admin API: reset its second
//! factor, set its password, end its sessions, disable it, delete it. Each is an audit event
//! named `admin_<action>` with method `admin` and the acting operator as its actor
//! ([`ClientInfo::actor`]), and the owner is mailed a notice where the change is theirs to know
//! about.

use crate::db::{self, users::UserRow, DbConnection};
use crate::domain::ClientInfo;
use crate::error::ApiError;
use crate::notify::security::{self, Change};
use crate::notify::webhooks;
use crate::service::audit::{self, Event};
use crate::state::AppState;

pub(crate) fn record(
    conn: &mut DbConnection,
    operator: &ClientInfo,
    kind: &'static str,
    user_id: Option<&str>,
) {
    audit::record(
        conn,
        operator,
        Event {
            kind,
            outcome: "success",
            user_id,
            session_id: None,
            method: Some("admin"),
        },
    );
}

/// Ends every session of the user (refresh fails at once; other replicas refuse the access
/// tokens at their next revocation-list reload). Returns how many ended.
fn end_sessions(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
    reason: &'static str,
) -> Result<usize, ApiError> {
    crate::service::sessions::revoke_all_but(state, conn, &user.id, None, reason)
}

/// Removes every second factor (TOTP, passkeys) and the recovery codes, for a user who lost
/// them, and ends every session.
pub fn reset_mfa(
    state: &AppState,
    conn: &mut DbConnection,
    operator: &ClientInfo,
    user: &UserRow,
) -> Result<usize, ApiError> {
    db::write_transaction(conn, |conn| {
        db::users::set_totp(conn, &user.id, None, None, db::now())?;
        db::recovery_codes::delete_all(conn, &user.id)?;
        db::passkeys::delete_all(conn, &user.id)?;
        let ended = end_sessions(state, conn, user, "admin_reset_mfa")?;
        security::queue_change(state, conn, user, operator, Change::SecondFactorReset)?;
        record(conn, operator, "admin_reset_mfa", Some(&user.id));
        Ok(ended)
    })
}

/// Sets a new password (already checked against the policy and hashed) and ends every session.
pub fn set_password(
    state: &AppState,
    conn: &mut DbConnection,
    operator: &ClientInfo,
    user: &UserRow,
    hash: &str,
) -> Result<usize, ApiError> {
    db::write_transaction(conn, |conn| {
        db::users::set_password(conn, &user.id, hash, db::now())?;
        let ended = end_sessions(state, conn, user, "admin_set_password")?;
        security::queue_change(state, conn, user, operator, Change::PasswordSetByOperator)?;
        record(conn, operator, "admin_set_password", Some(&user.id));
        Ok(ended)
    })
}

/// Ends every session of the user.
pub fn revoke_sessions(
    state: &AppState,
    conn: &mut DbConnection,
    operator: &ClientInfo,
    user: &UserRow,
) -> Result<usize, ApiError> {
    db::write_transaction(conn, |conn| {
        let ended = end_sessions(state, conn, user, "admin_revoke_sessions")?;
        record(conn, operator, "admin_revoke_sessions", Some(&user.id));
        Ok(ended)
    })
}

/// Disables or enables the account; disabling ends every session.
pub fn set_disabled(
    state: &AppState,
    conn: &mut DbConnection,
    operator: &ClientInfo,
    user: &UserRow,
    disabled: bool,
) -> Result<usize, ApiError> {
    db::write_transaction(conn, |conn| {
        db::users::set_disabled(conn, &user.id, disabled, db::now())?;
        webhooks::queue(
            state,
            conn,
            webhooks::Event::UserDisabled {
                user_id: &user.id,
                disabled,
            },
        )?;
        let ended = if disabled {
            end_sessions(state, conn, user, "user_disabled")?
        } else {
            0
        };
        record(
            conn,
            operator,
            if disabled {
                "admin_disable"
            } else {
                "admin_enable"
            },
            Some(&user.id),
        );
        Ok(ended)
    })
}

/// Deletes the account as its owner's `DELETE user/` does; the audit trail keeps that an
/// operator did it (no user id: there is none left to name). Recorded first, in the same
/// transaction, so an admin who deletes their own account is named by the pseudonym the
/// erasure gives them, like every other action of theirs.
pub fn delete(
    state: &AppState,
    conn: &mut DbConnection,
    operator: &ClientInfo,
    user: &UserRow,
) -> Result<(), ApiError> {
    db::write_transaction(conn, |conn| {
        record(conn, operator, "admin_delete", None);
        crate::service::erasure::erase(state, conn, operator, &user.id)
    })
}
