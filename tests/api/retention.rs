//! Retention: dead rows are deleted in batches, live ones never; one replica at a time.

use std::time::Duration;

use authgate::db::schema::{auth_events, one_time_codes, outbox, session_tombstones, sessions};
use authgate::service::retention::run_once;
use diesel::prelude::*;
use serde_json::json;

use crate::helpers::*;
use crate::mail::mail_app;
use crate::smtp::SmtpServer;

const PW: &str = "correct horse battery";

fn ago(d: Duration) -> chrono::NaiveDateTime {
    authgate::db::now() - chrono::Duration::from_std(d).unwrap()
}

fn count<T>(
    app: &TestApp,
    query: impl FnOnce(&mut authgate::db::DbConnection) -> QueryResult<T>,
) -> T {
    let mut conn = app.state.pool.get().unwrap();
    query(&mut conn).unwrap()
}

both_backends! {
    async fn the_clean_up_deletes_dead_rows_in_batches_and_keeps_live_ones(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |s| s.retention_interval = Duration::ZERO).await;
        let email = unique_email();
        let live = Tokens::from_response(&app.signup(&email, PW).await);
        let verification = smtp.wait_for(&email).await.code();
        let ended = Tokens::from_response(&app.signin(&email, PW, false).await);
        let r = app.client.post(app.url("/api/v1/auth/custom-logout/")).header("cookie", format!("refresh_token={}", ended.refresh)).send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(app.post_json("/api/v1/auth/password/forgot/", &json!({"email": email})).await.status(), 202);
        smtp.wait_for_nth(&email, 2, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Age some rows past their retention: the ended session one token lifetime, the reset
        // code expired, one sent mail two days, every audit event but the newest 200 days.
        let hour = Duration::from_secs(3600);
        count(&app, |c| {
            diesel::update(sessions::table.filter(sessions::revoked_at.is_not_null())).set(sessions::revoked_at.eq(Some(ago(hour)))).execute(c)?;
            diesel::update(one_time_codes::table.filter(one_time_codes::purpose.eq("password_reset"))).set(one_time_codes::expires_at.eq(ago(hour))).execute(c)?;
            let sent: Vec<String> = outbox::table.filter(outbox::status.eq("sent")).select(outbox::id).load(c)?;
            assert_eq!(sent.len(), 2, "the two mails went out");
            diesel::update(outbox::table.filter(outbox::id.eq(&sent[0]))).set(outbox::created_at.eq(ago(48 * hour))).execute(c)?;
            let newest: String = auth_events::table.order(auth_events::created_at.desc()).select(auth_events::id).first(c)?;
            diesel::update(auth_events::table.filter(auth_events::id.ne(&newest))).set(auth_events::created_at.eq(ago(200 * 24 * hour))).execute(c)?;
            // More dead tombstones than one batch, and one still needed.
            for i in 0..1_200 {
                diesel::insert_into(session_tombstones::table).values((session_tombstones::id.eq(format!("old-{i}")), session_tombstones::revoked_at.eq(ago(hour)))).execute(c)?;
            }
            diesel::insert_into(session_tombstones::table).values((session_tombstones::id.eq("recent"), session_tombstones::revoked_at.eq(ago(Duration::from_secs(60))))).execute(c)
        });
        let events_before: i64 = count(&app, |c| auth_events::table.count().get_result(c));

        let removed = count(&app, |c| Ok(run_once(&app.state, c).unwrap().expect("not locked")));
        assert_eq!(removed["sessions"], 1, "{removed:?}");
        assert_eq!(removed["session_tombstones"], 1_200);
        assert_eq!(removed["one_time_codes"], 1, "the expired reset code; the verification code lives");
        assert_eq!(removed["outbox"], 1);
        assert_eq!(removed["auth_events"] as i64, events_before - 1);
        let tombstones: Vec<String> = count(&app, |c| session_tombstones::table.select(session_tombstones::id).load(c));
        assert_eq!(tombstones, ["recent"]);

        // What is alive still works: the live session refreshes, the verification code verifies.
        assert_eq!(app.refresh(&live.refresh).await.status(), 204);
        let v = app.client.post(app.url("/api/v1/auth/verify-email/")).bearer_auth(&live.access).json(&json!({"verification_code": verification})).send().await.unwrap();
        assert_eq!(v.status(), 200);
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(r#"authgate_retention_removed_total{table="session_tombstones"} 1200"#), "{metrics}");

        // A second pass finds only the verification code, spent just now.
        let again = count(&app, |c| Ok(run_once(&app.state, c).unwrap().expect("not locked")));
        assert_eq!(again["one_time_codes"], 1, "{again:?}");
        assert_eq!(again.values().sum::<usize>(), 1, "{again:?}");
    }

    async fn the_clean_up_runs_by_itself_at_its_interval(backend) {
        let app = TestApp::spawn_with(backend, |s| s.retention_interval = Duration::from_millis(200)).await;
        count(&app, |c| {
            diesel::insert_into(session_tombstones::table).values((session_tombstones::id.eq("old"), session_tombstones::revoked_at.eq(ago(Duration::from_secs(3600))))).execute(c)
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while count(&app, |c| session_tombstones::table.count().get_result::<i64>(c)) > 0 {
            assert!(std::time::Instant::now() < deadline, "not cleaned up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// On PostgreSQL one replica at a time: while another holds the clean-up's lock, a pass skips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_skips_the_clean_up_while_one_runs_it() {
    if !postgres_enabled() {
        return;
    }
    let app =
        TestApp::spawn_with(Backend::Postgres, |s| s.retention_interval = Duration::ZERO).await;
    let mut other = app.state.pool.get().unwrap();
    let inner = authgate::db::retention::exclusively(&mut other, |_| {
        let mut mine = app.state.pool.get().unwrap();
        run_once(&app.state, &mut mine).unwrap()
    })
    .unwrap()
    .expect("the outer pass holds the lock");
    assert!(
        inner.is_none(),
        "a pass while another replica holds the lock skips"
    );
    let mut mine = app.state.pool.get().unwrap();
    assert!(
        run_once(&app.state, &mut mine).unwrap().is_some(),
        "and runs once it is free"
    );
}
