//! Queries on `sessions`: one row per sign-in, holding the refresh-token state.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{session_tombstones, sessions, users};
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
    let update = RotateFrom { id, from, next, at };
    super::on_backend!(conn, |c| update.execute(c)).map(|n| n == 1)
}

/// The rotation's `UPDATE`, the one write of every refresh, written out so that it is prepared
/// once per connection. diesel never caches an `UPDATE` built with its DSL (a changeset with
/// optional fields can render different SQL each time): PostgreSQL parsed and planned this one
/// on every refresh (an unnamed Parse/Bind/Execute in the server log) and SQLite re-prepared it.
/// The text is exactly the DSL's
/// `update(sessions.find(id).filter(counter.eq(from)).filter(revoked_at.is_null()))
/// .set((counter.eq(next), rotated_at.eq(at), last_used_at.eq(at)))`, binds in the same order
/// (a unit test compares both renderings on both backends).
#[derive(Debug, Clone, Copy)]
struct RotateFrom<'a> {
    id: &'a str,
    from: i64,
    next: i64,
    at: NaiveDateTime,
}

impl<DB> diesel::query_builder::QueryFragment<DB> for RotateFrom<'_>
where
    DB: diesel::backend::Backend,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    NaiveDateTime: diesel::serialize::ToSql<diesel::sql_types::Timestamp, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Text, Timestamp};
        out.push_sql("UPDATE ");
        out.push_identifier("sessions")?;
        out.push_sql(" SET ");
        out.push_identifier("counter")?;
        out.push_sql(" = ");
        out.push_bind_param::<BigInt, _>(&self.next)?;
        for column in ["rotated_at", "last_used_at"] {
            out.push_sql(", ");
            out.push_identifier(column)?;
            out.push_sql(" = ");
            out.push_bind_param::<Timestamp, _>(&self.at)?;
        }
        let qualified = |out: &mut diesel::query_builder::AstPass<'_, 'b, DB>, column| {
            out.push_identifier("sessions")?;
            out.push_sql(".");
            out.push_identifier(column)
        };
        out.push_sql(" WHERE (((");
        qualified(&mut out, "id")?;
        out.push_sql(" = ");
        out.push_bind_param::<Text, str>(self.id)?;
        out.push_sql(") AND (");
        qualified(&mut out, "counter")?;
        out.push_sql(" = ");
        out.push_bind_param::<BigInt, _>(&self.from)?;
        out.push_sql(")) AND (");
        qualified(&mut out, "revoked_at")?;
        out.push_sql(" IS NULL))");
        Ok(())
    }
}

/// A static id: diesel finds the prepared statement by type, without rendering the SQL.
impl diesel::query_builder::QueryId for RotateFrom<'_> {
    type QueryId = RotateFrom<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Conn> RunQueryDsl<Conn> for RotateFrom<'_> {}

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

/// A user's sessions that can still be refreshed. The filter is shared so that every query of
/// live sessions reads the partial index `sessions_user_live` (user, expiry; not revoked), whose
/// condition must appear in the query as it stands: a user's revoked and expired rows are then
/// never read (a unit test checks the plan).
type LiveOf<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Filter<sessions::table, diesel::dsl::Eq<sessions::user_id, &'a str>>,
            diesel::dsl::IsNull<sessions::revoked_at>,
        >,
        diesel::dsl::Gt<sessions::expires_at, NaiveDateTime>,
    >,
    diesel::dsl::Gt<sessions::last_used_at, NaiveDateTime>,
>;

fn live_of(user_id: &str, now: NaiveDateTime, idle_since: NaiveDateTime) -> LiveOf<'_> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_used_at.gt(idle_since))
}

/// Sessions of a user that can still be refreshed.
pub fn count_live(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
    idle_since: NaiveDateTime,
) -> QueryResult<i64> {
    live_of(user_id, now, idle_since).count().get_result(conn)
}

/// Ends every live session of a user, except `keep` (the caller's, on password change), and
/// returns the ids it ended: those stamped with exactly this `at` and `reason` (`db::now()` is
/// truncated to microseconds, so the stamp reads back equal on both backends).
pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let target = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::id.ne(keep.unwrap_or("")));
    let n = diesel::update(target)
        .set((
            sessions::revoked_at.eq(Some(at)),
            sessions::revoked_reason.eq(Some(reason)),
        ))
        .execute(conn)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.eq(at))
        .filter(sessions::revoked_reason.eq(reason))
        .select(sessions::id)
        .load(conn)
}

/// What decides whether an access token's session still stands.
#[derive(Debug, Clone, Queryable)]
pub struct Liveness {
    pub user_id: String,
    pub revoked_at: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
}

/// The liveness columns of one session (primary-key lookup, no lock).
pub fn liveness(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Liveness>> {
    super::on_backend!(conn, |c| sessions::table
        .find(id)
        .select((
            sessions::user_id,
            sessions::revoked_at,
            sessions::expires_at,
            sessions::last_used_at,
        ))
        .get_result::<Liveness>(c)
        .optional())
}

/// Sessions revoked after `since`, with when (the revocation list's reload; uses the index on
/// `revoked_at`).
pub fn revoked_since(
    conn: &mut DbConnection,
    since: NaiveDateTime,
) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    let mut revoked: Vec<(String, NaiveDateTime)> = sessions::table
        .filter(sessions::revoked_at.gt(since))
        .select((sessions::id, sessions::revoked_at.assume_not_null()))
        .load(conn)?;
    revoked.extend(
        session_tombstones::table
            .filter(session_tombstones::revoked_at.gt(since))
            .select((session_tombstones::id, session_tombstones::revoked_at))
            .load::<(String, NaiveDateTime)>(conn)?,
    );
    Ok(revoked)
}

