//! Queries on `identities` (a user's accounts at identity providers) and `oauth_flows` (a
//! provider sign-in between its redirect and its end).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{identities, oauth_flows};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = identities)]
pub struct IdentityRow {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = identities)]
pub struct NewIdentity<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub provider: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

/// Inserts an identity; one already linked (to anyone) is a unique violation.
pub fn insert(conn: &mut DbConnection, row: &NewIdentity<'_>) -> QueryResult<()> {
    diesel::insert_into(identities::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn find(
    conn: &mut DbConnection,
    provider: &str,
    subject: &str,
) -> QueryResult<Option<IdentityRow>> {
    identities::table
        .filter(identities::provider.eq(provider))
        .filter(identities::subject.eq(subject))
        .select(IdentityRow::as_select())
        .get_result(conn)
        .optional()
}

/// The user's identities, oldest first.
pub fn for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<IdentityRow>> {
    identities::table
        .filter(identities::user_id.eq(user_id))
        .order((identities::created_at.asc(), identities::id.asc()))
        .select(IdentityRow::as_select())
        .load(conn)
}

/// Stamps a sign-in through the identity and keeps the provider's latest address.
pub fn touch(
    conn: &mut DbConnection,
    id: &str,
    email: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(identities::table.filter(identities::id.eq(id)))
        .set((
            identities::last_used_at.eq(Some(at)),
            identities::email.eq(email),
        ))
        .execute(conn)
        .map(drop)
}

/// Removes the user's identity `id`: false for an unknown id or another user's.
pub fn delete_own(conn: &mut DbConnection, user_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(
        identities::table
            .filter(identities::id.eq(id))
            .filter(identities::user_id.eq(user_id)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_flows)]
pub struct NewFlow<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub purpose: &'a str,
    pub user_id: Option<&'a str>,
    pub binding: &'a str,
    pub payload: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_flow(conn: &mut DbConnection, row: &NewFlow<'_>) -> QueryResult<()> {
    diesel::insert_into(oauth_flows::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_flows)]
pub struct FlowRow {
    pub id: String,
    pub provider: String,
    pub purpose: String,
    pub user_id: Option<String>,
    pub binding: String,
    pub payload: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn find_flow(conn: &mut DbConnection, id: &str) -> QueryResult<Option<FlowRow>> {
    oauth_flows::table
        .filter(oauth_flows::id.eq(id))
        .select(FlowRow::as_select())
        .get_result(conn)
        .optional()
}

/// Marks the flow used: true for the one caller that got to it first.
pub fn use_flow(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        oauth_flows::table
            .filter(oauth_flows::id.eq(id))
            .filter(oauth_flows::used_at.is_null()),
    )
    .set(oauth_flows::used_at.eq(Some(at)))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn delete_flow(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(oauth_flows::table.filter(oauth_flows::id.eq(id)))
        .execute(conn)
        .map(drop)
}
