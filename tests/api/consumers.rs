//! Token consumers: the token endpoint, forward-auth, discovery, and key rotation as a backend
//! verifying through the JWKS sees it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

async fn password_grant(app: &TestApp, login: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/token/",
        &json!({"grant_type": "password", "login": login, "password": password}),
    )
    .await
}

async fn refresh_grant(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/token/",
        &json!({"grant_type": "refresh_token", "refresh_token": token}),
    )
    .await
}

both_backends! {
    async fn token_endpoint_password_and_refresh_grants(backend) {
        let app = TestApp::spawn_with(backend, |s| s.refresh_reuse_grace = Duration::ZERO).await;
        let email = unique_email();
        app.signup(&email, "correct horse battery").await;
        let resp = password_grant(&app, &email, "correct horse battery").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert!(cookie(resp.headers(), "access_token").is_none(), "no cookies for token clients");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["user"]["email"], email);
        let access = body["access_token"].as_str().unwrap();
        let r0 = body["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(app.get_user_bearer(access).await.status(), 200);

        let resp = refresh_grant(&app, &r0).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        let r1 = body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r0, "rotated");
        // The refresh token from the body also works as a cookie: one session model.
        let resp = app.refresh(&r1).await;
        assert_eq!(resp.status(), 204);
        let r2 = cookie(resp.headers(), "refresh_token").unwrap().value().to_owned();

        let replay = refresh_grant(&app, &r0).await;
        assert_eq!(replay.status(), 401);
        assert_eq!(error_code(replay).await, "refresh_token_reused");
        assert_eq!(refresh_grant(&app, &r2).await.status(), 401, "the family is revoked");

        let wrong = password_grant(&app, &email, "wrong password").await;
        assert_eq!(wrong.status(), 401);
        assert_eq!(error_code(wrong).await, "invalid_credentials");
        let bad = app.post_json("/api/v1/auth/token/", &json!({"grant_type": "client_credentials"})).await;
        assert_eq!(bad.status(), 400);
        assert_eq!(error_code(bad).await, "unsupported_grant_type");
        let missing = app.post_json("/api/v1/auth/token/", &json!({"grant_type": "password", "login": email})).await;
        assert_eq!(missing.status(), 400);
        assert_eq!(error_code(missing).await, "invalid_request");
    }

    async fn token_revoke_ends_the_session_and_always_answers_200(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        app.signup(&email, "correct horse battery").await;
        let body: Value = password_grant(&app, &email, "correct horse battery").await.json().await.unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        for token in ["garbage", "", refresh, refresh] {
            let resp = app.post_json("/api/v1/auth/token/revoke/", &json!({"token": token})).await;
            assert_eq!(resp.status(), 200, "{token:?}");
        }
        assert_eq!(refresh_grant(&app, refresh).await.status(), 401);

        // Revoking by access token ends that token's session too.
        let body: Value = password_grant(&app, &email, "correct horse battery").await.json().await.unwrap();
        let resp = app.post_json("/api/v1/auth/token/revoke/", &json!({"token": body["access_token"]})).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(refresh_grant(&app, body["refresh_token"].as_str().unwrap()).await.status(), 401);
    }

    async fn forward_auth_answers_204_with_identity_headers(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let me: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        let check = |resp: &reqwest::Response| {
            assert_eq!(resp.status(), 204);
            let h = resp.headers();
            assert_eq!(h["x-auth-user-id"], me["id"].as_str().unwrap());
            assert_eq!(h["x-auth-user-email"], me["email"].as_str().unwrap());
            assert_eq!(h["x-auth-email-verified"], "false");
            assert_eq!(h["x-auth-aal"], "aal1");
            assert!(!h["x-auth-session-id"].is_empty());
            assert_eq!(h["cache-control"], "no-store");
        };
        // nginx / Traefik: GET with the client's Authorization or Cookie.
        check(&app.client.get(app.url("/api/v1/auth/verify/")).bearer_auth(&tokens.access).send().await.unwrap());
        check(&app.client.get(app.url("/api/v1/auth/verify")).header("cookie", format!("access_token={}", tokens.access)).send().await.unwrap());
        // Envoy ext_authz: the client's method and path below the prefix, with the client's
        // headers, including a cross-site Origin and a non-JSON content type: never 403/415.
        let envoy = app.client.request(reqwest::Method::DELETE, app.url("/api/v1/auth/verify/app/items/7?x=1"))
            .header("cookie", format!("access_token={}", tokens.access))
            .header("origin", "https://elsewhere.example").header("content-type", "text/plain").header("content-length", "0")
            .send().await.unwrap();
        check(&envoy);
        check(&app.client.post(app.url("/api/v1/auth/verify/")).bearer_auth(&tokens.access).send().await.unwrap());

        for resp in [
            app.client.get(app.url("/api/v1/auth/verify/")).send().await.unwrap(),
            app.client.get(app.url("/api/v1/auth/verify/")).bearer_auth("forged.token.here").send().await.unwrap(),
            app.client.put(app.url("/api/v1/auth/verify/some/path")).send().await.unwrap(),
        ] {
            assert_eq!(resp.status(), 401);
            assert!(resp.headers().get("x-auth-user-id").is_none());
            assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        }
    }

    async fn discovery_names_the_issuer_and_the_keys(backend) {
        let app = TestApp::spawn_with(backend, |s| s.public_url = "https://auth.example.com".into()).await;
        let doc: Value = app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc, json!({"issuer": "https://auth.example.com", "jwks_uri": "https://auth.example.com/.well-known/jwks.json"}));
        let tokens = app.signed_in_user().await;
        let claims: Value = {
            use base64::Engine as _;
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tokens.access.split('.').nth(1).unwrap()).unwrap()).unwrap()
        };
        assert_eq!(claims["iss"], doc["issuer"], "iss is the public URL exactly");
    }

    async fn rotated_key_is_published_before_it_signs_and_retired_key_leaves_later(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.key_reload_interval = Duration::from_millis(200);
            s.access_token_ttl = Duration::from_secs(2);
        }).await;
        let before = app.signed_in_user().await;
        let old_kid = kid_of(&before.access);
        // Rotate the way `authgate keys rotate` does, from outside the process: new key signs in
        // 2 s, the old one then stays published for 2 × 2 s.
        let url = authgate::settings::DatabaseUrl::parse(&app.db.url).unwrap();
        let pool = authgate::db::build_pool(&url, 1, Duration::from_secs(5));
        let sealer = authgate::crypto::sealing::Sealer::new(None).unwrap();
        let new = authgate::tokens::keys::rotate(&mut pool.get().unwrap(), app.settings.jwt_algorithm, &sealer, Duration::from_secs(2), Duration::from_secs(4)).unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;

        let kids = |jwks: Value| -> Vec<String> { jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect() };
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let published = kids(jwks);
        assert!(published.contains(&new.kid) && published.contains(&old_kid), "both published: {published:?}");
        let during = app.signed_in_user().await;
        assert_eq!(kid_of(&during.access), old_kid, "the new key does not sign before its publish delay");

        tokio::time::sleep(Duration::from_millis(1800)).await;
        let after = app.signed_in_user().await;
        assert_eq!(kid_of(&after.access), new.kid, "the new key signs after the delay");
        assert_eq!(app.get_user_bearer(&during.access).await.status(), 200, "tokens of the retired key still verify");

        tokio::time::sleep(Duration::from_millis(4500)).await;
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(kids(jwks), vec![new.kid.clone()], "the retired key left the JWKS");
    }
}

