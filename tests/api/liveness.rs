//! Access tokens of ended sessions: refused at once by every endpoint that reads the database
//! (401 `session_not_found`), and by `verify/` and the proxy through the revocation list.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::smtp::SmtpServer;

const PASSWORD: &str = "correct horse battery";
const USER: &str = "/api/v1/auth/user/";
const SESSIONS: &str = "/api/v1/auth/sessions/";
const REVOKE_OTHERS: &str = "/api/v1/auth/sessions/revoke-others/";
const LOGOUT: &str = "/api/v1/auth/custom-logout/";
const VERIFY: &str = "/api/v1/auth/verify/";

impl TestApp {
    async fn bearer(&self, method: reqwest::Method, path: &str, access: &str) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }

    async fn verify_status(&self, access: &str) -> u16 {
        self.bearer(reqwest::Method::GET, VERIFY, access)
            .await
            .status()
            .as_u16()
    }

    /// Signs up a fresh address and signs it in a second time: two sessions of one user.
    async fn two_sessions(&self) -> (String, Tokens, Tokens) {
        let email = unique_email();
        let first = self.signup(&email, PASSWORD).await;
        assert_eq!(first.status(), 201);
        let second = self.signin(&email, PASSWORD, false).await;
        assert_eq!(second.status(), 204);
        (
            email,
            Tokens::from_response(&first),
            Tokens::from_response(&second),
        )
    }

    /// `GET user/`, `GET sessions/` and `POST sessions/revoke-others/` all accept the token.
    async fn assert_live(&self, access: &str) {
        assert_eq!(self.get_user_bearer(access).await.status(), 200);
        assert_eq!(
            self.bearer(reqwest::Method::GET, SESSIONS, access)
                .await
                .status(),
            200
        );
    }

    /// The database-backed endpoints refuse the token: 401 `session_not_found`, RFC 6750 header.
    async fn assert_ended(&self, access: &str) {
        for (method, path) in [
            (reqwest::Method::GET, USER),
            (reqwest::Method::GET, SESSIONS),
            (reqwest::Method::POST, REVOKE_OTHERS),
        ] {
            let resp = self.bearer(method.clone(), path, access).await;
            assert_eq!(resp.status(), 401, "{method} {path}");
            assert_eq!(
                resp.headers()["www-authenticate"],
                r#"Bearer error="invalid_token""#,
                "{method} {path}"
            );
            assert_eq!(
                error_code(resp).await,
                "session_not_found",
                "{method} {path}"
            );
        }
    }

    /// Polls `verify/` until it answers `status` for `access`, within `limit`.
    async fn verify_turns(&self, access: &str, status: u16, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.verify_status(access).await == status {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "verify/ did not answer {status} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `authgate users disable`: another process, so this replica learns of it from the database.
fn disable_through_the_cli(db_url: &str, email: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["users", "disable", "--email", email])
        .env("AUTHGATE_DATABASE_URL", db_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

both_backends! {
    async fn a_logged_out_sessions_access_token_is_refused_by_database_backed_endpoints(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, tokens, other) = app.two_sessions().await;
        app.assert_live(&tokens.access).await;
        let out = app.client.post(app.url(LOGOUT))
            .header("cookie", format!("refresh_token={}", tokens.refresh))
            .send().await.unwrap();
        assert_eq!(out.status(), 204);
        app.assert_ended(&tokens.access).await;
        app.assert_live(&other.access).await;
    }

    async fn a_session_revoked_from_another_cannot_read_or_evict_the_owner(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, stolen, owner) = app.two_sessions().await;
        app.assert_live(&stolen.access).await;
        let listed: serde_json::Value = app.bearer(reqwest::Method::GET, SESSIONS, &owner.access).await.json().await.unwrap();
        let stolen_id = listed["sessions"].as_array().unwrap().iter()
            .find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
        let revoked = app.bearer(reqwest::Method::DELETE, &format!("{SESSIONS}{stolen_id}/"), &owner.access).await;
        assert_eq!(revoked.status(), 204);
        app.assert_ended(&stolen.access).await;
        // `assert_ended` called revoke-others with the stolen token: the owner is still in, and
        // again and again.
        for _ in 0..3 {
            let r = app.bearer(reqwest::Method::POST, REVOKE_OTHERS, &stolen.access).await;
            assert_eq!(r.status(), 401);
        }
        app.assert_live(&owner.access).await;
        assert_eq!(app.refresh(&owner.refresh).await.status(), 204, "the owner's session stands");
    }

    async fn revoke_others_ends_the_other_sessions_access_tokens(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, other, keeper) = app.two_sessions().await;
        app.assert_live(&other.access).await;
        let r = app.bearer(reqwest::Method::POST, REVOKE_OTHERS, &keeper.access).await;
        assert_eq!(r.status(), 204);
        app.assert_ended(&other.access).await;
        app.assert_live(&keeper.access).await;
    }

    async fn a_password_reset_ends_every_sessions_access_token(backend) {
        let smtp = SmtpServer::start().await;
        let app = crate::mail::mail_app(backend, &smtp, |_| {}).await;
        let (email, first, second) = app.two_sessions().await;
        app.assert_live(&first.access).await;
        let forgot = app.post_json("/api/v1/auth/password/forgot/", &json!({"email": email})).await;
        assert_eq!(forgot.status(), 202);
        let code = smtp.wait_for_nth(&email, 2, Duration::from_secs(10)).await.code();
        let reset = app.post_json("/api/v1/auth/password/reset/", &json!({"email": email, "code": code, "password": "new password 1"})).await;
        assert_eq!(reset.status(), 204);
        for t in [&first, &second] {
            app.assert_ended(&t.access).await;
            assert_eq!(app.verify_status(&t.access).await, 401, "ended here: listed at once");
        }
    }

    async fn disabling_a_user_through_the_cli_ends_its_access_tokens_everywhere(backend) {
        let app = TestApp::spawn_with(backend, |s| s.revocation_list_interval = Duration::from_millis(200)).await;
        let (email, tokens, _) = app.two_sessions().await;
        app.assert_live(&tokens.access).await;
        assert_eq!(app.verify_status(&tokens.access).await, 204);
        disable_through_the_cli(&app.db.url, &email);
        app.assert_ended(&tokens.access).await;
        // Ended by another process: verify/ learns it at the next reload of the list.
        let took = app.verify_turns(&tokens.access, 401, Duration::from_secs(5)).await;
        assert!(took < Duration::from_secs(2), "took {took:?} with a 200 ms interval");
    }

    async fn verify_refuses_an_ended_sessions_token_and_keeps_accepting_live_ones(backend) {
        let app = TestApp::spawn_with(backend, |s| s.revocation_list_interval = Duration::from_millis(200)).await;
        let (_, ended, live) = app.two_sessions().await;
        assert_eq!(app.verify_status(&ended.access).await, 204);
        let out = app.client.post(app.url(LOGOUT)).bearer_auth(&ended.access).send().await.unwrap();
        assert_eq!(out.status(), 204);
        let refused = app.bearer(reqwest::Method::GET, VERIFY, &ended.access).await;
        assert_eq!(refused.status(), 401, "this replica ended it: refused at once");
        assert!(refused.headers().get("x-auth-user-id").is_none());
        assert_eq!(refused.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
        assert_eq!(error_code(refused).await, "invalid_token");
        // Still refused after reloads from the database, and the other session passes.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(app.verify_status(&ended.access).await, 401);
        assert_eq!(app.verify_status(&live.access).await, 204);
    }

    async fn with_the_list_off_verify_accepts_an_ended_sessions_token_until_exp(backend) {
        let app = TestApp::spawn_with(backend, |s| s.revocation_list_interval = Duration::ZERO).await;
        let (email, tokens, _) = app.two_sessions().await;
        let out = app.client.post(app.url(LOGOUT)).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(out.status(), 204);
        disable_through_the_cli(&app.db.url, &email);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(app.verify_status(&tokens.access).await, 204, "stateless by choice");
        app.assert_ended(&tokens.access).await;
    }

    async fn the_proxy_refuses_an_ended_sessions_token(backend) {
        let upstream = crate::proxy::start_upstream().await;
        let base = upstream.base.clone();
        let app = TestApp::spawn_with(backend, move |s| {
            s.upstream = Some(base);
            s.revocation_list_interval = Duration::from_millis(200);
        }).await;
        let (email, ended, _) = app.two_sessions().await;
        let page = |access: String| {
            let app = &app;
            async move { app.client.get(app.url("/app/items")).bearer_auth(access).send().await.unwrap() }
        };
        assert_eq!(page(ended.access.clone()).await.status(), 200);
        let hits = upstream.hits.load(std::sync::atomic::Ordering::SeqCst);
        disable_through_the_cli(&app.db.url, &email);
        let started = Instant::now();
        let refused = loop {
            let r = page(ended.access.clone()).await;
            if r.status() != 200 || started.elapsed() > Duration::from_secs(5) {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(refused.status(), 401);
        assert_eq!(error_code(refused).await, "invalid_token");
        // Only the requests before the refusal reached the upstream.
        let after = upstream.hits.load(std::sync::atomic::Ordering::SeqCst);
        let refused_again = page(ended.access.clone()).await;
        assert_eq!(refused_again.status(), 401);
        assert_eq!(upstream.hits.load(std::sync::atomic::Ordering::SeqCst), after);
        assert!(after >= hits);
    }
}

/// With the database gone, the last list stands: `verify/` keeps refusing what it listed and
/// accepting the rest, while the database-backed endpoints answer 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_down_verify_keeps_the_last_revocation_list() {
    if !postgres_enabled() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.database_timeout = Duration::from_millis(500);
        s.revocation_list_interval = Duration::from_millis(100);
    })
    .await;
    let (email, ended, ended_too) = app.two_sessions().await;
    let (_, live, live_too) = app.two_sessions().await;
    // Ended by another process: in the list only through a reload from the database.
    disable_through_the_cli(&app.db.url, &email);
    app.verify_turns(&ended.access, 401, Duration::from_secs(5))
        .await;
    app.verify_turns(&ended_too.access, 401, Duration::from_secs(5))
        .await;
    app.db.drop_now();
    // Several failed reloads later.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..3 {
        assert_eq!(app.verify_status(&ended.access).await, 401);
        assert_eq!(app.verify_status(&ended_too.access).await, 401);
        assert_eq!(app.verify_status(&live.access).await, 204);
        assert_eq!(app.verify_status(&live_too.access).await, 204);
    }
    let me = app.get_user_bearer(&live.access).await;
    assert_eq!(
        me.status(),
        503,
        "the session cannot be checked: 503, never a pass"
    );
    assert!(me.headers().contains_key("retry-after"));
}
