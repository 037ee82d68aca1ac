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