/// The CLI on a real database: `keys rotate` then `keys list`.
#[tokio::test]
async fn keys_cli_rotates_and_lists() {
    let db = TestDb::create(Backend::Sqlite);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
            .args(args)
            .env("AUTHGATE_DATABASE_URL", &db.url)
            .output()
            .expect("run authgate");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["migrate"]);
    let rotated = run(&["keys", "rotate"]);
    assert!(rotated.contains("published"), "{rotated}");
    let listed = run(&["keys", "list"]);
    assert!(listed.contains("pending"), "{listed}");
    assert!(listed.contains("EdDSA"), "{listed}");
}

/// `verify/` reads no database: it keeps answering when PostgreSQL loses the database, while
/// `/readyz` reports the outage and `/readyz?exclude=database` keeps the instance ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_answers_while_the_database_is_down() {
    if !postgres_enabled() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.database_timeout = Duration::from_millis(500)
    })
    .await;
    let tokens = app.signed_in_user().await;
    app.db.drop_now();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    // The instance still serves token checks, so it stays ready when the database is left out,
    // and says so without waiting on the database timeout.
    let started = std::time::Instant::now();
    let serving = app
        .client
        .get(app.url("/readyz?exclude=database"))
        .send()
        .await
        .unwrap();
    assert_eq!(serving.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "took {:?}",
        started.elapsed()
    );
    let body: serde_json::Value = serving.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "checks": {"keys": "ok"}})
    );
    // Well under the 500 ms a database read would wait for a connection: a check that looked
    // the session up and failed open would answer 204 too, but only after that wait.
    let started = std::time::Instant::now();
    let check = app
        .client
        .get(app.url("/api/v1/auth/verify/"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 204);
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "verify/ took {:?}",
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let me = app.get_user_bearer(&tokens.access).await;
    assert_eq!(
        me.status(),
        503,
        "database-backed endpoints say 503, not 500"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "bounded time");
    assert!(me.headers().contains_key("retry-after"));
}

