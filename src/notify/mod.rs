//! Outgoing mail, SMS and webhook events: written to the `outbox` table in the transaction that
//! causes them, delivered by a background sender with retries and backoff. A request never
//! waits on SMTP or a webhook receiver.

pub mod security;
pub mod sender;
pub mod webhooks;

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::{self, outbox::NewOutbox, DbConnection};
use crate::state::AppState;
pub use crate::templates::{self, Rendered, Template, Templates};

/// `kind` of mail rows.
pub const KIND_MAIL: &str = "mail";
/// `kind` of the mail that an account was deleted: erased from the outbox once delivered.
pub use crate::db::outbox::KIND_FAREWELL;
/// `kind` of security notices: mail that the per-recipient code limits do not count.
pub use crate::db::outbox::KIND_NOTICE;
/// `kind` of SMS rows (`body_text` holds the sealed message, `subject` is empty).
pub const KIND_SMS: &str = "sms";

/// Sealing context of a stored body: the row id and the part, so a body copied to another row
/// or part does not open.
pub fn body_context(id: &str, part: &str) -> Vec<u8> {
    format!("outbox:{id}:{part}").into_bytes()
}

/// Queues a mail in the caller's transaction. The bodies are sealed (they hold codes). Call
/// [`wake`] after the transaction commits so the sender picks it up at once.
/// `purpose` names what the code in it is for: the cooldown is kept per purpose.
pub fn queue_mail(
    state: &AppState,
    conn: &mut DbConnection,
    to: &str,
    mail: &Rendered,
    purpose: &str,
) -> diesel::QueryResult<String> {
    insert_mail(state, conn, KIND_MAIL, to, mail, Some(purpose))
}

/// [`queue_mail`] with the row's `kind`: [`KIND_MAIL`] or [`KIND_NOTICE`].
pub fn queue_mail_of_kind(
    state: &AppState,
    conn: &mut DbConnection,
    kind: &'static str,
    to: &str,
    mail: &Rendered,
) -> diesel::QueryResult<String> {
    insert_mail(state, conn, kind, to, mail, None)
}

fn insert_mail(
    state: &AppState,
    conn: &mut DbConnection,
    kind: &'static str,
    to: &str,
    mail: &Rendered,
    purpose: Option<&str>,
) -> diesel::QueryResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    let text = state
        .sealer
        .seal(mail.text.as_bytes(), &body_context(&id, "text"));
    let html = state
        .sealer
        .seal(mail.html.as_bytes(), &body_context(&id, "html"));
    db::outbox::insert(
        conn,
        &NewOutbox {
            id: &id,
            kind,
            recipient: to,
            subject: &mail.subject,
            body_text: &text,
            body_html: Some(&html),
            status: db::outbox::PENDING,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            purpose,
        },
    )?;
    Ok(id)
}

/// Queues an SMS in the caller's transaction; the message (it holds a code) is sealed.
pub fn queue_sms(
    state: &AppState,
    conn: &mut DbConnection,
    to: &str,
    message: &str,
    purpose: &str,
) -> diesel::QueryResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    let text = state
        .sealer
        .seal(message.as_bytes(), &body_context(&id, "text"));
    db::outbox::insert(
        conn,
        &NewOutbox {
            id: &id,
            kind: KIND_SMS,
            recipient: to,
            subject: "",
            body_text: &text,
            body_html: None,
            status: db::outbox::PENDING,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            purpose: Some(purpose),
        },
    )?;
    Ok(id)
}

/// Tells the sender that mail is waiting (cheap; a wake-up with nothing to do is harmless).
pub fn wake(state: &AppState) {
    state.outbox_wake.notify_one();
}

/// Seconds left before another code message for `purpose` may go to this recipient (the
/// cooldown, kept per purpose, and the hourly cap, across purposes), or `None` when one may go
/// now. Kept in the database (the outbox) so replicas share it.
pub fn cooldown_left(
    state: &AppState,
    conn: &mut DbConnection,
    recipient: &str,
    purpose: &str,
) -> diesel::QueryResult<Option<u64>> {
    let now = db::now();
    if let Some(wait) = recipient_cap_left(state, conn, recipient, now)? {
        return Ok(Some(wait));
    }
    let cooldown = state.settings.mail_cooldown;
    if cooldown.is_zero() {
        return Ok(None);
    }
    let window = chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::MAX);
    let since = now.checked_sub_signed(window).unwrap_or(NaiveDateTime::MIN);
    Ok(
        db::outbox::latest_to(conn, recipient, purpose, since)?.map(|last| {
            let elapsed = (now - last).to_std().unwrap_or_default();
            cooldown.saturating_sub(elapsed).as_secs().max(1)
        }),
    )
}

/// `AUTHGATE_MESSAGES_PER_RECIPIENT_PER_HOUR`: the seconds until the oldest message of the last
/// hour leaves the window, when the recipient already got the hourly maximum.
fn recipient_cap_left(
    state: &AppState,
    conn: &mut DbConnection,
    recipient: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<u64>> {
    let cap = state.settings.messages_per_recipient_per_hour;
    if cap == 0 {
        return Ok(None);
    }
    let since = now - chrono::Duration::hours(1);
    let (count, oldest) = db::outbox::count_to(conn, recipient, since)?;
    if count < i64::from(cap) {
        return Ok(None);
    }
    Ok(oldest.map(|t| {
        let leaves = t + chrono::Duration::hours(1);
        (leaves - now).num_seconds().max(1).unsigned_abs()
    }))
}

/// Messages are given up after this age.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
const FAST_PHASE: Duration = Duration::from_secs(3600);
const FAST_CAP: Duration = Duration::from_secs(30);
const SLOW_INTERVAL: Duration = Duration::from_secs(300);

/// When to retry after the `attempts`-th failed attempt of a message of this `age`:
/// from 1 s doubling up to 30 s during the first hour, then every 5 minutes, and `None` (give
/// up) once the message is 24 hours old.
pub fn retry_delay(attempts: i32, age: Duration) -> Option<Duration> {
    if age >= GIVE_UP_AFTER {
        return None;
    }
    if age >= FAST_PHASE {
        return Some(SLOW_INTERVAL);
    }
    let exp = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(5);
    Some(Duration::from_secs(1u64 << exp).min(FAST_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_30s_then_every_5_minutes_then_gives_up() {
        let s = Duration::from_secs;
        let young = s(10);
        let delays: Vec<u64> = (1..=8)
            .map(|a| retry_delay(a, young).unwrap().as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_delay(40, s(3600)), Some(s(300)));
        assert_eq!(retry_delay(40, s(23 * 3600)), Some(s(300)));
        assert_eq!(retry_delay(40, s(24 * 3600)), None);
        assert_eq!(retry_delay(0, young), Some(s(1)));
    }
}
