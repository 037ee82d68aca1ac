//! Queries on `user_roles`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::user_roles;
use super::DbConnection;

/// The user's roles, sorted.
pub fn for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<String>> {
    super::on_backend!(conn, |c| user_roles::table
        .filter(user_roles::user_id.eq(user_id))
        .select(user_roles::role)
        .order(user_roles::role.asc())
        .load(c))
}

/// Grants `role`: true when the user did not hold it yet.
pub fn grant(
    conn: &mut DbConnection,
    user_id: &str,
    role: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let held = user_roles::table
        .filter(user_roles::user_id.eq(user_id))
        .filter(user_roles::role.eq(role))
        .count()
        .get_result::<i64>(conn)?;
    if held > 0 {
        return Ok(false);
    }
    diesel::insert_into(user_roles::table)
        .values((
            user_roles::user_id.eq(user_id),
            user_roles::role.eq(role),
            user_roles::granted_at.eq(at),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Revokes `role`: true when the user held it.
pub fn revoke(conn: &mut DbConnection, user_id: &str, role: &str) -> QueryResult<bool> {
    diesel::delete(
        user_roles::table
            .filter(user_roles::user_id.eq(user_id))
            .filter(user_roles::role.eq(role)),
    )
    .execute(conn)
    .map(|n| n == 1)
}

/// Every (user id, role) pair, for the operator's listing.
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<(String, String)>> {
    user_roles::table
        .select((user_roles::user_id, user_roles::role))
        .order((user_roles::user_id.asc(), user_roles::role.asc()))
        .load(conn)
}

/// The roles of each of `user_ids` (a page of the admin API's list): `(user id, role)` pairs.
pub fn for_users(conn: &mut DbConnection, user_ids: &[&str]) -> QueryResult<Vec<(String, String)>> {
    user_roles::table
        .filter(user_roles::user_id.eq_any(user_ids))
        .select((user_roles::user_id, user_roles::role))
        .order((user_roles::user_id.asc(), user_roles::role.asc()))
        .load(conn)
}