/// Before a user's rows are deleted: every session of theirs that may still have live access
/// tokens becomes a tombstone, so the revocation list keeps refusing those tokens.
pub fn tombstone_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let ids: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .select(sessions::id)
        .load(conn)?;
    for id in &ids {
        diesel::insert_into(session_tombstones::table)
            .values((
                session_tombstones::id.eq(id),
                session_tombstones::revoked_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(ids)
}

/// Live sessions of a user, newest first.
pub fn live_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
    idle_since: NaiveDateTime,
) -> QueryResult<Vec<SessionRow>> {
    live_of(user_id, now, idle_since)
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(SessionRow::as_select())
        .load(conn)
}

/// Every session row of a user, ended ones included, oldest first (the data export).
pub fn all_for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order((sessions::created_at.asc(), sessions::id.asc()))
        .select(SessionRow::as_select())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection as _};
    use diesel::debug_query;

    use super::*;

    fn dsl_rotation<'a>(
        id: &'a str,
        from: i64,
        at: NaiveDateTime,
    ) -> impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>
           + diesel::query_builder::QueryFragment<diesel::pg::Pg>
           + 'a {
        diesel::update(
            sessions::table
                .find(id)
                .filter(sessions::counter.eq(from))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::counter.eq(from + 1),
            sessions::rotated_at.eq(at),
            sessions::last_used_at.eq(at),
        ))
    }

    #[test]
    fn the_written_out_rotation_renders_as_the_dsl_update_on_both_backends() {
        let at = crate::db::now();
        let ours = RotateFrom {
            id: "s1",
            from: 7,
            next: 8,
            at,
        };
        let theirs = dsl_rotation("s1", 7, at);
        assert_eq!(
            debug_query::<diesel::sqlite::Sqlite, _>(&ours).to_string(),
            debug_query::<diesel::sqlite::Sqlite, _>(&theirs).to_string()
        );
        assert_eq!(
            debug_query::<diesel::pg::Pg, _>(&ours).to_string(),
            debug_query::<diesel::pg::Pg, _>(&theirs).to_string()
        );
    }

    #[derive(QueryableByName)]
    struct PlanStep {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    /// SQLite's plan for `query` (its parameters left unbound, which a plan does not need).
    fn sqlite_plan<Q>(c: &mut SqliteConnection, query: &Q) -> String
    where
        Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>,
    {
        let rendered = debug_query::<diesel::sqlite::Sqlite, _>(query).to_string();
        let sql = rendered.split(" -- binds:").next().unwrap();
        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<PlanStep>(c)
            .unwrap()
            .into_iter()
            .map(|s| s.detail)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A migrated in-memory SQLite database.
    fn migrated_sqlite() -> DbConnection {
        let mut conn = DbConnection::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        crate::db::run_migrations(&mut conn).unwrap();
        conn
    }

    fn sqlite(conn: &mut DbConnection) -> &mut SqliteConnection {
        match conn {
            DbConnection::Sqlite(c) => c,
            DbConnection::Postgresql(_) => unreachable!("built by migrated_sqlite"),
        }
    }

    #[test]
    fn live_session_queries_read_only_the_partial_index_of_sessions_not_ended() {
        let mut conn = migrated_sqlite();
        let c = sqlite(&mut conn);
        let now = crate::db::now();
        let count = sqlite_plan(c, &live_of("u1", now, now).count());
        assert!(
            count.contains("USING INDEX sessions_user_live (user_id=? AND expires_at>?)"),
            "{count}"
        );
        let list = sqlite_plan(
            c,
            &live_of("u1", now, now)
                .order((sessions::created_at.desc(), sessions::id.desc()))
                .select(SessionRow::as_select()),
        );
        assert!(list.contains("USING INDEX sessions_user_live"), "{list}");
    }

    /// The statements diesel newly caches, by SQL.
    #[derive(Default, Clone)]
    struct Cached(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for Cached {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                self.0.lock().unwrap().push(sql.to_owned());
            }
        }
    }

    #[test]
    fn the_rotation_is_prepared_once_per_connection_and_moves_the_counter_one_step_at_a_time() {
        let mut conn = migrated_sqlite();
        let c = sqlite(&mut conn);
        c.batch_execute(
            "INSERT INTO users (id, email, password_hash, name, created_at, updated_at) \
             VALUES ('u1', 'a@example.com', 'x', 'A', '2026-01-01', '2026-01-01'); \
             INSERT INTO sessions (id, user_id, secret, counter, rotated_at, created_at, \
             last_used_at, expires_at, remember_me, amr, aal) VALUES ('s1', 'u1', x'00', 0, \
             '2026-01-01', '2026-01-01', '2026-01-01', '2099-01-01', 0, '[]', 'aal1');",
        )
        .unwrap();
        let cached = Cached::default();
        c.set_instrumentation(cached.clone());
        let at = crate::db::now();
        assert!(rotate_from(&mut conn, "s1", 0, at).unwrap());
        assert!(
            !rotate_from(&mut conn, "s1", 0, at).unwrap(),
            "the counter moved on"
        );
        assert!(rotate_from(&mut conn, "s1", 1, at).unwrap());
        assert!(!rotate_from(&mut conn, "nope", 2, at).unwrap());
        let seen = cached.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].starts_with("UPDATE"), "{seen:?}");
        let row: (i64, Option<NaiveDateTime>) = sessions::table
            .find("s1")
            .select((sessions::counter, sessions::revoked_at))
            .get_result(sqlite(&mut conn))
            .unwrap();
        assert_eq!(row, (2, None));
    }
}
