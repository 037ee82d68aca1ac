//! Queries on `admin_keys`: only the SHA-256 of a key is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::admin_keys;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_keys)]
pub struct AdminKeyRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub key_hash: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &AdminKeyRow) -> QueryResult<()> {
    diesel::insert_into(admin_keys::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The key with this hash, unless it was revoked.
pub fn find_live(conn: &mut DbConnection, key_hash: &str) -> QueryResult<Option<AdminKeyRow>> {
    admin_keys::table
        .filter(admin_keys::key_hash.eq(key_hash))
        .filter(admin_keys::revoked_at.is_null())
        .select(AdminKeyRow::as_select())
        .get_result(conn)
        .optional()
}

/// Notes a use, at most once a minute per key (a busy script must not turn every read into a
/// write).
pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    let a_minute_ago = now - chrono::Duration::minutes(1);
    diesel::update(
        admin_keys::table.find(id).filter(
            admin_keys::last_used_at
                .is_null()
                .or(admin_keys::last_used_at.lt(a_minute_ago)),
        ),
    )
    .set(admin_keys::last_used_at.eq(now))
    .execute(conn)
    .map(drop)
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<AdminKeyRow>> {
    admin_keys::table
        .order((admin_keys::created_at.asc(), admin_keys::id.asc()))
        .select(AdminKeyRow::as_select())
        .load(conn)
}

/// Revokes a key: true when it was live.
pub fn revoke(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        admin_keys::table
            .find(id)
            .filter(admin_keys::revoked_at.is_null()),
    )
    .set(admin_keys::revoked_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}
