//! The user object every endpoint returns (`GET user/`).

use chrono::{NaiveDateTime, SecondsFormat};
use serde::Serialize;

use crate::db::{self, users::UserRow, DbConnection};
use crate::error::ApiError;
use crate::state::AppState;

/// The token's user, if it still exists and is not disabled: 401 `invalid_token` otherwise (an
/// access token outlives neither).
pub fn active(conn: &mut DbConnection, user_id: &str) -> Result<UserRow, ApiError> {
    match db::users::find_by_id(conn, user_id)? {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(ApiError::InvalidToken),
    }
}

#[derive(Debug, Serialize)]
pub struct ContactView {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct HistoryEntry {
    pub at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub method: Option<String>,
    pub outcome: String,
}

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub avatar: Option<String>,
    pub phone: Option<String>,
    pub totp_enabled: bool,
    /// False for an account made with a passkey until a password is set (by reset).
    pub has_password: bool,
    /// Registered passkeys.
    pub passkeys: i64,
    /// Roles, as the next access token will carry them.
    pub roles: Vec<String>,
    /// Unused recovery codes (0 without a second factor).
    pub recovery_codes_left: i64,
    /// Identities at providers linked to the account.
    pub identities: Vec<crate::service::identities::IdentityView>,
    /// The address an email change waits to move to, until its code is verified or it ends.
    pub pending_email: Option<String>,
    pub contact: Option<ContactView>,
    pub created_at: String,
    pub updated_at: String,
    pub last_sign_in_at: Option<String>,
    pub sessions: i64,
    pub history: Vec<HistoryEntry>,
}

pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}

const HISTORY_LEN: i64 = 10;

pub fn view(
    state: &AppState,
    conn: &mut DbConnection,
    user: UserRow,
) -> Result<UserView, ApiError> {
    let now = db::now();
    let idle = chrono::Duration::from_std(state.settings.session_idle_timeout)
        .unwrap_or(chrono::Duration::MAX);
    let idle_since = now.checked_sub_signed(idle).unwrap_or(NaiveDateTime::MIN);
    let sessions = db::sessions::count_live(conn, &user.id, now, idle_since)?;
    let history = db::events::recent_sign_ins(conn, &user.id, HISTORY_LEN)?
        .into_iter()
        .map(|e| HistoryEntry {
            at: rfc3339(e.created_at),
            ip: e.ip,
            user_agent: e.user_agent,
            method: e.method,
            outcome: e.outcome,
        })
        .collect();
    let recovery_codes_left = db::recovery_codes::remaining(conn, &user.id)?;
    let passkeys = db::passkeys::count_for_user(conn, &user.id)?;
    let roles = db::roles::for_user(conn, &user.id)?;
    let identities = crate::service::identities::list(conn, &user.id)?;
    let pending_email = db::codes::live(
        conn,
        &user.id,
        &[crate::service::codes::Purpose::EmailChange.as_str()],
        now,
    )?
    .into_iter()
    .find_map(|c| c.target);
    Ok(UserView {
        recovery_codes_left,
        identities,
        pending_email,
        contact: match (user.contact_type, user.contact_value) {
            (Some(kind), Some(value)) => Some(ContactView { kind, value }),
            _ => None,
        },
        id: user.id,
        email: user.email,
        email_verified: user.email_verified,
        name: user.name,
        avatar: user.avatar,
        phone: user.phone,
        totp_enabled: user.totp_secret.is_some(),
        has_password: user.has_password,
        passkeys,
        roles,
        created_at: rfc3339(user.created_at),
        updated_at: rfc3339(user.updated_at),
        last_sign_in_at: user.last_sign_in_at.map(rfc3339),
        sessions,
        history,
    })
}

/// The caller's user; a deleted or disabled account is treated like an invalid token.
pub fn current(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<UserView, ApiError> {
    match db::users::find_by_id(conn, user_id)? {
        Some(u) if !u.disabled => view(state, conn, u),
        _ => Err(ApiError::InvalidToken),
    }
}
