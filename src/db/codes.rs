//! Queries on `one_time_codes`: hashed, expiring, attempt-counted, single-use codes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::one_time_codes;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = one_time_codes)]
pub struct CodeRow {
    pub id: String,
    pub user_id: String,
    pub purpose: String,
    /// Hex SHA-256 of `id ‖ ":" ‖ code`: never the code itself.
    pub code_hash: String,
    pub target: Option<String>,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = one_time_codes)]
pub struct NewCode<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub purpose: &'a str,
    pub code_hash: &'a str,
    pub target: Option<&'a str>,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, code: &NewCode<'_>) -> QueryResult<()> {
    diesel::insert_into(one_time_codes::table)
        .values(code)
        .execute(conn)
        .map(drop)
}

/// Voids every code of a user for these purposes that is still usable.
pub fn void_all(
    conn: &mut DbConnection,
    user_id: &str,
    purposes: &[&str],
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        one_time_codes::table
            .filter(one_time_codes::user_id.eq(user_id))
            .filter(one_time_codes::purpose.eq_any(purposes))
            .filter(one_time_codes::consumed_at.is_null()),
    )
    .set(one_time_codes::consumed_at.eq(Some(at)))
    .execute(conn)
}

/// Codes of a user for these purposes that are neither consumed nor expired, newest first.
pub fn live(
    conn: &mut DbConnection,
    user_id: &str,
    purposes: &[&str],
    now: NaiveDateTime,
) -> QueryResult<Vec<CodeRow>> {
    one_time_codes::table
        .filter(one_time_codes::user_id.eq(user_id))
        .filter(one_time_codes::purpose.eq_any(purposes))
        .filter(one_time_codes::consumed_at.is_null())
        .filter(one_time_codes::expires_at.gt(now))
        .order((one_time_codes::created_at.desc(), one_time_codes::id.desc()))
        .select(CodeRow::as_select())
        .load(conn)
}

/// Counts a wrong guess; the code is void once `max_attempts` is reached.
pub fn record_failure(
    conn: &mut DbConnection,
    id: &str,
    max_attempts: i32,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(one_time_codes::table.find(id))
        .set(one_time_codes::attempts.eq(one_time_codes::attempts + 1))
        .execute(conn)?;
    diesel::update(
        one_time_codes::table
            .find(id)
            .filter(one_time_codes::attempts.ge(max_attempts))
            .filter(one_time_codes::consumed_at.is_null()),
    )
    .set(one_time_codes::consumed_at.eq(Some(at)))
    .execute(conn)
    .map(drop)
}

/// Marks a code used. Returns false when another request consumed it first.
pub fn consume(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        one_time_codes::table
            .find(id)
            .filter(one_time_codes::consumed_at.is_null()),
    )
    .set(one_time_codes::consumed_at.eq(Some(at)))
    .execute(conn)
    .map(|n| n == 1)
}

/// The users holding a live code of `purpose` for `target` (an email revert is found by the
/// old address it restores, not by the account's current one).
pub fn holders_of_target(
    conn: &mut DbConnection,
    purpose: &str,
    target: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    one_time_codes::table
        .filter(one_time_codes::purpose.eq(purpose))
        .filter(one_time_codes::target.eq(target))
        .filter(one_time_codes::consumed_at.is_null())
        .filter(one_time_codes::expires_at.gt(now))
        .select(one_time_codes::user_id)
        .distinct()
        .load(conn)
}

/// Every address or number a user's codes were sent to (email changes, phone bindings), spent
/// or not: the recipients an erasure must clear from the outbox too.
pub fn targets_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<String>> {
    one_time_codes::table
        .filter(one_time_codes::user_id.eq(user_id))
        .filter(one_time_codes::target.is_not_null())
        .select(one_time_codes::target.assume_not_null())
        .distinct()
        .load(conn)
}
