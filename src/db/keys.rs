//! Queries on `signing_keys`: shared by every replica, so all sign and verify alike.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::signing_keys;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 DER, sealed when an encryption key is configured.
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: NaiveDateTime,
    pub activates_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
}

/// Keys still published at `now`, oldest first.
pub fn published(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table
        .filter(
            signing_keys::expires_at
                .is_null()
                .or(signing_keys::expires_at.gt(now)),
        )
        .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
        .select(KeyRow::as_select())
        .load(conn)
}

pub fn insert(conn: &mut DbConnection, key: &KeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(key)
        .execute(conn)
        .map(drop)
}

/// Every key, newest first (for `authgate keys list`).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table
        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
        .select(KeyRow::as_select())
        .load(conn)
}

/// Schedules the retirement of every key of `algorithm` not yet retired.
pub fn retire_current(
    conn: &mut DbConnection,
    algorithm: &str,
    retire_at: NaiveDateTime,
    expire_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::algorithm.eq(algorithm))
            .filter(signing_keys::retired_at.is_null()),
    )
    .set((
        signing_keys::retired_at.eq(Some(retire_at)),
        signing_keys::expires_at.eq(Some(expire_at)),
    ))
    .execute(conn)
}

pub fn newest_created(
    conn: &mut DbConnection,
    algorithm: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    signing_keys::table
        .filter(signing_keys::algorithm.eq(algorithm))
        .select(diesel::dsl::max(signing_keys::created_at))
        .first(conn)
}

/// Serialises rotations across replicas for the rest of the transaction. SQLite needs nothing:
/// the surrounding `BEGIN IMMEDIATE` already holds the only write lock.
pub fn lock_rotation(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query("SELECT pg_advisory_xact_lock(7243523)")
            .execute(pg)
            .map(drop),
        DbConnection::Sqlite(_) => Ok(()),
    }
}
