//! Queries on `auth_events`: the audit trail (sign-ins, failures, refresh reuse, logouts).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::auth_events;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = auth_events)]
pub struct EventRow {
    pub id: String,
    pub user_id: Option<String>,
    pub kind: String,
    pub outcome: String,
    pub method: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub actor: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = auth_events)]
pub struct NewEvent<'a> {
    pub id: String,
    pub user_id: Option<&'a str>,
    pub kind: &'a str,
    pub outcome: &'a str,
    pub method: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub actor: Option<&'a str>,
}

pub fn insert(conn: &mut DbConnection, event: &NewEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(auth_events::table)
        .values(event)
        .execute(conn)
        .map(drop)
}

/// The latest sign-in attempts of a user, newest first.
pub fn recent_sign_ins(
    conn: &mut DbConnection,
    user_id: &str,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    auth_events::table
        .filter(auth_events::user_id.eq(user_id))
        .filter(auth_events::kind.eq_any(["signin", "signup"]))
        .order((auth_events::created_at.desc(), auth_events::id.desc()))
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}

/// Deletes every audit event of a user (an erased account keeps no history).
pub fn delete_for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(auth_events::table.filter(auth_events::user_id.eq(user_id))).execute(conn)
}

/// Every audit event of a user, oldest first (the data export).
pub fn all_for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<EventRow>> {
    auth_events::table
        .filter(auth_events::user_id.eq(user_id))
        .order((auth_events::created_at.asc(), auth_events::id.asc()))
        .select(EventRow::as_select())
        .load(conn)
}

/// What the audit log is filtered by (`GET /api/v1/admin/audit/`); every part optional.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub user_id: Option<String>,
    pub kind: Option<String>,
    pub since: Option<NaiveDateTime>,
    /// The last event of the previous page: `(created_at, id)`.
    pub after: Option<(NaiveDateTime, String)>,
}

/// One page of the audit log, newest first; `limit` rows at most.
pub fn search(
    conn: &mut DbConnection,
    filter: &EventFilter,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut query = auth_events::table.into_boxed();
    if let Some(user_id) = &filter.user_id {
        query = query.filter(auth_events::user_id.eq(user_id.clone()));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(auth_events::kind.eq(kind.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(auth_events::created_at.ge(since));
    }
    if let Some((at, id)) = &filter.after {
        query = query.filter(
            auth_events::created_at.lt(*at).or(auth_events::created_at
                .eq(*at)
                .and(auth_events::id.lt(id.clone()))),
        );
    }
    query
        .order((auth_events::created_at.desc(), auth_events::id.desc()))
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}

/// Replaces an erased admin's id in the `actor` of the events they caused: the trail keeps
/// that one admin acted (a pseudonym), not who.
pub fn pseudonymise_actor(
    conn: &mut DbConnection,
    actor: &str,
    pseudonym: &str,
) -> QueryResult<usize> {
    diesel::update(auth_events::table.filter(auth_events::actor.eq(actor)))
        .set(auth_events::actor.eq(pseudonym))
        .execute(conn)
}
