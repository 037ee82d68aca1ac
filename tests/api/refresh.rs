//! Refresh-token rotation, grace, reuse detection and lifetimes.

use std::time::Duration;

use crate::helpers::*;

fn next_refresh(resp: &reqwest::Response) -> String {
    cookie(resp.headers(), "refresh_token")
        .expect("refresh cookie")
        .value()
        .to_owned()
}

both_backends! {
    async fn refresh_token_reuse_revokes_the_family(backend) {
        let app = TestApp::spawn_with(backend, |s| s.refresh_reuse_grace = Duration::ZERO).await;
        let first = app.signed_in_user().await.refresh;
        let mut current = first.clone();
        for _ in 0..3 {
            let resp = app.refresh(&current).await;
            assert_eq!(resp.status(), 204);
            current = next_refresh(&resp);
        }
        let replay = app.refresh(&first).await;
        assert_eq!(replay.status(), 401);
        let cleared = cookie(replay.headers(), "refresh_token").unwrap();
        assert_eq!(cleared.value(), "", "a 401 from refresh clears the cookies");
        assert_eq!(error_code(replay).await, "refresh_token_reused");

        let newest = app.refresh(&current).await;
        assert_eq!(newest.status(), 401, "the newest token died with the session");
        assert_eq!(error_code(newest).await, "invalid_refresh_token");
    }

    async fn on_sqlite_refreshes_run_on_a_connection_of_their_own(backend) {
        // SQLite drops a connection's page cache whenever another connection commits; refreshes
        // (each one a commit) keep theirs warm on a connection only they use. On PostgreSQL they
        // share the pool.
        let app = TestApp::spawn_with(backend, |s| {
            s.database_pool_size = 1;
            s.database_timeout = Duration::from_millis(500);
        })
        .await;
        let token = app.signed_in_user().await.refresh;
        let state = app.state.clone();
        let held = tokio::task::spawn_blocking(move || state.pool.get().expect("the one pooled connection"))
            .await
            .unwrap();
        let resp = app.refresh(&token).await;
        match backend {
            Backend::Sqlite => assert_eq!(resp.status(), 204, "the shared pool is not needed"),
            Backend::Postgres => assert_eq!(resp.status(), 503, "the shared pool's one connection is held"),
        }
        drop(held);
        if backend == Backend::Postgres {
            assert_eq!(app.refresh(&token).await.status(), 204, "served once the connection is back");
        }
    }

    async fn previous_token_inside_the_grace_window_gets_the_same_successor(backend) {
        let app = TestApp::spawn_with(backend, |s| s.refresh_reuse_grace = Duration::from_secs(10)).await;
        let t0 = app.signed_in_user().await.refresh;
        let r1 = app.refresh(&t0).await;
        assert_eq!(r1.status(), 204);
        let t1 = next_refresh(&r1);
        // A second tab (or a retry after a lost response) presents t0 again.
        let again = app.refresh(&t0).await;
        assert_eq!(again.status(), 204);
        assert_eq!(next_refresh(&again), t1, "same step, same successor");
        let r2 = app.refresh(&t1).await;
        assert_eq!(r2.status(), 204, "the session lives on");
    }

    async fn only_the_immediate_predecessor_gets_grace(backend) {
        let app = TestApp::spawn_with(backend, |s| s.refresh_reuse_grace = Duration::from_secs(10)).await;
        let t0 = app.signed_in_user().await.refresh;
        let t1 = next_refresh(&app.refresh(&t0).await);
        let r2 = app.refresh(&t1).await;
        assert_eq!(r2.status(), 204);
        let t2 = next_refresh(&r2);
        // Both rotations happened inside the window: t1 is the predecessor, t0 an ancestor.
        let ancestor = app.refresh(&t0).await;
        assert_eq!(ancestor.status(), 401, "an older ancestor is reuse, even inside the window");
        assert_eq!(error_code(ancestor).await, "refresh_token_reused");
        assert_eq!(app.refresh(&t2).await.status(), 401, "and the newest token died with the session");
    }

    async fn previous_token_after_the_grace_window_is_reuse(backend) {
        let app = TestApp::spawn_with(backend, |s| s.refresh_reuse_grace = Duration::from_millis(500)).await;
        let t0 = app.signed_in_user().await.refresh;
        let r1 = app.refresh(&t0).await;
        let t1 = next_refresh(&r1);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let late = app.refresh(&t0).await;
        assert_eq!(late.status(), 401);
        assert_eq!(error_code(late).await, "refresh_token_reused");
        assert_eq!(app.refresh(&t1).await.status(), 401);
    }

    async fn twenty_concurrent_refreshes_with_one_cookie(backend) {
        let app = TestApp::spawn(backend).await;
        let t0 = app.signed_in_user().await.refresh;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (client, url, t0) = (app.client.clone(), app.url("/api/v1/auth/custom-refresh/"), t0.clone());
            tasks.push(tokio::spawn(async move {
                client.post(url).header("cookie", format!("refresh_token={t0}")).send().await.unwrap()
            }));
        }
        let mut successors = std::collections::HashSet::new();
        for t in tasks {
            let resp = t.await.unwrap();
            assert!(!resp.status().is_server_error(), "5xx under concurrency: {}", resp.status());
            assert_eq!(resp.status(), 204, "no false reuse inside the grace window");
            successors.insert(next_refresh(&resp));
        }
        assert_eq!(successors.len(), 1, "every tab got the same successor");
        let t1 = successors.into_iter().next().unwrap();
        let resp = app.refresh(&t1).await;
        assert_eq!(resp.status(), 204, "the session is still usable");
        assert_eq!(app.get_user_bearer(&Tokens::from_response(&resp).access).await.status(), 200);
    }

    async fn idle_session_ends(backend) {
        let app = TestApp::spawn_with(backend, |s| s.session_idle_timeout = Duration::from_secs(1)).await;
        let t0 = app.signed_in_user().await.refresh;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let resp = app.refresh(&t0).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "invalid_refresh_token");
    }

    async fn refresh_never_extends_the_absolute_lifetime(backend) {
        let app = TestApp::spawn_with(backend, |s| s.session_ttl = Duration::from_secs(2)).await;
        let t0 = app.signed_in_user().await.refresh;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let r1 = app.refresh(&t0).await;
        assert_eq!(r1.status(), 204);
        let t1 = next_refresh(&r1);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(app.refresh(&t1).await.status(), 401);
    }

    async fn forged_or_garbage_refresh_tokens_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let real = app.signed_in_user().await.refresh;
        // Flip one character of the MAC part.
        let mut forged: Vec<char> = real.chars().collect();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        for token in [forged.as_str(), "", "garbage", &"A".repeat(5000), "a.b.c"] {
            let resp = app.refresh(token).await;
            assert_eq!(resp.status(), 401, "{token:?}");
            assert_eq!(error_code(resp).await, "invalid_refresh_token");
        }
        assert_eq!(app.refresh(&real).await.status(), 204, "forgery attempts do not harm the real session");
        let none = app.client.post(app.url("/api/v1/auth/custom-refresh/")).send().await.unwrap();
        assert_eq!(none.status(), 401);
    }

    async fn a_refresh_token_is_not_an_access_token(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let resp = app.get_user_bearer(&tokens.refresh).await;
        assert_eq!(resp.status(), 401);
    }
}

