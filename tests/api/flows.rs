//! The core flows end to end: signup → user → signin → refresh → logout.

use serde_json::Value;

use crate::helpers::*;

both_backends! {
    async fn signup_answers_201_with_the_user_and_signs_in(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.signup("  New.User@Example.COM ", "correct horse battery").await;
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let tokens = Tokens::from_response(&resp);
        let user: Value = resp.json().await.unwrap();
        assert_eq!(user["email"], "new.user@example.com", "email is normalised");
        assert_eq!(user["email_verified"], false);
        assert_eq!(user["name"], "Test User");
        assert_eq!(user["sessions"], 1);
        assert!(user.get("password_hash").is_none() && user.get("password").is_none());

        let me = app.get_user_cookie(&tokens.access).await;
        assert_eq!(me.status(), 200);
        assert_eq!(me.headers()["cache-control"], "no-store", "set once, by the hygiene layer");
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["id"], user["id"]);
    }

    async fn signin_sets_both_cookies_and_user_reads_with_bearer_or_cookie(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, "correct horse battery").await.status(), 201);
        let resp = app.signin(&email.to_uppercase(), "correct horse battery", false).await;
        assert_eq!(resp.status(), 204);
        let tokens = Tokens::from_response(&resp);
        assert!(resp.text().await.unwrap().is_empty());

        let by_bearer = app.get_user_bearer(&tokens.access).await;
        assert_eq!(by_bearer.status(), 200);
        let user: Value = by_bearer.json().await.unwrap();
        assert_eq!(user["email"], email);
        assert_eq!(user["sessions"], 2, "signup and signin each opened a session");
        let history = user["history"].as_array().unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0]["outcome"], "success");
        assert_eq!(history[0]["ip"], "127.0.0.1");
        assert_eq!(app.get_user_cookie(&tokens.access).await.status(), 200);
    }

    async fn refresh_answers_204_with_a_different_refresh_cookie(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let resp = app.refresh(&tokens.refresh).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let next = Tokens::from_response(&resp);
        assert_ne!(next.refresh, tokens.refresh);
        assert_eq!(app.get_user_bearer(&next.access).await.status(), 200);
    }

    async fn logout_expires_both_cookies_and_ends_the_session(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let resp = app
            .client
            .post(app.url("/api/v1/auth/custom-logout/"))
            .header("cookie", format!("access_token={}; refresh_token={}", tokens.access, tokens.refresh))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        for name in ["access_token", "refresh_token"] {
            let c = cookie(resp.headers(), name).unwrap_or_else(|| panic!("{name} not cleared"));
            assert_eq!(c.value(), "");
            assert_eq!(c.max_age(), Some(actix_web::cookie::time::Duration::ZERO), "{name} must expire now");
        }
        let after = app.refresh(&tokens.refresh).await;
        assert_eq!(after.status(), 401);
        assert_eq!(error_code(after).await, "invalid_refresh_token");

        // Idempotent: again, and with no cookies at all.
        let again = app.client.post(app.url("/api/v1/auth/custom-logout/"))
            .header("cookie", format!("refresh_token={}", tokens.refresh)).send().await.unwrap();
        assert_eq!(again.status(), 204);
        let bare = app.client.post(app.url("/api/v1/auth/custom-logout")).send().await.unwrap();
        assert_eq!(bare.status(), 204);
    }

    async fn user_without_a_token_is_401_with_www_authenticate(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.client.get(app.url("/api/v1/auth/user/")).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_eq!(error_code(resp).await, "unauthenticated");

        let bad = app.get_user_bearer("not.a.jwt").await;
        assert_eq!(bad.status(), 401);
        assert_eq!(bad.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
        assert_eq!(error_code(bad).await, "invalid_token");
    }

    async fn paths_work_with_and_without_the_trailing_slash(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let resp = app.post_json("/api/v1/auth/signup", &serde_json::json!({"email": email, "password": "correct horse battery", "name": "N"})).await;
        assert_eq!(resp.status(), 201);
        let tokens = Tokens::from_response(&resp);
        let r = app.client.get(app.url("/api/v1/auth/user")).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(app.client.get(app.url("/healthz/")).send().await.unwrap().status(), 200);
    }

    async fn service_endpoints_answer(backend) {
        let app = TestApp::spawn(backend).await;
        let root: Value = app.client.get(app.url("/")).send().await.unwrap().json().await.unwrap();
        assert_eq!(root["name"], "authgate");
        assert_eq!(root["ip"], "127.0.0.1");
        assert!(root["version"].is_string() && root["now"].is_string());
        assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let ready: Value = ready.json().await.unwrap();
        assert_eq!(ready["checks"], serde_json::json!({"database": "ok", "keys": "ok"}), "every check made");
        let ready: Value = app.client.get(app.url("/readyz?exclude=database")).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["checks"], serde_json::json!({"keys": "ok"}), "the database left out");
        for typo in ["/readyz?exclude=databse", "/readyz?exclude=", "/readyz?exclude=database&exclude=keys"] {
            let resp = app.client.get(app.url(typo)).send().await.unwrap();
            assert_eq!(resp.status(), 400, "{typo}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request", "{typo}");
        }
        let spec = app.client.get(app.url("/openapi.yml")).send().await.unwrap();
        assert_eq!(spec.status(), 200);
        assert!(spec.text().await.unwrap().contains("openapi: 3.1"));
        let rid = app.client.get(app.url("/healthz")).header("x-request-id", "trace-abc.123").send().await.unwrap();
        assert_eq!(rid.headers()["x-request-id"], "trace-abc.123");
        let forged = app.client.get(app.url("/healthz")).header("x-request-id", "bad id\twith spaces").send().await.unwrap();
        assert_ne!(forged.headers()["x-request-id"], "bad id\twith spaces");
    }
}
