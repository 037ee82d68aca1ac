//! Retention: what authgate deletes, and when. Without it ended sessions, spent codes, sent
//! mail (whose bodies hold codes) and audit events would grow for ever, and every query on
//! those tables would slow with the service's age.
//!
//! | rows | deleted once |
//! | --- | --- |
//! | sessions | revoked or expired for one access-token lifetime (no token of theirs can be alive; an idle session goes when it expires) |
//! | session tombstones (deleted accounts) | one access-token lifetime old |
//! | one-time codes | spent or expired |
//! | passkey ceremony states | expired (5 minutes) |
//! | sent mail and SMS | `AUTHGATE_OUTBOX_RETENTION` old |
//! | failed mail and SMS | `AUTHGATE_OUTBOX_FAILED_RETENTION` old |
//! | audit events | `AUTHGATE_AUDIT_RETENTION` old |
//! | sign-in failure counts | idle and unlocked (the lockout's own memory) |

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::state::AppState;

fn ago(now: NaiveDateTime, d: Duration) -> NaiveDateTime {
    now.checked_sub_signed(chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
        .unwrap_or(NaiveDateTime::MIN)
}

/// Deletes batches until a batch comes back short, resting after each full batch as long as it
/// took. Back to back, the batches of a first pass over millions of dead rows held SQLite's one
/// writer nearly all the time: refresh fell from about 8,000 to 246 per second for the quarter
/// of an hour the pass ran (measured at 5M sessions). Resting keeps the clean-up to at most half
/// of the writer's time, whatever the backlog; the pass takes up to twice as long.
fn drain(
    mut batch: impl FnMut() -> diesel::QueryResult<usize>,
    mut rest: impl FnMut(Duration),
) -> diesel::QueryResult<usize> {
    let mut total = 0;
    loop {
        let started = std::time::Instant::now();
        let n = batch()?;
        total += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < db::retention::BATCH {
            return Ok(total);
        }
        rest(started.elapsed());
    }
}

/// [`drain`], resting on the clean-up's own thread (a blocking-pool thread, never a worker).
fn drain_resting(batch: impl FnMut() -> diesel::QueryResult<usize>) -> diesel::QueryResult<usize> {
    drain(batch, std::thread::sleep)
}

/// One pass of the clean-up. Rows removed by table; `None` when another replica is running it.
pub fn run_once(
    state: &AppState,
    conn: &mut DbConnection,
) -> Result<Option<BTreeMap<&'static str, usize>>, ApiError> {
    let s = &state.settings;
    let now = db::now();
    let token_lifetime = ago(now, s.access_token_ttl);
    let pass = db::retention::exclusively(conn, |conn| -> diesel::QueryResult<_> {
        let mut removed = BTreeMap::new();
        removed.insert(
            "sessions",
            drain_resting(|| db::retention::dead_sessions(conn, token_lifetime))?,
        );
        removed.insert(
            "session_tombstones",
            drain_resting(|| db::retention::old_tombstones(conn, token_lifetime))?,
        );
        removed.insert(
            "one_time_codes",
            drain_resting(|| db::retention::dead_codes(conn, now))?,
        );
        removed.insert(
            "webauthn_challenges",
            drain_resting(|| db::retention::dead_challenges(conn, now))?,
        );
        removed.insert(
            "oauth_flows",
            drain_resting(|| db::retention::dead_flows(conn, now))?,
        );
        let sent = drain_resting(|| {
            db::retention::old_messages(conn, db::outbox::SENT, ago(now, s.outbox_retention))
        })?;
        let failed = drain_resting(|| {
            db::retention::old_messages(
                conn,
                db::outbox::FAILED,
                ago(now, s.outbox_failed_retention),
            )
        })?;
        removed.insert("outbox", sent + failed);
        removed.insert(
            "auth_events",
            drain_resting(|| db::retention::old_events(conn, ago(now, s.audit_retention)))?,
        );
        Ok(removed)
    })?;
    let Some(removed) = pass.transpose()? else {
        return Ok(None);
    };
    crate::service::lockout::purge(conn)?;
    for (table, n) in &removed {
        state
            .metrics
            .retention_removed
            .with_label_values(&[table])
            .inc_by(u64::try_from(*n).unwrap_or(0));
    }
    Ok(Some(removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_rests_after_each_full_batch_for_as_long_as_it_took_and_stops_at_a_short_one() {
        let full = usize::try_from(db::retention::BATCH).unwrap();
        let mut left = vec![full, full, 3].into_iter();
        let mut rests = Vec::new();
        let total = drain(
            || {
                std::thread::sleep(Duration::from_millis(5));
                Ok(left.next().unwrap_or(0))
            },
            |d| rests.push(d),
        )
        .unwrap();
        assert_eq!(total, 2 * full + 3);
        assert_eq!(
            rests.len(),
            2,
            "a rest after each full batch, none after the last"
        );
        assert!(
            rests.iter().all(|d| *d >= Duration::from_millis(5)),
            "{rests:?}"
        );
    }
}