fn claims_of(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

both_backends! {
    async fn a_refreshed_access_token_keeps_the_sessions_claims(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let first = claims_of(&tokens.access);
        let resp = app.refresh(&tokens.refresh).await;
        assert_eq!(resp.status(), 204);
        let next = Tokens::from_response(&resp);
        let refreshed = claims_of(&next.access);
        for claim in ["sub", "sid", "email", "email_verified", "amr", "aal", "iss", "aud"] {
            assert_eq!(refreshed[claim], first[claim], "{claim}");
        }
        assert_eq!(refreshed["amr"], serde_json::json!(["pwd"]));
        assert_ne!(refreshed["jti"], first["jti"]);
    }
}

both_backends! {
    async fn ending_a_session_twice_counts_and_lists_it_once(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let logout = || app.client.post(app.url("/api/v1/auth/custom-logout/"))
            .header("cookie", format!("refresh_token={}", tokens.refresh)).send();
        assert_eq!(logout().await.unwrap().status(), 204);
        assert_eq!(logout().await.unwrap().status(), 204, "logout is idempotent");
        let revoked = app.state.metrics.sessions_revoked.with_label_values(&["logout"]).get();
        assert_eq!(revoked, 1, "the second logout ended nothing");
        // The ended session's access token is refused by the stateless check at once.
        let verify = app.client.get(app.url("/api/v1/auth/verify/")).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(verify.status(), 401);
    }
}
