//! Queries on `outbox`: messages waiting to be sent.
//!
//! A message is `pending` until a sender claims it; a claim moves it to `sending` and pushes
//! `next_attempt_at` forward by a lease, so a sender that dies mid-send leaves a row that is
//! claimed again once the lease has run out. After a successful send the row is `sent`; after
//! the retry budget it is `failed`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::schema::outbox;
use super::DbConnection;

pub const PENDING: &str = "pending";
pub const SENDING: &str = "sending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// `kind` of security notices: delivered as mail, but never counted by the per-recipient code
/// limits ([`latest_to`], [`count_to`]), so notices cannot delay or crowd out a reset code.
pub const KIND_NOTICE: &str = "notice";

/// `kind` of the notice that an account was deleted: sent like a notice, then its row is
/// deleted rather than kept as sent, so nothing about the person stays behind.
pub const KIND_FAREWELL: &str = "farewell";

/// `kind` of webhook events: `recipient` is `<endpoint id>:<user key>` (one queue per endpoint
/// and user, delivered in order), `subject` the event id (the `webhook-id`), `purpose` the event
/// type, `body_text` the sealed JSON body.
pub const KIND_WEBHOOK: &str = "webhook";

/// Kinds the per-recipient code limits do not count.
const UNCOUNTED: [&str; 3] = [KIND_NOTICE, KIND_FAREWELL, KIND_WEBHOOK];

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// Sealed with the row id as context.
    pub body_text: Vec<u8>,
    pub body_html: Option<Vec<u8>>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// What a code message is for; a webhook event's type.
    pub purpose: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewOutbox<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body_text: &'a [u8],
    pub body_html: Option<&'a [u8]>,
    pub status: &'a str,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    /// What a code message is for; `None` for notices.
    pub purpose: Option<&'a str>,
}

pub fn insert(conn: &mut DbConnection, row: &NewOutbox<'_>) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// When the newest code message (not a notice) to this recipient was queued, if any since `since`.
pub fn latest_to(
    conn: &mut DbConnection,
    recipient: &str,
    purpose: &str,
    since: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    outbox::table
        .filter(outbox::recipient.eq(recipient))
        .filter(outbox::purpose.eq(purpose))
        .filter(outbox::kind.ne_all(UNCOUNTED))
        .filter(outbox::created_at.gt(since))
        .select(diesel::dsl::max(outbox::created_at))
        .first(conn)
}

/// How many code messages (not notices) went to `recipient` after `since`, and the oldest.
pub fn count_to(
    conn: &mut DbConnection,
    recipient: &str,
    since: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    outbox::table
        .filter(outbox::recipient.eq(recipient))
        .filter(outbox::kind.ne_all(UNCOUNTED))
        .filter(outbox::created_at.gt(since))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(outbox::created_at),
        ))
        .first(conn)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Placeholders are numbered in order of appearance: SQLite numbers `$N` parameters that way.
const DUE: &str = "SELECT id FROM outbox WHERE kind = $1 AND status IN ('pending', 'sending') \
    AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3";

/// Claims up to `limit` due messages for this sender and returns them. Runs its own write
/// transaction: on PostgreSQL the due rows are locked with `FOR UPDATE SKIP LOCKED`, so replicas
/// claiming at the same moment get disjoint sets; on SQLite `BEGIN IMMEDIATE` serialises claims.
pub fn claim_due(
    conn: &mut DbConnection,
    kind: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    claim(conn, DUE, kind, now, lease_until, limit)
}

fn claim(
    conn: &mut DbConnection,
    due: &str,
    kind: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    super::write_transaction(conn, |conn| {
        let ids: Vec<String> = match conn {
            DbConnection::Postgresql(pg) => {
                diesel::sql_query(format!("{due} FOR UPDATE SKIP LOCKED"))
                    .bind::<Text, _>(kind)
                    .bind::<Timestamp, _>(now)
                    .bind::<BigInt, _>(limit)
                    .load::<IdRow>(pg)?
            }
            DbConnection::Sqlite(c) => diesel::sql_query(due)
                .bind::<Text, _>(kind)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load::<IdRow>(c)?,
        }
        .into_iter()
        .map(|r| r.id)
        .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::status.eq(SENDING),
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::next_attempt_at.eq(lease_until),
            ))
            .execute(conn)?;
        outbox::table
            .filter(outbox::id.eq_any(&ids))
            .select(OutboxRow::as_select())
            .load(conn)
    })
}

