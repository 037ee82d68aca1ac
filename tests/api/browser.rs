//! CSRF and CORS for browser clients.

use serde_json::json;

use crate::helpers::*;

const APP: &str = "https://app.example.com";

both_backends! {
    async fn cross_site_cookie_requests_are_refused(backend) {
        // No reuse grace: had a refused request rotated the session, presenting the original
        // refresh token below would be reuse (401), not a quiet second answer.
        let app = TestApp::spawn_with(backend, |s| {
            s.allowed_origins = vec![APP.into()];
            s.refresh_reuse_grace = std::time::Duration::ZERO;
        }).await;
        let tokens = app.signed_in_user().await;
        let cookies = format!("access_token={}; refresh_token={}", tokens.access, tokens.refresh);
        let refresh = app.url("/api/v1/auth/custom-refresh/");
        let refused: [(&str, &str); 6] = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
            ("origin", "null"),
            ("origin", "https://app.example.com.evil.tld"),
            ("origin", "http://app.example.com"),
            ("referer", "https://evil.example/page"),
        ];
        for (name, value) in refused {
            let resp = app.client.post(&refresh).header("cookie", &cookies).header(name, value).send().await.unwrap();
            assert_eq!(resp.status(), 403, "{name}: {value}");
            assert_eq!(error_code(resp).await, "csrf_rejected");
        }
        // A plain HTML form can only send these types; they never reach a handler.
        let form = app.client.post(&refresh).header("cookie", &cookies)
            .header("content-type", "application/x-www-form-urlencoded").body("a=b").send().await.unwrap();
        assert_eq!(form.status(), 415);
        // Logout is state-changing too.
        let logout = app.client.post(app.url("/api/v1/auth/custom-logout/")).header("cookie", &cookies)
            .header("sec-fetch-site", "cross-site").send().await.unwrap();
        assert_eq!(logout.status(), 403);

        // The same requests from our own origin, an allowed one, same-site fetch metadata, or a
        // non-browser client all pass; the session was never harmed by the refused ones.
        let mut current = tokens.refresh.clone();
        for (name, value) in [("origin", APP), ("origin", "http://localhost:8080"), ("sec-fetch-site", "same-site"), ("x-none", "")] {
            let resp = app.client.post(&refresh).header("cookie", format!("refresh_token={current}")).header(name, value).send().await.unwrap();
            assert_eq!(resp.status(), 204, "{name}: {value}");
            current = cookie(resp.headers(), "refresh_token").unwrap().value().to_owned();
        }
    }

    async fn cross_site_refresh_and_logout_are_refused_even_without_cookies(backend) {
        // SameSite=Lax keeps the cookies off a cross-site form POST; the request must still not
        // reach the handler, whose failure answer clears the cookies (a forced sign-out).
        let app = TestApp::spawn_with(backend, |s| s.allowed_origins = vec![APP.into()]).await;
        for path in ["/api/v1/auth/custom-refresh/", "/api/v1/auth/custom-logout/"] {
            for (name, value) in [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")] {
                let resp = app.client.post(app.url(path)).header(name, value)
                    .header("content-type", "application/x-www-form-urlencoded").body("").send().await.unwrap();
                assert_eq!(resp.status(), 403, "{path} {name}: {value}");
                assert!(resp.headers().get("set-cookie").is_none(), "{path}");
                assert_eq!(error_code(resp).await, "csrf_rejected");
            }
        }
        // Control: the same cookie-less refresh from the allowed origin reaches the handler, which
        // refuses it and clears the cookies.
        let resp = app.client.post(app.url("/api/v1/auth/custom-refresh/")).header("origin", APP).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(cookie(resp.headers(), "refresh_token").is_some_and(|c| c.value().is_empty()));
        assert_eq!(error_code(resp).await, "invalid_refresh_token");
        // Other endpoints keep the rule for cookie-authenticated requests only: a cross-site
        // sign-in without cookies is not a CSRF (CORS hides its answer from the other site).
        let email = unique_email();
        app.signup(&email, "correct horse battery").await;
        let signin = app.client.post(app.url("/api/v1/auth/signin/")).header("sec-fetch-site", "cross-site")
            .json(&json!({"login": email, "password": "correct horse battery"})).send().await.unwrap();
        assert_eq!(signin.status(), 204);
    }

    async fn cors_allows_listed_origins_with_credentials_only(backend) {
        let app = TestApp::spawn_with(backend, |s| s.allowed_origins = vec![APP.into()]).await;
        let preflight = app.client.request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/signin/"))
            .header("origin", APP)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send().await.unwrap();
        assert_eq!(preflight.status(), 204);
        let h = preflight.headers();
        assert_eq!(h["access-control-allow-origin"], APP);
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
        assert!(h["access-control-allow-headers"].to_str().unwrap().contains("content-type"));
        assert_eq!(h["vary"], "Origin");

        for evil in ["https://app.example.com.evil.tld", "http://app.example.com", "https://evil.example", "null"] {
            let resp = app.client.request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/signin/"))
                .header("origin", evil).header("access-control-request-method", "POST").send().await.unwrap();
            assert!(resp.status().is_success(), "no 400 for unlisted origins");
            assert!(resp.headers().get("access-control-allow-origin").is_none(), "{evil}");
            assert!(resp.headers().get("access-control-allow-credentials").is_none(), "{evil}");
        }

        let email = unique_email();
        let resp = app.client.post(app.url("/api/v1/auth/signup/")).header("origin", APP)
            .json(&json!({"email": email, "password": "correct horse battery", "name": "C"})).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["access-control-allow-origin"], APP);
        assert_eq!(resp.headers()["access-control-allow-credentials"], "true");

        let other = app.client.post(app.url("/api/v1/auth/signin/")).header("origin", "https://evil.example")
            .json(&json!({"login": email, "password": "correct horse battery"})).send().await.unwrap();
        assert!(other.headers().get("access-control-allow-origin").is_none());
        assert_eq!(other.headers()["vary"], "Origin");
    }

    async fn an_allowlisted_spa_on_another_site_refreshes_and_logs_out_with_its_cookies(backend) {
        const SPA: &str = "https://app.other-site.test";
        let app = TestApp::spawn_with(backend, |s| {
            s.allowed_origins = vec![SPA.into()];
            s.cookie_samesite = authgate::settings::SameSite::None;
            s.refresh_reuse_grace = std::time::Duration::ZERO;
        }).await;
        let tokens = app.signed_in_user().await;
        let refresh = app.url("/api/v1/auth/custom-refresh/");
        // What a browser sends for `fetch(..., {credentials: 'include'})` from the SPA's site.
        let resp = app.client.post(&refresh)
            .header("cookie", format!("refresh_token={}", tokens.refresh))
            .header("origin", SPA).header("sec-fetch-site", "cross-site").header("sec-fetch-mode", "cors")
            .send().await.unwrap();
        assert_eq!(resp.status(), 204, "an exact allowlisted Origin is accepted whatever Sec-Fetch-Site says");
        assert_eq!(resp.headers()["access-control-allow-origin"], SPA);
        assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
        let rotated = Tokens::from_response(&resp);
        assert_ne!(rotated.refresh, tokens.refresh);
        let user = app.client.patch(app.url("/api/v1/auth/user/"))
            .header("cookie", format!("access_token={}", rotated.access))
            .header("origin", SPA).header("sec-fetch-site", "cross-site")
            .json(&json!({"name": "From the SPA"})).send().await.unwrap();
        assert_eq!(user.status(), 200);

        // Every other cross-site cookie request is still refused, and rotates nothing.
        for origin in ["https://app.other-site.test/", "https://APP.other-site.test", "https://app.other-site.test:8443",
                       "http://app.other-site.test", "null", "https://evil.example"] {
            let resp = app.client.post(&refresh)
                .header("cookie", format!("refresh_token={}", rotated.refresh))
                .header("origin", origin).header("sec-fetch-site", "cross-site")
                .send().await.unwrap();
            assert_eq!(resp.status(), 403, "{origin}");
            assert_eq!(error_code(resp).await, "csrf_rejected", "{origin}");
        }
        let resp = app.client.post(&refresh)
            .header("cookie", format!("refresh_token={}", rotated.refresh))
            .header("referer", format!("{SPA}/page")).header("sec-fetch-site", "cross-site")
            .send().await.unwrap();
        assert_eq!(resp.status(), 403, "only an exact Origin counts, not a Referer");
        // The session was never touched by the refused ones (grace 0: a rotation would be reuse).
        let logout = app.client.post(app.url("/api/v1/auth/custom-logout/"))
            .header("cookie", format!("refresh_token={}", rotated.refresh))
            .header("origin", SPA).header("sec-fetch-site", "cross-site")
            .send().await.unwrap();
        assert_eq!(logout.status(), 204);
        assert_eq!(app.refresh(&rotated.refresh).await.status(), 401, "logged out");
    }
}

