//! The edges an attacker walks: every decision (routing, per-IP limits, the CSRF rule, metrics,
//! proxy rules) is made on one canonical path, whatever spelling the request used, and what
//! cannot be normalised safely is refused. Requests go out byte for byte (`raw_request`): a
//! client library would have normalised the spellings under test before sending them.

use std::sync::atomic::Ordering;

use authgate::paths::PathPattern;
use authgate::settings::Rate;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::proxy::start_upstream;

const PW: &str = "correct horse battery";

/// `POST signin/` as an attacker may spell it; each reaches the sign-in handler.
const SIGNIN_SPELLINGS: &[&str] = &[
    "/api/v1/auth/sign%69n/",
    "/%61pi/v1/auth/signin/",
    "/api/v1/auth/sig%6E%69n",
    "/api/v1/auth//signin",
    "//api/v1/auth/signin/",
    "/api/v1/auth/./signin/",
    "/api/v1/auth/%2e/signin",
    "/api/v1/auth/x/../signin/",
    "/api/v1/auth/x/%2E%2E/signin",
    "/api/v1/auth/x/.%2e/signin//",
];

async fn post_raw(app: &TestApp, target: &str, headers: &[&str], body: &Value) -> RawResponse {
    raw_request(app.port, "POST", target, headers, Some(body)).await
}

/// One letter of the last segment percent-encoded: `/api/v1/auth/signup/` becomes
/// `/api/v1/auth/%73ignup/`.
fn encoded(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let (dir, last) = trimmed.rsplit_once('/').expect("a path");
    let mut chars = last.chars();
    let first = chars.next().expect("a segment");
    format!("{dir}/%{:02x}{}/", first as u32, chars.as_str())
}

