//! Invitation codes (`AUTHGATE_INVITE_ONLY=true`): created by the admin CLI, redeemed at signup.

use std::time::Duration;

use base64::Engine as _;
use chrono::NaiveDateTime;

use crate::db::{self, invites::InviteRow, DbConnection};

/// Hex SHA-256 of a code: what is stored and looked up.
pub fn hash(code: &str) -> String {
    crate::crypto::sha256_hex(code.trim().as_bytes())
}

/// An invitation as listed: a prefix of its code's hash names it; the code is never shown again.
#[derive(Debug, serde::Serialize)]
pub struct InviteView {
    pub hash_prefix: String,
    pub uses: i32,
    pub max_uses: i32,
    pub expires_at: Option<String>,
    pub created_at: String,
}

impl From<&InviteRow> for InviteView {
    fn from(r: &InviteRow) -> Self {
        use crate::service::users::rfc3339;
        Self {
            hash_prefix: r.code_hash[..16.min(r.code_hash.len())].to_owned(),
            uses: r.uses,
            max_uses: r.max_uses,
            expires_at: r.expires_at.map(rfc3339),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Every invitation, oldest first.
pub fn list(conn: &mut DbConnection) -> Result<Vec<InviteView>, crate::error::ApiError> {
    Ok(db::invites::all(conn)?
        .iter()
        .map(InviteView::from)
        .collect())
}

/// Creates a code (128 random bits, base64url) and returns it: the only time it exists in
/// clear. Audited as `admin_invite_created` with `operator` as the actor.
pub fn create(
    conn: &mut DbConnection,
    operator: &crate::domain::ClientInfo,
    uses: u32,
    expires_in: Option<Duration>,
) -> diesel::QueryResult<(String, InviteView)> {
    let code = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(crate::crypto::random_bytes::<16>());
    let now = db::now();
    let row = InviteRow {
        code_hash: hash(&code),
        max_uses: i32::try_from(uses).unwrap_or(i32::MAX),
        uses: 0,
        expires_at: expires_in.map(|d| {
            now.checked_add_signed(chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
                .unwrap_or(NaiveDateTime::MAX)
        }),
        created_at: now,
    };
    db::write_transaction(conn, |conn| {
        db::invites::insert(conn, &row)?;
        crate::service::rescue::record(conn, operator, "admin_invite_created", None);
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok((code, InviteView::from(&row)))
}

/// Uses a code once, atomically; false when it is unknown, used up or expired.
pub fn redeem(
    conn: &mut DbConnection,
    code: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    if code.trim().is_empty() || code.len() > 200 {
        return Ok(false);
    }
    db::invites::redeem(conn, &hash(code), now)
}