both_backends! {
    async fn only_an_options_request_with_origin_and_a_requested_method_is_a_preflight(backend) {
        let app = TestApp::spawn_with(backend, |s| s.allowed_origins = vec![APP.into()]).await;
        // No Origin: not a browser's preflight; the route answers (no OPTIONS there).
        let resp = app.client.request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/signin/"))
            .header("access-control-request-method", "POST").send().await.unwrap();
        assert_eq!(resp.status(), 405);
        // Other methods carrying the preflight headers reach their handlers.
        let resp = app.client.get(app.url("/healthz"))
            .header("origin", APP).header("access-control-request-method", "POST").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(!resp.text().await.unwrap().is_empty(), "the handler answered, not a preflight");
        let resp = app.client.post(app.url("/api/v1/auth/signin/"))
            .header("origin", APP).header("access-control-request-method", "POST")
            .json(&json!({"login": unique_email(), "password": "not the password"})).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        // The real thing.
        let resp = app.client.request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/signin/"))
            .header("origin", APP).header("access-control-request-method", "POST").send().await.unwrap();
        assert_eq!(resp.status(), 204);
        assert_eq!(resp.headers()["access-control-allow-origin"], APP);
    }

    async fn forward_auth_checks_carry_any_body_and_cross_site_headers_of_the_proxied_request(backend) {
        // Envoy forwards the client's method, headers and body; the check changes nothing, so
        // the JSON-only and cross-site rules of state-changing requests do not apply to it.
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        for path in ["/api/v1/auth/verify/", "/api/v1/auth/verify/upload/files"] {
            let resp = app.client.post(app.url(path))
                .header("authorization", format!("Bearer {}", tokens.access))
                .header("content-type", "multipart/form-data; boundary=x")
                .body("--x\r\n\r\nfile\r\n--x--\r\n").send().await.unwrap();
            assert_eq!(resp.status(), 204, "{path}");
            let resp = app.client.post(app.url(path))
                .header("cookie", format!("access_token={}", tokens.access))
                .header("origin", "https://elsewhere.example")
                .header("sec-fetch-site", "cross-site").send().await.unwrap();
            assert_eq!(resp.status(), 204, "{path}: the app behind the proxy applies its own rules");
        }
    }
}

