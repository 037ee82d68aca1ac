//! Deleting dead rows in small batches: each batch reads at most [`BATCH`] ids and deletes them
//! in its own short transaction, so the clean-up never holds a lock for long.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    auth_events, oauth_flows, one_time_codes, outbox, session_tombstones, sessions,
    webauthn_challenges,
};
use super::DbConnection;

/// Rows per batch.
pub const BATCH: i64 = 500;

/// One batch of `$table`'s rows matching `$filter`: at most [`BATCH`] ids read, then deleted in
/// a short write transaction of their own; none taken when nothing matched (no write lock on
/// SQLite for nothing).
macro_rules! delete_batch {
    ($conn:expr, $table:ident, $filter:expr) => {{
        let ids: Vec<String> = $table::table
            .filter($filter)
            .select($table::id)
            .limit(BATCH)
            .load($conn)?;
        if ids.is_empty() {
            return Ok(0);
        }
        super::write_transaction($conn, |conn| {
            diesel::delete($table::table.filter($table::id.eq_any(&ids))).execute(conn)
        })
    }};
}

/// Deletes one batch of sessions no access token of which can still be alive: revoked or
/// expired before `before` (one access-token lifetime ago). Both columns are indexed; a session
/// that went idle goes when it expires (`last_used_at` changes on every refresh, and an index on
/// it would cost the refresh path).
pub fn dead_sessions(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    delete_batch!(
        conn,
        sessions,
        sessions::revoked_at
            .lt(before)
            .or(sessions::expires_at.lt(before))
    )
}

pub fn old_tombstones(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    delete_batch!(
        conn,
        session_tombstones,
        session_tombstones::revoked_at.lt(before)
    )
}

/// Spent or expired one-time codes.
pub fn dead_codes(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    delete_batch!(
        conn,
        one_time_codes,
        one_time_codes::consumed_at
            .is_not_null()
            .or(one_time_codes::expires_at.lt(now))
    )
}

/// Passkey ceremony states past their expiry (used or not: a used one only tells a replay apart
/// while it could still have been answered).
pub fn dead_challenges(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    delete_batch!(
        conn,
        webauthn_challenges,
        webauthn_challenges::expires_at.lt(now)
    )
}

/// Provider sign-ins past their expiry, finished or not (as [`dead_challenges`]).
pub fn dead_flows(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    delete_batch!(conn, oauth_flows, oauth_flows::expires_at.lt(now))
}

/// Messages in `status` created before `before`.
pub fn old_messages(
    conn: &mut DbConnection,
    status: &str,
    before: NaiveDateTime,
) -> QueryResult<usize> {
    delete_batch!(
        conn,
        outbox,
        outbox::status.eq(status).and(outbox::created_at.lt(before))
    )
}

pub fn old_events(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    delete_batch!(conn, auth_events, auth_events::created_at.lt(before))
}

/// Runs `f` holding the clean-up's advisory lock on PostgreSQL (skipped, `None`, when another
/// replica holds it); on SQLite, one file has one writer anyway, so it just runs.
pub fn exclusively<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> T,
) -> QueryResult<Option<T>> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    if !matches!(conn, DbConnection::Postgresql(_)) {
        return Ok(Some(f(conn)));
    }
    let got: Locked = diesel::sql_query(format!("SELECT pg_try_advisory_lock({LOCK}) AS locked"))
        .get_result(conn)?;
    if !got.locked {
        return Ok(None);
    }
    let out = f(conn);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({LOCK})")).execute(conn)?;
    Ok(Some(out))
}

/// The clean-up's advisory lock key: "retain" in ASCII.
const LOCK: i64 = 0x7265_7461_696e;
