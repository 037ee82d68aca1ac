//! Queries on `recovery_codes`: a user's set of single-use second-factor codes, kept as keyed
//! hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::recovery_codes;
use super::DbConnection;

/// Replaces the user's whole set (spent codes included) with `hashes`.
pub fn replace(
    conn: &mut DbConnection,
    user_id: &str,
    hashes: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    delete_all(conn, user_id)?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|hash| {
            (
                recovery_codes::id.eq(uuid::Uuid::new_v4().to_string()),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    // One row at a time: SQLite's diesel backend has no multi-row insert with defaults.
    for row in rows {
        diesel::insert_into(recovery_codes::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn delete_all(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)
}

/// Spends the unused code with this hash: true when there was one. One conditional UPDATE, so
/// two requests racing with the same code cannot both succeed.
pub fn spend(
    conn: &mut DbConnection,
    user_id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(now)))
    .execute(conn)
    .map(|n| n == 1)
}

/// How many unused codes the user has.
pub fn remaining(conn: &mut DbConnection, user_id: &str) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}
