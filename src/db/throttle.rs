//! Queries on `signin_throttle`: the per-login failure counts and locks of the sign-in lockout.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamp};

use super::schema::signin_throttle;
use super::DbConnection;

/// When the login is locked until, if a row exists.
pub fn locked_until(conn: &mut DbConnection, key: &str) -> QueryResult<Option<NaiveDateTime>> {
    signin_throttle::table
        .filter(signin_throttle::login_key.eq(key))
        .select(signin_throttle::locked_until)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()
        .map(Option::flatten)
}

#[derive(QueryableByName)]
struct Failures {
    #[diesel(sql_type = Integer)]
    failures: i32,
}

/// Counts one failure in one statement (concurrent replicas never lose a count) and returns the
/// consecutive failures so far. A count last touched before `forget_before` starts again at 1.
pub fn record_failure(
    conn: &mut DbConnection,
    key: &str,
    now: NaiveDateTime,
    forget_before: NaiveDateTime,
) -> QueryResult<i32> {
    diesel::sql_query(
        "INSERT INTO signin_throttle (login_key, failures, locked_until, updated_at) \
         VALUES ($1, 1, NULL, $2) \
         ON CONFLICT (login_key) DO UPDATE SET \
         failures = CASE WHEN signin_throttle.updated_at < $3 THEN 1 \
                         ELSE signin_throttle.failures + 1 END, \
         updated_at = $2 \
         RETURNING failures",
    )
    .bind::<Text, _>(key)
    .bind::<Timestamp, _>(now)
    .bind::<Timestamp, _>(forget_before)
    .get_result::<Failures>(conn)
    .map(|r| r.failures)
}

pub fn lock(conn: &mut DbConnection, key: &str, until: NaiveDateTime) -> QueryResult<()> {
    diesel::update(signin_throttle::table.filter(signin_throttle::login_key.eq(key)))
        .set(signin_throttle::locked_until.eq(Some(until)))
        .execute(conn)
        .map(drop)
}

/// Forgets the login's failures and lock.
pub fn clear(conn: &mut DbConnection, key: &str) -> QueryResult<()> {
    diesel::delete(signin_throttle::table.filter(signin_throttle::login_key.eq(key)))
        .execute(conn)
        .map(drop)
}

/// Removes rows neither touched since `before` nor still locked.
pub fn purge(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        signin_throttle::table
            .filter(signin_throttle::updated_at.lt(before))
            .filter(
                signin_throttle::locked_until
                    .is_null()
                    .or(signin_throttle::locked_until.lt(now)),
            ),
    )
    .execute(conn)
}
