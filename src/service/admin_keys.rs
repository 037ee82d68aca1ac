//! Admin API keys, for automation: created at the command line (shown once, only a hash
//! stored), presented as `Authorization: Bearer agk_…`, scoped to reading or to everything.

use base64::Engine as _;
use serde::Serialize;

use crate::db::{self, admin_keys::AdminKeyRow, DbConnection};
use crate::error::ApiError;
use crate::service::users::rfc3339;

/// What every key starts with, so a Bearer value is told from an access token (a JWT starts
/// with `eyJ`) without parsing it, and a leaked key is recognisable to secret scanners.
pub const PREFIX: &str = "agk_";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// GET only.
    Read,
    /// Everything the admin API offers.
    Write,
}

impl Scope {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

fn hash(key: &str) -> String {
    crate::crypto::sha256_hex(key.as_bytes())
}

/// A key as listed: never the key itself.
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<AdminKeyRow> for KeyView {
    fn from(r: AdminKeyRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            scope: r.scope,
            created_at: rfc3339(r.created_at),
            last_used_at: r.last_used_at.map(rfc3339),
            revoked_at: r.revoked_at.map(rfc3339),
        }
    }
}

/// Creates a key (256 random bits) and returns it with its listing: the only time it exists
/// in clear. Audited as `admin_key_created`.
pub fn create(
    conn: &mut DbConnection,
    name: &str,
    scope: Scope,
) -> Result<(String, KeyView), ApiError> {
    let key = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(crate::crypto::random_bytes::<32>())
    );
    let row = AdminKeyRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_owned(),
        scope: scope.as_str().to_owned(),
        key_hash: hash(&key),
        created_at: db::now(),
        last_used_at: None,
        revoked_at: None,
    };
    db::write_transaction(conn, |conn| {
        db::admin_keys::insert(conn, &row)?;
        crate::service::rescue::record(
            conn,
            &crate::domain::ClientInfo::operator(),
            "admin_key_created",
            None,
        );
        Ok::<_, ApiError>(())
    })?;
    Ok((key, row.into()))
}

/// Every key, revoked ones too.
pub fn list(conn: &mut DbConnection) -> Result<Vec<KeyView>, ApiError> {
    Ok(db::admin_keys::all(conn)?
        .into_iter()
        .map(KeyView::from)
        .collect())
}

/// Revokes a key at once; false when there is no live key with this id.
pub fn revoke(conn: &mut DbConnection, id: &str) -> Result<bool, ApiError> {
    db::write_transaction(conn, |conn| {
        let revoked = db::admin_keys::revoke(conn, id, db::now())?;
        if revoked {
            crate::service::rescue::record(
                conn,
                &crate::domain::ClientInfo::operator(),
                "admin_key_revoked",
                None,
            );
        }
        Ok(revoked)
    })
}

/// The live key a presented value is, by the hash of all of it (a lookup on a unique index of
/// a hash of 256 random bits: nothing to learn from its timing). 401 `invalid_token` otherwise.
pub fn authenticate(conn: &mut DbConnection, presented: &str) -> Result<(String, Scope), ApiError> {
    if presented.len() > 100 {
        return Err(ApiError::InvalidToken);
    }
    let row = db::admin_keys::find_live(conn, &hash(presented))?.ok_or(ApiError::InvalidToken)?;
    let scope = Scope::parse(&row.scope).ok_or(ApiError::InvalidToken)?;
    db::admin_keys::touch(conn, &row.id, db::now())?;
    Ok((row.id, scope))
}
