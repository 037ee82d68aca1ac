//! Queries on `users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub password_hash: String,
    pub name: String,
    pub avatar: Option<String>,
    pub phone: Option<String>,
    pub contact_type: Option<String>,
    pub contact_value: Option<String>,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_sign_in_at: Option<NaiveDateTime>,
    /// Sealed; `Some` means TOTP is enabled.
    pub totp_secret: Option<Vec<u8>>,
    /// Sealed; issued by `POST mfa/totp/`, not yet confirmed.
    pub totp_pending: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub totp_failures: i32,
    pub totp_locked_until: Option<NaiveDateTime>,
    /// False for an account made with a passkey until a password is set (by reset): its hash is
    /// of random bytes nobody knows.
    pub has_password: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub email_verified: bool,
    pub password_hash: &'a str,
    pub name: &'a str,
    pub contact_type: Option<&'a str>,
    pub contact_value: Option<&'a str>,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub has_password: bool,
}

pub fn insert(conn: &mut DbConnection, user: &NewUser<'_>) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(drop)
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    super::on_backend!(conn, |c| users::table
        .find(id)
        .select(UserRow::as_select())
        .get_result(c)
        .optional())
}

pub fn record_sign_in(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::last_sign_in_at.eq(Some(at)))
        .execute(conn)
        .map(drop)
}

/// Replaces a stored hash, used to upgrade a hash made with an older scheme or cost.
pub fn set_password_hash(conn: &mut DbConnection, id: &str, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .map(drop)
}

pub fn set_email_verified(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::email_verified.eq(true), users::updated_at.eq(at)))
        .execute(conn)
        .map(drop)
}

/// Replaces the address with one the user has just proven to own.
pub fn set_verified_email(
    conn: &mut DbConnection,
    id: &str,
    email: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(email),
            users::email_verified.eq(true),
            users::updated_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn set_password(
    conn: &mut DbConnection,
    id: &str,
    hash: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(hash),
            users::has_password.eq(true),
            users::updated_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn set_name(
    conn: &mut DbConnection,
    id: &str,
    name: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::name.eq(name), users::updated_at.eq(at)))
        .execute(conn)
        .map(drop)
}

pub fn set_avatar(
    conn: &mut DbConnection,
    id: &str,
    avatar: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::avatar.eq(avatar), users::updated_at.eq(at)))
        .execute(conn)
        .map(drop)
}

pub fn find_by_phone(conn: &mut DbConnection, phone: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::phone.eq(phone))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn set_phone(
    conn: &mut DbConnection,
    id: &str,
    phone: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::phone.eq(phone), users::updated_at.eq(at)))
        .execute(conn)
        .map(drop)
}

pub fn set_disabled(
    conn: &mut DbConnection,
    id: &str,
    disabled: bool,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::disabled.eq(disabled), users::updated_at.eq(at)))
        .execute(conn)
        .map(drop)
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<UserRow>> {
    users::table
        .order(users::created_at.asc())
        .select(UserRow::as_select())
        .load(conn)
}

/// Stores a freshly issued, unconfirmed TOTP secret (sealed).
pub fn set_totp_pending(
    conn: &mut DbConnection,
    id: &str,
    sealed: Option<&[u8]>,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::totp_pending.eq(sealed))
        .execute(conn)
        .map(drop)
}

/// Turns TOTP on with `sealed` (or off with `None`), resetting its step and failure state.
pub fn set_totp(
    conn: &mut DbConnection,
    id: &str,
    sealed: Option<&[u8]>,
    last_step: Option<i64>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::totp_secret.eq(sealed),
            users::totp_pending.eq(None::<Vec<u8>>),
            users::totp_last_step.eq(last_step),
            users::totp_failures.eq(0),
            users::totp_locked_until.eq(None::<NaiveDateTime>),
            users::updated_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// Records an accepted TOTP step, only if it is newer than the last one: false when this step
/// (or a later one) was already used, so a code is accepted once even under concurrency.
pub fn accept_totp_step(conn: &mut DbConnection, id: &str, step: i64) -> QueryResult<bool> {
    diesel::update(
        users::table.find(id).filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        ),
    )
    .set((
        users::totp_last_step.eq(Some(step)),
        users::totp_failures.eq(0),
        users::totp_locked_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Counts a wrong TOTP code and returns the new count.
pub fn record_totp_failure(conn: &mut DbConnection, id: &str) -> QueryResult<i32> {
    diesel::update(users::table.find(id))
        .set(users::totp_failures.eq(users::totp_failures + 1))
        .execute(conn)?;
    users::table
        .find(id)
        .select(users::totp_failures)
        .first(conn)
}

/// A second factor was accepted: the run of wrong codes is over.
pub fn clear_totp_failures(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::totp_failures.eq(0),
            users::totp_locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
        .map(drop)
}

pub fn lock_totp_until(conn: &mut DbConnection, id: &str, until: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::totp_locked_until.eq(Some(until)))
        .execute(conn)
        .map(drop)
}

/// Deletes the account; its sessions, codes and recovery codes go with it (foreign keys).
pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(id)).execute(conn)
}

/// What the admin API's user list is filtered by; every part optional.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    /// A prefix of the (lower-case) address.
    pub email_prefix: Option<String>,
    pub role: Option<String>,
    pub created_after: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    /// The last account of the previous page: `(created_at, id)`.
    pub after: Option<(NaiveDateTime, String)>,
}

/// One page of accounts, oldest first; `limit` rows at most.
pub fn search(
    conn: &mut DbConnection,
    filter: &UserFilter,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    use super::schema::user_roles;
    let mut query = users::table.into_boxed();
    if let Some(prefix) = &filter.email_prefix {
        // `%`, `_` and the escape itself match only themselves.
        let escaped: String = prefix
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        query = query.filter(users::email.like(format!("{escaped}%")).escape('\\'));
    }
    if let Some(role) = &filter.role {
        query = query.filter(
            users::id.eq_any(
                user_roles::table
                    .filter(user_roles::role.eq(role.clone()))
                    .select(user_roles::user_id),
            ),
        );
    }
    if let Some(after) = filter.created_after {
        query = query.filter(users::created_at.ge(after));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(users::created_at.lt(before));
    }
    if let Some((at, id)) = &filter.after {
        query = query.filter(
            users::created_at
                .gt(*at)
                .or(users::created_at.eq(*at).and(users::id.gt(id.clone()))),
        );
    }
    query
        .order((users::created_at.asc(), users::id.asc()))
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
}

/// Sets whether the address counts as verified (an operator's correction).
pub fn set_email_verified_to(
    conn: &mut DbConnection,
    id: &str,
    verified: bool,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::email_verified.eq(verified), users::updated_at.eq(at)))
        .execute(conn)
        .map(drop)
}
