//! What the admin API does: find and read accounts, change them, and read the audit trail. The
//! rescue actions themselves (reset MFA, end sessions, disable, delete) are
//! [`crate::service::rescue`]'s, shared with the command line; every change is audited with the
//! acting admin as its actor.

use base64::Engine as _;
use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::{self, users::UserRow, DbConnection};
use crate::domain::{ClientInfo, DisplayName, Invalid, Role};
use crate::error::ApiError;
use crate::service::export::Factors;
use crate::service::users::{self, rfc3339, UserView};
use crate::state::AppState;

/// Rows per page unless the caller asks for fewer (or more, up to [`MAX_LIMIT`]).
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A page's position: the `(created_at, id)` of its last row, opaque to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: NaiveDateTime,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}.{}",
            self.at.and_utc().timestamp_micros(),
            self.id
        ))
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("invalid_cursor", "cursor is not one this API returned");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (micros, id) = text.split_once('.').ok_or_else(bad)?;
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_micros)
            .ok_or_else(bad)?
            .naive_utc();
        if id.is_empty() || id.len() > 64 {
            return Err(bad());
        }
        Ok(Self {
            at,
            id: id.to_owned(),
        })
    }
}

/// A page size from `?limit=`: 1 to [`MAX_LIMIT`].
pub fn parse_limit(raw: Option<&str>) -> Result<i64, Invalid> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_limit",
                    format!("limit is a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// An RFC 3339 time from a query parameter named `what`.
pub fn parse_time(what: &str, raw: &str) -> Result<NaiveDateTime, Invalid> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.naive_utc())
        .map_err(|_| {
            Invalid::new(
                "invalid_time",
                format!("{what} is an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"),
            )
        })
}

/// One account in a list.
#[derive(Debug, Serialize)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub disabled: bool,
    pub has_password: bool,
    pub totp_enabled: bool,
    pub roles: Vec<String>,
    pub created_at: String,
    pub last_sign_in_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Cuts `rows` (fetched `limit + 1`: one more than asked tells whether a next page exists) to a
/// page, with the cursor of its last row when more follow.
fn paged<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more
        .then(|| rows.last())
        .flatten()
        .map(|r| cursor(r).encode());
    (rows, next)
}

/// A page of accounts matching `filter`, oldest first.
pub fn list_users(
    conn: &mut DbConnection,
    filter: &db::users::UserFilter,
    limit: i64,
) -> Result<Page<UserSummary>, ApiError> {
    let (rows, next_cursor) = paged(db::users::search(conn, filter, limit + 1)?, limit, |u| {
        Cursor {
            at: u.created_at,
            id: u.id.clone(),
        }
    });
    let ids: Vec<&str> = rows.iter().map(|u| u.id.as_str()).collect();
    let mut roles = db::roles::for_users(conn, &ids)?;
    let items = rows
        .into_iter()
        .map(|u| {
            let mine = roles
                .iter()
                .filter(|(id, _)| *id == u.id)
                .map(|(_, r)| r.clone())
                .collect();
            roles.retain(|(id, _)| *id != u.id);
            UserSummary {
                email_verified: u.email_verified,
                disabled: u.disabled,
                has_password: u.has_password,
                totp_enabled: u.totp_secret.is_some(),
                roles: mine,
                created_at: rfc3339(u.created_at),
                last_sign_in_at: u.last_sign_in_at.map(rfc3339),
                id: u.id,
                email: u.email,
                name: u.name,
            }
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// An audit event as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub kind: String,
    pub outcome: String,
    pub user_id: Option<String>,
    /// Who acted when it was not the account itself: `cli`, `key:<id>`, `user:<id>`.
    pub actor: Option<String>,
    pub method: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
}

impl From<db::events::EventRow> for AuditEntry {
    fn from(e: db::events::EventRow) -> Self {
        Self {
            at: rfc3339(e.created_at),
            id: e.id,
            kind: e.kind,
            outcome: e.outcome,
            user_id: e.user_id,
            actor: e.actor,
            method: e.method,
            ip: e.ip,
            user_agent: e.user_agent,
            session_id: e.session_id,
        }
    }
}

/// A page of the audit trail, newest first.
pub fn audit_log(
    conn: &mut DbConnection,
    filter: &db::events::EventFilter,
    limit: i64,
) -> Result<Page<AuditEntry>, ApiError> {
    let (rows, next_cursor) = paged(db::events::search(conn, filter, limit + 1)?, limit, |e| {
        Cursor {
            at: e.created_at,
            id: e.id.clone(),
        }
    });
    Ok(Page {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    })
}

/// One account as an admin sees it: the profile (as `GET user/` shows it to its owner), whether
/// it is disabled, its factors (never their secrets), live sessions and latest audit events.
#[derive(Serialize)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserView,
    pub disabled: bool,
    pub factors: Factors,
    pub live_sessions: Vec<crate::service::sessions::SessionView>,
    pub recent_events: Vec<AuditEntry>,
}

const RECENT_EVENTS: i64 = 20;

/// The account with this id: 404 `not_found` when there is none.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<UserRow, ApiError> {
    if id.len() > 64 {
        return Err(ApiError::NotFound);
    }
    db::users::find_by_id(conn, id)?.ok_or(ApiError::NotFound)
}

