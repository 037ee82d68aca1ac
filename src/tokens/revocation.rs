//! Sessions ended recently enough that their access tokens may still be alive, for the stateless
//! checks (`verify/`, the proxy): they cannot ask the database per request, so each replica keeps
//! this list in memory, reloads it in the background and adds the sessions it ends itself at once.
//!
//! An entry stays until every access token of its session is past `exp` and the verification
//! leeway, so the list holds at most one access-token lifetime of revocations. Entries only leave
//! by age: a reload adds what the database shows and never drops what this replica added, so a
//! failed reload (database down) leaves the last list standing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::{self, DbConnection};
use crate::tokens::access::LEEWAY_SECS;

pub struct RevocationList {
    /// `None`: the list is off (`AUTHGATE_REVOCATION_LIST_INTERVAL=0`); the checks stay purely
    /// stateless and a revoked session's access token passes until `exp`.
    window: Option<chrono::Duration>,
    /// Session id → the instant after which none of its access tokens verifies any more.
    ended: RwLock<HashMap<Box<str>, NaiveDateTime>>,
    /// `ended.len()`, readable without the lock: with nothing revoked (the common case) the
    /// check costs one relaxed load.
    len: AtomicUsize,
}

impl std::fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationList")
            .field("on", &self.window.is_some())
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish()
    }
}

impl RevocationList {
    /// `on` false makes every method a no-op. An access token verifies until `exp + leeway`,
    /// so a session revoked longer ago than `access_ttl + leeway` has no live token left.
    pub fn new(on: bool, access_ttl: Duration) -> Self {
        let window = chrono::Duration::from_std(access_ttl + Duration::from_secs(LEEWAY_SECS))
            .unwrap_or(chrono::Duration::MAX);
        Self {
            window: on.then_some(window),
            ended: RwLock::new(HashMap::new()),
            len: AtomicUsize::new(0),
        }
    }

    pub fn is_on(&self) -> bool {
        self.window.is_some()
    }

    /// Whether tokens of session `sid` must be refused. The hot path of every token check.
    #[inline]
    pub fn contains(&self, sid: &str) -> bool {
        if self.len.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.ended
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(sid)
    }

    /// Sessions this replica has just ended (revoked at `at`), refused here at once.
    pub fn add<'a>(&self, sids: impl IntoIterator<Item = &'a str>, at: NaiveDateTime) {
        let Some(window) = self.window else {
            return;
        };
        let until = at.checked_add_signed(window).unwrap_or(NaiveDateTime::MAX);
        let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
        for sid in sids {
            ended.insert(sid.into(), until);
        }
        self.len.store(ended.len(), Ordering::Relaxed);
    }

    /// Reads the sessions revoked within the window from the database and merges them in,
    /// dropping entries whose tokens are all dead. On error nothing changes. Returns the size.
    pub fn reload(&self, conn: &mut DbConnection) -> diesel::QueryResult<usize> {
        let Some(window) = self.window else {
            return Ok(0);
        };
        let now = db::now();
        let since = now.checked_sub_signed(window).unwrap_or(NaiveDateTime::MIN);
        let rows = db::sessions::revoked_since(conn, since)?;
        // Most rows are already listed: find the new ones under the read lock, so the write
        // lock that every check waits behind is held only for the changes.
        let (fresh, stale) = {
            let ended = self.ended.read().unwrap_or_else(PoisonError::into_inner);
            let fresh: Vec<(String, NaiveDateTime)> = rows
                .into_iter()
                .filter(|(sid, _)| !ended.contains_key(sid.as_str()))
                .collect();
            (fresh, ended.values().any(|until| *until <= now))
        };
        if fresh.is_empty() && !stale {
            return Ok(self.len.load(Ordering::Relaxed));
        }
        let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
        ended.retain(|_, until| *until > now);
        for (sid, revoked_at) in fresh {
            let until = revoked_at
                .checked_add_signed(window)
                .unwrap_or(NaiveDateTime::MAX);
            if until > now {
                ended.insert(sid.into(), until);
            }
        }
        self.len.store(ended.len(), Ordering::Relaxed);
        Ok(ended.len())
    }

    /// Drops entries whose tokens are all dead at `now` (also done by every reload).
    #[cfg(test)]
    fn expire(&self, now: NaiveDateTime) {
        let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
        ended.retain(|_, until| *until > now);
        self.len.store(ended.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn an_added_session_is_listed_until_its_last_access_token_is_dead() {
        let list = RevocationList::new(true, Duration::from_secs(900));
        assert!(!list.contains("s1"));
        list.add(["s1"], at("2026-01-01 00:00:00"));
        assert!(list.contains("s1"));
        assert!(!list.contains("s2"));
        // 15 minutes of TTL plus 30 s of leeway.
        list.expire(at("2026-01-01 00:15:29"));
        assert!(list.contains("s1"));
        list.expire(at("2026-01-01 00:15:30"));
        assert!(!list.contains("s1"));
    }

    #[test]
    fn a_reload_lists_recent_revocations_and_a_failed_one_keeps_the_last_list() {
        use diesel::connection::SimpleConnection as _;
        use diesel::Connection as _;
        let mut conn =
            DbConnection::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap());
        db::run_migrations(&mut conn).unwrap();
        let now = db::now();
        let stamp = |minutes: i64| (now - chrono::Duration::minutes(minutes)).to_string();
        let DbConnection::Sqlite(c) = &mut conn else {
            unreachable!()
        };
        c.batch_execute(&format!(
            "INSERT INTO users (id, email, password_hash, name, created_at, updated_at) \
             VALUES ('u1', 'a@example.com', 'x', 'A', '2026-01-01', '2026-01-01'); \
             INSERT INTO sessions (id, user_id, secret, counter, rotated_at, created_at, \
             last_used_at, expires_at, remember_me, amr, aal, revoked_at) VALUES \
             ('recent', 'u1', x'00', 0, '{a}', '{a}', '{a}', '2099-01-01', 0, '[]', 'aal1', '{a}'), \
             ('old', 'u1', x'00', 0, '{b}', '{b}', '{b}', '2099-01-01', 0, '[]', 'aal1', '{b}'), \
             ('live', 'u1', x'00', 0, '{a}', '{a}', '{a}', '2099-01-01', 0, '[]', 'aal1', NULL);",
            a = stamp(1),
            b = stamp(16),
        ))
        .unwrap();
        let list = RevocationList::new(true, Duration::from_secs(900));
        list.add(["here"], now);
        assert_eq!(list.reload(&mut conn).unwrap(), 2);
        assert!(list.contains("recent"), "revoked a minute ago");
        assert!(
            list.contains("here"),
            "ended by this replica, kept by the reload"
        );
        assert!(
            !list.contains("old"),
            "its tokens are all past exp and the leeway"
        );
        assert!(!list.contains("live"));
        let DbConnection::Sqlite(c) = &mut conn else {
            unreachable!()
        };
        c.batch_execute("DROP TABLE sessions;").unwrap();
        assert!(list.reload(&mut conn).is_err());
        assert!(
            list.contains("recent") && list.contains("here"),
            "the last list stands"
        );
    }

    #[test]
    fn a_list_that_is_off_lists_nothing() {
        let list = RevocationList::new(false, Duration::from_secs(900));
        list.add(["s1"], db::now());
        assert!(!list.contains("s1"));
        assert!(!list.is_on());
    }
}
