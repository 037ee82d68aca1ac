//! Roles of accounts: granted and revoked by an operator, read into every access token at
//! sign-in and at each refresh (so a change reaches a session at its next refresh, within one
//! access-token lifetime; ending the sessions makes it immediate).

use crate::db::{self, users::UserRow, DbConnection};
use crate::domain::{ClientInfo, Role};
use crate::error::ApiError;
use crate::notify::webhooks;
use crate::service::audit::{self, Event};
use crate::state::AppState;

/// What a grant or revocation did.
pub struct Changed {
    /// False when the user already held (grant) or did not hold (revoke) the role.
    pub changed: bool,
    /// Sessions ended because the caller asked for the change to apply at once.
    pub sessions_ended: usize,
}

/// Grants or revokes `role` for `user` as an operator (audited as `admin_role_granted` or
/// `admin_role_revoked`); with `end_sessions`, the user's sessions end so no token carries the
/// old roles any longer.
pub fn change(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user: &UserRow,
    role: &Role,
    grant: bool,
    end_sessions: bool,
) -> Result<Changed, ApiError> {
    db::write_transaction(conn, |conn| {
        let changed = if grant {
            db::roles::grant(conn, &user.id, role.as_str(), db::now())?
        } else {
            db::roles::revoke(conn, &user.id, role.as_str())?
        };
        let sessions_ended = if end_sessions && changed {
            crate::service::sessions::revoke_all_but(state, conn, &user.id, None, "roles_changed")?
        } else {
            0
        };
        if changed {
            webhooks::queue(
                state,
                conn,
                webhooks::Event::RoleChanged {
                    user_id: &user.id,
                    role: role.as_str(),
                    granted: grant,
                },
            )?;
            audit::record(
                conn,
                client,
                Event {
                    kind: if grant {
                        "admin_role_granted"
                    } else {
                        "admin_role_revoked"
                    },
                    outcome: "success",
                    user_id: Some(&user.id),
                    session_id: None,
                    method: Some("admin"),
                },
            );
        }
        Ok(Changed {
            changed,
            sessions_ended,
        })
    })
}

/// `AUTHGATE_DEFAULT_ROLES` for a new account, in the caller's transaction.
pub fn grant_defaults(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<(), ApiError> {
    let now = db::now();
    for role in &state.settings.default_roles {
        db::roles::grant(conn, user_id, role, now)?;
    }
    Ok(())
}
