//! `PATCH user/`: name, avatar, and the start of an email change.

use crate::db::{self, DbConnection};
use crate::domain::ClientInfo;
use crate::domain::{Avatar, DisplayName, Email};
use crate::error::ApiError;
use crate::notify::webhooks;
use crate::service::email;
use crate::service::mfa::{self, Reauth};
use crate::service::users::{self, UserView};
use crate::state::AppState;

#[derive(Debug, Default)]
pub struct Patch {
    pub name: Option<DisplayName>,
    /// `Some(None)` clears the avatar.
    pub avatar: Option<Option<Avatar>>,
    pub email: Option<Email>,
}

/// Applies name and avatar at once; a new email only after full re-authentication (`proof`,
/// checked before anything changes) and once its code is verified.
pub fn update(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    patch: Patch,
    proof: &Reauth,
) -> Result<UserView, ApiError> {
    if patch.email.is_some() {
        mfa::reauthenticate(state, conn, client, user_id, proof)?;
    }
    let user = db::write_transaction(conn, |conn| -> Result<_, ApiError> {
        let user = match db::users::find_by_id(conn, user_id)? {
            Some(u) if !u.disabled => u,
            _ => return Err(ApiError::InvalidToken),
        };
        let now = db::now();
        if let Some(name) = &patch.name {
            db::users::set_name(conn, &user.id, name.as_str(), now)?;
        }
        if let Some(avatar) = &patch.avatar {
            db::users::set_avatar(conn, &user.id, avatar.as_ref().map(Avatar::as_str), now)?;
        }
        let changed: Vec<&str> = [
            patch.name.as_ref().map(|_| "name"),
            patch.avatar.as_ref().map(|_| "avatar"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !changed.is_empty() {
            webhooks::queue(
                state,
                conn,
                webhooks::Event::UserUpdated {
                    user_id: &user.id,
                    changed: &changed,
                },
            )?;
        }
        if let Some(new_email) = &patch.email {
            email::request_change(state, conn, &user, new_email)?;
        }
        db::users::find_by_id(conn, &user.id)?.ok_or(ApiError::NotFound)
    })?;
    users::view(state, conn, user)
}