/// Due messages of `kind` that are each the oldest unfinished one of their recipient: a message
/// waits while an earlier one to the same recipient is pending or being sent (retries
/// included), so one recipient's messages are delivered in the order they were queued.
const DUE_IN_ORDER: &str = "SELECT o.id FROM outbox o WHERE o.kind = $1 \
    AND o.status IN ('pending', 'sending') AND o.next_attempt_at <= $2 \
    AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.kind = o.kind AND p.recipient = o.recipient \
        AND p.status IN ('pending', 'sending') \
        AND (p.created_at < o.created_at OR (p.created_at = o.created_at AND p.id < o.id))) \
    ORDER BY o.next_attempt_at, o.id LIMIT $3";

/// [`claim_due`] for queues that must stay in order: at most one message per recipient, the
/// oldest unfinished one ([`DUE_IN_ORDER`]).
pub fn claim_due_in_order(
    conn: &mut DbConnection,
    kind: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    claim(conn, DUE_IN_ORDER, kind, now, lease_until, limit)
}

pub fn mark_sent(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq(SENT),
            outbox::sent_at.eq(Some(at)),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .map(drop)
}

/// Records a failed attempt: retried at `retry_at`, or `failed` for good when `None`.
pub fn mark_failed_attempt(
    conn: &mut DbConnection,
    id: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> QueryResult<()> {
    let target = outbox::table.find(id);
    match retry_at {
        Some(at) => diesel::update(target)
            .set((
                outbox::status.eq(PENDING),
                outbox::next_attempt_at.eq(at),
                outbox::last_error.eq(Some(error)),
            ))
            .execute(conn),
        None => diesel::update(target)
            .set((
                outbox::status.eq(FAILED),
                outbox::last_error.eq(Some(error)),
            ))
            .execute(conn),
    }
    .map(drop)
}

/// Messages not yet sent nor given up (for the backlog metric and tests).
pub fn backlog(conn: &mut DbConnection) -> QueryResult<i64> {
    outbox::table
        .filter(outbox::status.eq_any([PENDING, SENDING]))
        .count()
        .get_result(conn)
}

/// Deletes every message to these recipients, whatever its state (the bodies hold codes and
/// the rows the address).
pub fn delete_to(conn: &mut DbConnection, recipients: &[&str]) -> QueryResult<usize> {
    diesel::delete(outbox::table.filter(outbox::recipient.eq_any(recipients))).execute(conn)
}

/// Deletes one message (a farewell, once delivered or given up).
pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(outbox::table.find(id))
        .execute(conn)
        .map(drop)
}

/// Every message to these recipients, oldest first (the data export).
pub fn to_recipients(
    conn: &mut DbConnection,
    recipients: &[String],
) -> QueryResult<Vec<OutboxRow>> {
    outbox::table
        .filter(outbox::recipient.eq_any(recipients))
        .order((outbox::created_at.asc(), outbox::id.asc()))
        .select(OutboxRow::as_select())
        .load(conn)
}

/// Every webhook message about one user (`user_key` as in their recipient), oldest first (the
/// data export).
pub fn webhooks_of(conn: &mut DbConnection, user_key: &str) -> QueryResult<Vec<OutboxRow>> {
    outbox::table
        .filter(outbox::kind.eq(KIND_WEBHOOK))
        .filter(outbox::recipient.like(format!("%:{user_key}")))
        .order((outbox::created_at.asc(), outbox::id.asc()))
        .select(OutboxRow::as_select())
        .load(conn)
}

/// Deletes every webhook message about one user (`user_key` as in their recipient), on every
/// endpoint, whatever its state: their bodies describe the person.
pub fn delete_webhooks_of(conn: &mut DbConnection, user_key: &str) -> QueryResult<usize> {
    diesel::delete(
        outbox::table
            .filter(outbox::kind.eq(KIND_WEBHOOK))
            .filter(outbox::recipient.like(format!("%:{user_key}"))),
    )
    .execute(conn)
}
