//! Queries on `sessions`: one row per sign-in, holding the refresh-token state (DESIGN §3).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{sessions, users};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    /// Sealed (see `crypto::sealing`): never the raw secret when an encryption key is set.
    pub secret: Vec<u8>,
    pub counter: i64,
    pub rotated_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub remember_me: bool,
    pub amr: String,
    pub aal: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub secret: &'a [u8],
    pub counter: i64,
    pub rotated_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub remember_me: bool,
    pub amr: &'a str,
    pub aal: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub fn insert(conn: &mut DbConnection, session: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(session)
        .execute(conn)
        .map(drop)
}

/// Reads a session and locks its row until the transaction ends, so concurrent refreshes of
/// one session run one after the other. PostgreSQL takes a row lock (`FOR UPDATE`); SQLite has
/// no row locks, and the caller's `BEGIN IMMEDIATE` already holds the database write lock.
pub fn find_for_update(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SessionRow>> {
    match conn {
        DbConnection::Postgresql(pg) => sessions::table
            .find(id)
            .select(SessionRow::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(_) => find(conn, id),
    }
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SessionRow>> {
    super::on_backend!(conn, |c| sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .get_result(c)
        .optional())
}

/// What a refresh needs of the session's user.
#[derive(Debug, Clone, Queryable)]
pub struct SessionUser {
    pub email: String,
    pub email_verified: bool,
    pub disabled: bool,
}

/// A session and what a refresh needs of its user, in one query and without a lock: the
/// optimistic read of a refresh, confirmed by [`rotate_from`].
pub fn find_with_user(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<(SessionRow, SessionUser)>> {
    super::on_backend!(conn, |c| sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(id))
        .select((
            SessionRow::as_select(),
            (users::email, users::email_verified, users::disabled),
        ))
        .get_result::<(SessionRow, (String, bool, bool))>(c)
        .optional())
    .map(|found| {
        found.map(|(row, (email, email_verified, disabled))| {
            (
                row,
                SessionUser {
                    email,
                    email_verified,
                    disabled,
                },
            )
        })
    })
}

/// Advances the refresh counter from `from` to `from + 1`, but only if it still stands at
/// `from` and the session is not revoked: one atomic statement, so of two refreshes that read
/// the same counter exactly one moves it. False when it did not (the caller re-reads under lock).
pub fn rotate_from(
    conn: &mut DbConnection,
    id: &str,
    from: i64,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let Some(next) = from.checked_add(1) else {
        return Ok(false);
    };
    let update = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::counter.eq(from))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::counter.eq(next),
        sessions::rotated_at.eq(at),
        sessions::last_used_at.eq(at),
    ));
    super::on_backend!(conn, |c| update.execute(c)).map(|n| n == 1)
}

/// Advances the refresh counter by one step.
pub fn rotate(
    conn: &mut DbConnection,
    id: &str,
    new_counter: i64,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set((
            sessions::counter.eq(new_counter),
            sessions::rotated_at.eq(at),
            sessions::last_used_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn revoke(
    conn: &mut DbConnection,
    id: &str,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(Some(at)),
        sessions::revoked_reason.eq(Some(reason)),
    ))
    .execute(conn)
}

/// Sessions of a user that can still be refreshed.
pub fn count_live(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
    idle_since: NaiveDateTime,
) -> QueryResult<i64> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_used_at.gt(idle_since))
        .count()
        .get_result(conn)
}

/// Ends every live session of a user, except `keep` (the caller's, on password change).
pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let target = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::id.ne(keep.unwrap_or("")));
    diesel::update(target)
        .set((
            sessions::revoked_at.eq(Some(at)),
            sessions::revoked_reason.eq(Some(reason)),
        ))
        .execute(conn)
}

/// Live sessions of a user, newest first.
pub fn live_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
    idle_since: NaiveDateTime,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_used_at.gt(idle_since))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(SessionRow::as_select())
        .load(conn)
}