pub fn detail(state: &AppState, conn: &mut DbConnection, id: &str) -> Result<UserDetail, ApiError> {
    let user = find(conn, id)?;
    let disabled = user.disabled;
    let factors = Factors::of(conn, &user)?;
    let live_sessions = crate::service::sessions::list(state, conn, &user.id, "")?;
    let filter = db::events::EventFilter {
        user_id: Some(user.id.clone()),
        ..Default::default()
    };
    let recent_events = db::events::search(conn, &filter, RECENT_EVENTS)?
        .into_iter()
        .map(AuditEntry::from)
        .collect();
    Ok(UserDetail {
        user: users::view(state, conn, user)?,
        disabled,
        factors,
        live_sessions,
        recent_events,
    })
}

/// What `PATCH /api/v1/admin/users/{id}/` may change; absent parts stay as they are.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub name: Option<DisplayName>,
    pub email_verified: Option<bool>,
    pub disabled: Option<bool>,
    /// The whole set of roles the account ends up with.
    pub roles: Option<Vec<Role>>,
}

/// Applies a patch: each part that changes something is its own audit event
/// (`admin_update`, `admin_disable`/`admin_enable`, `admin_role_granted`/`_revoked`), all in
/// one transaction. Disabling ends every session; a role change reaches the account's sessions
/// at their next refresh.
pub fn update(
    state: &AppState,
    conn: &mut DbConnection,
    operator: &ClientInfo,
    id: &str,
    patch: &UserPatch,
) -> Result<(), ApiError> {
    db::write_transaction(conn, |conn| {
        let user = find(conn, id)?;
        let now = db::now();
        let mut changed: Vec<&str> = Vec::new();
        if let Some(name) = &patch.name {
            if name.as_str() != user.name {
                db::users::set_name(conn, &user.id, name.as_str(), now)?;
                changed.push("name");
            }
        }
        if let Some(verified) = patch.email_verified {
            if verified != user.email_verified {
                db::users::set_email_verified_to(conn, &user.id, verified, now)?;
                changed.push("email_verified");
            }
        }
        if !changed.is_empty() {
            crate::notify::webhooks::queue(
                state,
                conn,
                crate::notify::webhooks::Event::UserUpdated {
                    user_id: &user.id,
                    changed: &changed,
                },
            )?;
            crate::service::rescue::record(conn, operator, "admin_update", Some(&user.id));
        }
        if let Some(disabled) = patch.disabled {
            if disabled != user.disabled {
                crate::service::rescue::set_disabled(state, conn, operator, &user, disabled)?;
            }
        }
        if let Some(wanted) = &patch.roles {
            let held = db::roles::for_user(conn, &user.id)?;
            for role in wanted {
                if !held.iter().any(|h| h == role.as_str()) {
                    crate::service::roles::change(state, conn, operator, &user, role, true, false)?;
                }
            }
            for name in held {
                if !wanted.iter().any(|w| w.as_str() == name) {
                    let role = Role::parse(&name)?;
                    crate::service::roles::change(
                        state, conn, operator, &user, &role, false, false,
                    )?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_was_not_issued() {
        let at = chrono::DateTime::from_timestamp_micros(1_780_000_000_123_456)
            .unwrap()
            .naive_utc();
        let c = Cursor {
            at,
            id: "0192-abc".into(),
        };
        assert_eq!(Cursor::parse(&c.encode()).unwrap(), c);
        for bad in ["", "!!", "bm9kb3Q", "YWJjLg", "eC54"] {
            assert_eq!(
                Cursor::parse(bad).unwrap_err().code,
                "invalid_cursor",
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("1")).unwrap(), 1);
        assert_eq!(parse_limit(Some("200")).unwrap(), 200);
        for bad in ["0", "201", "-1", "x", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