both_backends! {
    async fn every_spelling_of_sign_in_reaches_it_and_draws_on_its_budget(backend) {
        let n = SIGNIN_SPELLINGS.len();
        let app = TestApp::spawn_with(backend, |s| {
            s.rate_limit_auth = Rate::parse(&format!("{n}/60s")).unwrap();
        }).await;
        for target in SIGNIN_SPELLINGS {
            let r = post_raw(&app, target, &[], &json!({"login": unique_email(), "password": "wrong password"})).await;
            assert_eq!((r.status, r.error_code().as_str()), (401, "invalid_credentials"), "{target}: {r:?}");
        }
        let r = app.signin(&unique_email(), "wrong password", false).await;
        assert_eq!(r.status(), 429, "the spellings spent the sign-in budget");
        let r = post_raw(&app, "/api/v1/auth/sign%69n/", &[], &json!({"login": unique_email(), "password": PW})).await;
        assert_eq!(r.status, 429, "and an encoded spelling is refused like the plain one");

        // Metrics name the route, not the spelling.
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let line = metrics.lines()
            .find(|l| l.starts_with("authgate_http_requests_total{") && l.contains(r#"route="/api/v1/auth/signin""#) && l.contains(r#"status="401""#))
            .unwrap_or_else(|| panic!("no signin 401 series in {metrics}"));
        assert!(line.ends_with(&format!(" {n}")), "{line}");
        assert!(!metrics.contains("sign%69n") && !metrics.contains("%61pi"), "{metrics}");
    }

    async fn failed_sign_ins_in_any_spelling_count_toward_the_per_ip_cap(backend) {
        let n = SIGNIN_SPELLINGS.len();
        let app = TestApp::spawn_with(backend, |s| {
            s.rate_limit_signin_failures = Rate::parse(&format!("{n}/60s")).unwrap();
        }).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, PW).await.status(), 201);
        for target in SIGNIN_SPELLINGS {
            let r = post_raw(&app, target, &[], &json!({"login": unique_email(), "password": "wrong password"})).await;
            assert_eq!(r.status, 401, "{target}");
        }
        let r = app.signin(&email, PW, false).await;
        assert_eq!(r.status(), 429, "the failures through other spellings were counted");
    }

    async fn every_limited_endpoint_counts_its_encoded_spelling(backend) {
        let app = TestApp::spawn_with(backend, |s| s.rate_limit_auth = Rate::parse("1/60s").unwrap()).await;
        for path in [
            "/api/v1/auth/signup/",
            "/api/v1/auth/token/",
            "/api/v1/auth/password/forgot/",
            "/api/v1/auth/password/reset/",
            "/api/v1/auth/verify-email/",
            "/api/v1/auth/verify-email/resend/",
            "/api/v1/auth/sms/code/",
            "/api/v1/auth/sms/signin/",
            "/api/v1/auth/mfa/totp/confirm/",
            "/api/v1/auth/user/password/",
        ] {
            let spelled = encoded(path);
            let first = post_raw(&app, &spelled, &[], &json!({})).await;
            assert!(!matches!(first.status, 404 | 429), "{spelled} must reach its endpoint: {first:?}");
            let second = post_raw(&app, path, &[], &json!({})).await;
            assert_eq!(second.status, 429, "{path} after {spelled}: {second:?}");
        }
    }

    async fn a_cross_site_logout_or_refresh_is_refused_in_any_spelling(backend) {
        let app = TestApp::spawn(backend).await;
        let cross = ["Origin: https://evil.example", "Sec-Fetch-Site: cross-site"];
        for target in [
            "/api/v1/auth/custom-logout/",
            "/api/v1/auth/custom-l%6fgout/",
            "/api/v1/auth/custom-l%6Fgout",
            "/api/v1//auth/custom-logout",
            "/api/v1/auth/x/../custom-logout",
            "/api/v1/auth/custom-r%65fresh/",
            "/api/v1/auth/./custom-refresh",
        ] {
            let r = raw_request(app.port, "POST", target, &cross, None).await;
            assert_eq!((r.status, r.error_code().as_str()), (403, "csrf_rejected"), "{target}: {r:?}");
            assert!(r.header("set-cookie").is_none(), "{target}: a refused request clears nothing");
        }
        // Control: the same requests without the cross-site headers are not refused by the guard.
        let r = raw_request(app.port, "POST", "/api/v1/auth/custom-l%6fgout/", &[], None).await;
        assert_eq!(r.status, 204, "{r:?}");
    }

    async fn paths_that_cannot_be_normalised_safely_are_400_invalid_path(backend) {
        let app = TestApp::spawn(backend).await;
        let body = json!({"login": unique_email(), "password": PW});
        for target in [
            "/api/v1/auth/signin%2f",
            "/api/v1/auth%2Fsignin",
            "/api/v1/auth/x%2f..%2fsignin",
            "/api/v1/auth/x/%2e%2e%2fsignin",
            "/api/v1/auth/x/%2E%2E%2Fsignin",
            "/api/v1/auth/%5csignin",
            "/api/v1/auth/signin%00",
            "/api/v1/auth/%252e%252e/signin",
            "/api/v1/auth/x/%252F/signin",
            "/api/v1/auth/x%25%32%65/signin",
            "/api/v1/auth/signin;x=1",
            "/api/v1/auth;x=1/signin",
            "/api/v1/auth/..;/auth/signin",
            "/api/v1/auth/sign%zzin",
            "/api/v1/auth/signin%",
        ] {
            let r = post_raw(&app, target, &[], &body).await;
            assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_path"), "{target}: {r:?}");
            assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()), "{target}");
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{target}");
            assert_eq!(r.header("cache-control"), Some("no-store"), "{target}");
            assert!(r.header("x-request-id").is_some(), "{target}");
        }
        // A raw backslash never reaches a handler, whoever refuses it.
        let r = post_raw(&app, "/api/v1/auth/x\\..\\signin", &[], &body).await;
        assert_eq!(r.status, 400, "{r:?}");
        // Escapes of other characters are kept: they name no route, so 404, never a 5xx.
        let r = post_raw(&app, "/api/v1/auth/signin%3f", &[], &body).await;
        assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"), "{r:?}");
    }

    async fn proxy_rules_hold_in_every_spelling_of_a_path(backend) {
        let upstream = start_upstream().await;
        let base = upstream.base.clone();
        let app = TestApp::spawn_with(backend, move |s| {
            s.upstream = Some(base);
            s.public_paths = vec![PathPattern::parse("/public/*").unwrap()];
            s.proxy_require_aal2 = vec![PathPattern::parse("/admin/*").unwrap()];
        }).await;
        let tokens = app.signed_in_user().await;
        let bearer = format!("Authorization: Bearer {}", tokens.access);
        let get = |target: &'static str, headers: Vec<String>| {
            let port = app.port;
            async move {
                let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
                raw_request(port, "GET", target, &headers, None).await
            }
        };
        // The second-factor rule applies to every way of naming the admin area.
        for target in [
            "/admin/users",
            "/admin/./users",
            "/admin/%2e/users",
            "/x/../admin/users",
            "/x/%2E%2E/admin/users",
            "/%61dmin/users",
            "//admin/users",
            "/admin//users",
            "/ADMIN/users",
            "/Admin/Users",
            "/admin;x=1/users",
            "/admin",
            "/admin/",
        ] {
            let r = get(target, vec![bearer.clone()]).await;
            assert_eq!((r.status, r.error_code().as_str()), (403, "mfa_required"), "{target}: {r:?}");
        }
        // Nothing leaves the public area by traversal, encoded or parameterised.
        for (target, status) in [
            ("/public/../data", 401),
            ("/public/%2e%2e/data", 401),
            ("/public/%2E%2E/data", 401),
            ("/public;x/../data", 401),
            ("/public/..;/data", 400),
            ("/public/%2e%2e;x/data", 400),
            ("/public/..%2fdata", 400),
            ("/public/..%5cdata", 400),
            ("/public/%252e%252e/data", 400),
            ("/public/%25%32%65%25%32%65/data", 400),
            ("/public\\..\\data", 400),
        ] {
            let r = get(target, vec![]).await;
            assert_eq!(r.status, status, "{target}: {r:?}");
        }
        assert_eq!(upstream.hits.load(Ordering::SeqCst), 0, "nothing above reached the app");

        // What passes is forwarded with the path the decision was made on.
        for (target, seen) in [
            ("/public/a/./b//c", "/public/a/b/c"),
            ("/public/sign%69n?x=%2F", "/public/signin?x=%2F"),
            ("/public/x/../y/", "/public/y/"),
            ("/public/%c3%bc", "/public/%C3%BC"),
            ("/public/page;jsessionid=1", "/public/page;jsessionid=1"),
        ] {
            let r = get(target, vec![]).await;
            assert_eq!(r.status, 200, "{target}: {r:?}");
            assert_eq!(r.json()["path"], seen, "{target}");
        }
        let r = get("/%61pp//p%61ge/", vec![bearer.clone()]).await;
        assert_eq!((r.status, r.json()["path"].as_str()), (200, Some("/app/page/")), "{r:?}");
    }

    async fn spoofed_identity_and_routing_headers_never_reach_the_app(backend) {
        let upstream = start_upstream().await;
        let base = upstream.base.clone();
        let app = TestApp::spawn_with(backend, move |s| {
            s.upstream = Some(base);
            s.public_paths = vec![PathPattern::parse("/public/*").unwrap()];
        }).await;
        let tokens = app.signed_in_user().await;
        let me: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        let spoofs = [
            "X_Auth_User_Id: victim",
            "x_auth_aal: aal2",
            "X_Auth_Roles: admin",
            "x-auth-roles: admin",
            "X-Auth_Session-Id: s",
            "X-Real-IP: 6.6.6.6",
            "x_real_ip: 6.6.6.6",
            "True-Client-IP: 6.6.6.6",
            "X-Client-IP: 6.6.6.6",
            "CF-Connecting-IP: 6.6.6.6",
            "X-Original-URL: /admin",
            "X-Rewrite-URL: /admin",
            "x_original_url: /admin",
            "Forwarded: for=6.6.6.6;proto=https",
            "X-Forwarded-Prefix: /evil",
            "x_forwarded_for: 6.6.6.6",
            "X-HTTP-Method-Override: DELETE",
            "X-App-Header: kept",
        ];
        let bearer = format!("Authorization: Bearer {}", tokens.access);
        for (target, auth) in [("/public/x", None), ("/private/x", Some(bearer.as_str()))] {
            let mut headers: Vec<&str> = spoofs.to_vec();
            headers.extend(auth);
            let r = raw_request(app.port, "GET", target, &headers, None).await;
            assert_eq!(r.status, 200, "{target}: {r:?}");
            let seen = r.json()["headers"].clone();
            let names: Vec<&String> = seen.as_object().unwrap().keys().collect();
            for name in &names {
                let dashed = name.replace('_', "-");
                let allowed = ["x-auth-user-id", "x-auth-user-email", "x-auth-email-verified", "x-auth-session-id", "x-auth-aal", "x-auth-roles", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];
                assert!(
                    !(dashed.starts_with("x-auth-") || dashed.starts_with("x-forwarded-") || dashed.contains("ip") || dashed.contains("url") || dashed.contains("override") || dashed == "forwarded") || allowed.contains(&name.as_str()),
                    "{target}: {name} reached the app: {seen}"
                );
            }
            assert_eq!(seen["x-app-header"], json!(["kept"]), "{target}");
            assert_eq!(seen["x-forwarded-for"], json!(["127.0.0.1"]), "{target}");
            match auth {
                None => {
                    assert!(seen.get("x-auth-user-id").is_none(), "{seen}");
                    assert!(seen.get("x-auth-roles").is_none(), "{seen}");
                }
                Some(_) => {
                    assert_eq!(seen["x-auth-user-id"], json!([me["id"]]), "{seen}");
                    assert_eq!(seen["x-auth-aal"], json!(["aal1"]), "{seen}");
                    assert_eq!(seen["x-auth-roles"], json!([""]), "the token's (none), not the client's");
                }
            }
        }
    }

    async fn cookie_requests_to_proxied_paths_pass_the_csrf_rule(backend) {
        let upstream = start_upstream().await;
        let base = upstream.base.clone();
        let app = TestApp::spawn_with(backend, move |s| {
            s.upstream = Some(base);
            s.public_url = "https://app.example.com".into();
        }).await;
        let tokens = app.signed_in_user().await;
        let cookie = format!("access_token={}", tokens.access);
        for (method, headers) in [
            ("POST", vec!["Origin: https://evil.example", "Sec-Fetch-Site: cross-site"]),
            ("DELETE", vec!["Origin: https://evil.example"]),
            ("PUT", vec!["Referer: https://evil.example/page"]),
            ("PATCH", vec!["Sec-Fetch-Site: cross-site"]),
        ] {
            let mut all = headers.clone();
            let cookie_line = format!("Cookie: {cookie}");
            all.push(&cookie_line);
            let r = raw_request(app.port, method, "/things/1", &all, Some(&json!({"x": 1}))).await;
            assert_eq!((r.status, r.error_code().as_str()), (403, "csrf_rejected"), "{method} {headers:?}: {r:?}");
        }
        assert_eq!(upstream.hits.load(Ordering::SeqCst), 0, "no cross-site cookie request reached the app");
        // Controls: the same cookie request from the own origin, a cross-site GET, and a Bearer
        // request from anywhere all pass.
        let cookie_line = format!("Cookie: {cookie}");
        let own = raw_request(app.port, "POST", "/things/1", &["Origin: https://app.example.com", &cookie_line], Some(&json!({}))).await;
        assert_eq!(own.status, 200, "{own:?}");
        let get = raw_request(app.port, "GET", "/things/1", &["Sec-Fetch-Site: cross-site", &cookie_line], None).await;
        assert_eq!(get.status, 200, "{get:?}");
        let bearer = format!("Authorization: Bearer {}", tokens.access);
        let api = raw_request(app.port, "POST", "/things/1", &["Origin: https://evil.example", "Sec-Fetch-Site: cross-site", &bearer], Some(&json!({}))).await;
        assert_eq!(api.status, 200, "{api:?}");
        assert_eq!(upstream.hits.load(Ordering::SeqCst), 3);
    }

    async fn junk_in_forwarded_for_never_lets_the_client_choose_its_address(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            s.rate_limit_auth = Rate::parse("2/60s").unwrap();
        }).await;
        let seen = |xff: &'static str| {
            let app = &app;
            async move {
                let r = app.client.get(app.url("/")).header("x-forwarded-for", xff).send().await.unwrap();
                r.json::<Value>().await.unwrap()["ip"].as_str().unwrap().to_owned()
            }
        };
        // The proxy (here the test, on 127.0.0.1) vouches for what it appended; junk to the right
        // of a chosen address ends the walk there.
        for xff in ["6.6.6.6, unknown", "6.6.6.6, 203.0.113.5:4711x", "6.6.6.6, [2001:db8::5", "6.6.6.6, _obfuscated", "6.6.6.6, "] {
            assert_eq!(seen(xff).await, "127.0.0.1", "{xff}");
        }
        // A line that is not text ends the walk too; dropping it would reach the line before it.
        let r = app.client.get(app.url("/"))
            .header("x-forwarded-for", "6.6.6.6")
            .header("x-forwarded-for", reqwest::header::HeaderValue::from_bytes(b"\xff, 198.51.100.7").unwrap())
            .send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["ip"], "127.0.0.1", "a line that is not text");
        // Exactly parsed forms with a port are addresses.
        assert_eq!(seen("6.6.6.6, 203.0.113.5:4711").await, "203.0.113.5");
        assert_eq!(seen("6.6.6.6, [2001:db8::5]:443").await, "2001:db8::5");
        assert_eq!(seen("6.6.6.6, 198.51.100.7").await, "198.51.100.7", "control: a real client address");
        // Rotating the chosen part does not buy a fresh budget.
        let mut statuses = Vec::new();
        for i in 0..4 {
            let r = app.client.post(app.url("/api/v1/auth/signin/"))
                .header("x-forwarded-for", format!("198.51.100.{i}, unknown"))
                .json(&json!({"login": unique_email(), "password": PW}))
                .send().await.unwrap();
            statuses.push(r.status().as_u16());
        }
        assert_eq!(statuses, [401, 401, 429, 429]);
    }
}
