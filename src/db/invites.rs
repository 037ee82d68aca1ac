//! Queries on `invite_codes`: only the SHA-256 of a code is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::invite_codes;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invite_codes)]
pub struct InviteRow {
    pub code_hash: String,
    pub max_uses: i32,
    pub uses: i32,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &InviteRow) -> QueryResult<()> {
    diesel::insert_into(invite_codes::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<InviteRow>> {
    invite_codes::table
        .order(invite_codes::created_at.asc())
        .select(InviteRow::as_select())
        .load(conn)
}

/// Counts one use of a code that still has uses left and has not expired, in one statement:
/// concurrent signups can never over-use a code. True when this call got the use.
pub fn redeem(conn: &mut DbConnection, code_hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        invite_codes::table
            .filter(invite_codes::code_hash.eq(code_hash))
            .filter(invite_codes::uses.lt(invite_codes::max_uses))
            .filter(
                invite_codes::expires_at
                    .is_null()
                    .or(invite_codes::expires_at.gt(now)),
            ),
    )
    .set(invite_codes::uses.eq(invite_codes::uses + 1))
    .execute(conn)
    .map(|n| n == 1)
}