both_backends! {
    async fn only_a_real_bearer_token_exempts_a_cookie_request_from_the_cross_site_rule(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let cookie = format!("access_token={}", tokens.access);
        let url = app.url("/api/v1/auth/sessions/revoke-others/");
        // A cross-site page cannot set Authorization without a preflight it would fail, so a
        // Bearer request is not a forged one, cookies or not.
        let resp = app.client.post(&url).header("cookie", &cookie).header("origin", "https://evil.example")
            .header("authorization", format!("Bearer {}", tokens.access)).send().await.unwrap();
        assert_eq!(resp.status(), 204, "a Bearer request passes");
        // Any other scheme is no such proof.
        for scheme in ["Basic dXNlcjpwYXNzd29yZA==", "Bearer", "Negotiate abcdefgh"] {
            let resp = app.client.post(&url).header("cookie", &cookie).header("origin", "https://evil.example")
                .header("authorization", scheme).send().await.unwrap();
            assert_eq!(resp.status(), 403, "{scheme}");
            assert_eq!(error_code(resp).await, "csrf_rejected");
        }
    }

    async fn an_empty_body_needs_no_json_content_type(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let resp = app.client.post(app.url("/api/v1/auth/custom-logout/"))
            .header("cookie", format!("refresh_token={}", tokens.refresh))
            .header("content-type", "text/plain").header("content-length", "0").send().await.unwrap();
        assert_eq!(resp.status(), 204, "no body, so its type does not matter");
        let resp = app.client.post(app.url("/api/v1/auth/custom-logout/"))
            .header("content-type", "text/plain").body("x").send().await.unwrap();
        assert_eq!(resp.status(), 415);
    }
}
