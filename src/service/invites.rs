//! Invitation codes (`AUTHGATE_INVITE_ONLY=true`): created by the admin CLI, redeemed at signup.

use std::time::Duration;

use base64::Engine as _;
use chrono::NaiveDateTime;

use crate::db::{self, invites::InviteRow, DbConnection};

/// Hex SHA-256 of a code: what is stored and looked up.
pub fn hash(code: &str) -> String {
    crate::crypto::sha256_hex(code.trim().as_bytes())
}

/// Creates a code (128 random bits, base64url) and returns it: the only time it exists in clear.
pub fn create(
    conn: &mut DbConnection,
    uses: u32,
    expires_in: Option<Duration>,
) -> diesel::QueryResult<(String, InviteRow)> {
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
    db::invites::insert(conn, &row)?;
    Ok((code, row))
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