both_backends! {
    async fn keys_rotate_automatically_at_the_configured_age(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.key_reload_interval = Duration::from_millis(200);
            s.key_publish_delay = Duration::ZERO;
            s.access_token_ttl = Duration::from_secs(1);
            s.key_rotation_interval = Some(Duration::from_secs(3));
        }).await;
        let first = kid_of(&app.signed_in_user().await.access);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(kid_of(&app.signed_in_user().await.access), first, "not yet due");
        tokio::time::sleep(Duration::from_millis(3000)).await;
        let second = kid_of(&app.signed_in_user().await.access);
        assert_ne!(second, first, "rotated once the key was 3 s old");
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "the previous key is still published");
    }
}

/// Waits until the pool has handed out no connection for a while (the outbox sender and the
/// key reload are quiet), and returns the checkout count.
async fn quiet_checkouts(app: &TestApp) -> u64 {
    let mut last = app.state.metrics.db_checkouts.get();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = app.state.metrics.db_checkouts.get();
        if now == last {
            return now;
        }
        last = now;
    }
}

both_backends! {
    async fn a_thousand_forward_auth_checks_take_no_database_connection(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.outbox_poll_interval = Duration::from_secs(3600);
            s.key_reload_interval = Duration::from_secs(3600);
            s.revocation_list_interval = Duration::from_secs(3600);
        }).await;
        let tokens = app.signed_in_user().await;
        let before = quiet_checkouts(&app).await;
        for batch in 0..20 {
            let checks = (0..50).map(|_| {
                app.client.get(app.url("/api/v1/auth/verify/")).bearer_auth(&tokens.access).send()
            });
            for r in futures_util::future::join_all(checks).await {
                assert_eq!(r.unwrap().status(), 204, "batch {batch}");
            }
        }
        let after = app.state.metrics.db_checkouts.get();
        assert_eq!(after, before, "verify/ took {} connections in 1,000 checks", after - before);
        // Control: an endpoint that reads the database is counted.
        assert_eq!(app.get_user_bearer(&tokens.access).await.status(), 200);
        assert!(app.state.metrics.db_checkouts.get() > after, "the count sees database reads");
    }
}
