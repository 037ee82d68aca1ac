//! Queries on `passkeys` (a user's WebAuthn credentials) and `webauthn_challenges` (ceremony
//! state between an options call and its finish).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{passkeys, webauthn_challenges};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub credential_id: String,
    /// The verified credential as the relying-party library serialises it (JSON).
    pub credential: String,
    pub name: String,
    pub aaguid: String,
    pub backed_up: bool,
    pub user_verified: bool,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = passkeys)]
pub struct NewPasskey<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub credential_id: &'a str,
    pub credential: &'a str,
    pub name: &'a str,
    pub aaguid: &'a str,
    pub backed_up: bool,
    pub user_verified: bool,
    pub created_at: NaiveDateTime,
}

/// Inserts a passkey; a credential id already registered (to anyone) is a unique violation.
pub fn insert(conn: &mut DbConnection, row: &NewPasskey<'_>) -> QueryResult<()> {
    diesel::insert_into(passkeys::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The user's passkeys, oldest first.
pub fn for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(PasskeyRow::as_select())
        .load(conn)
}

pub fn count_for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<i64> {
    passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .count()
        .get_result(conn)
}

pub fn find_by_credential_id(
    conn: &mut DbConnection,
    credential_id: &str,
) -> QueryResult<Option<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(PasskeyRow::as_select())
        .get_result(conn)
        .optional()
}

/// The user's passkey `id`: `None` for an unknown id or another user's.
pub fn find_own(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
) -> QueryResult<Option<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::id.eq(id))
        .filter(passkeys::user_id.eq(user_id))
        .select(PasskeyRow::as_select())
        .get_result(conn)
        .optional()
}

/// After a successful assertion: the credential as updated (counter, backup state) and when.
/// Conditional on the credential read before the check, so two assertions racing with one
/// counter value cannot both pass: the loser updates nothing (`false`).
pub fn record_use(
    conn: &mut DbConnection,
    id: &str,
    read: &str,
    updated: &str,
    backed_up: bool,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::credential.eq(read)),
    )
    .set((
        passkeys::credential.eq(updated),
        passkeys::backed_up.eq(backed_up),
        passkeys::last_used_at.eq(Some(at)),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn rename(conn: &mut DbConnection, user_id: &str, id: &str, name: &str) -> QueryResult<usize> {
    diesel::update(
        passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::user_id.eq(user_id)),
    )
    .set(passkeys::name.eq(name))
    .execute(conn)
}

pub fn delete_own(conn: &mut DbConnection, user_id: &str, id: &str) -> QueryResult<usize> {
    diesel::delete(
        passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::user_id.eq(user_id)),
    )
    .execute(conn)
}

pub fn delete_all(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id))).execute(conn)
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webauthn_challenges)]
pub struct NewChallenge<'a> {
    pub id: &'a str,
    pub purpose: &'a str,
    pub user_id: Option<&'a str>,
    pub state: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_challenge(conn: &mut DbConnection, row: &NewChallenge<'_>) -> QueryResult<()> {
    diesel::insert_into(webauthn_challenges::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webauthn_challenges)]
pub struct ChallengeRow {
    pub id: String,
    pub purpose: String,
    pub user_id: Option<String>,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn find_challenge(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ChallengeRow>> {
    webauthn_challenges::table
        .find(id)
        .select(ChallengeRow::as_select())
        .get_result(conn)
        .optional()
}

/// Marks the challenge used: true for the one caller that got to it first.
pub fn use_challenge(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        webauthn_challenges::table
            .filter(webauthn_challenges::id.eq(id))
            .filter(webauthn_challenges::used_at.is_null()),
    )
    .set(webauthn_challenges::used_at.eq(Some(at)))
    .execute(conn)
    .map(|n| n == 1)
}
