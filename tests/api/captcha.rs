//! Captcha against a local stand-in of each provider's siteverify endpoint: a
//! wiremock server that only answers the exact form request the provider documents.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use authgate::settings::{CaptchaProvider, Secret, Settings};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

const SECRET: &str = "test-secret-0x4AAAAAAA";
const SITEKEY: &str = "10000000-ffff-ffff-ffff-000000000001";
const SIGNUP: &str = "/api/v1/auth/signup/";
const SIGNIN: &str = "/api/v1/auth/signin/";
const PASSWORD: &str = "correct horse battery";

/// The documented siteverify path of each provider (the stub serves it under its own origin).
fn verify_path(p: CaptchaProvider) -> &'static str {
    match p {
        CaptchaProvider::Recaptcha => "/recaptcha/api/siteverify",
        CaptchaProvider::Hcaptcha => "/siteverify",
        CaptchaProvider::Turnstile => "/turnstile/v0/siteverify",
        CaptchaProvider::None => unreachable!(),
    }
}

const PROVIDERS: [CaptchaProvider; 3] = [
    CaptchaProvider::Recaptcha,
    CaptchaProvider::Hcaptcha,
    CaptchaProvider::Turnstile,
];

/// Matches only a form-encoded POST body holding exactly the fields the provider documents:
/// `secret`, `response`, `remoteip`, plus hCaptcha's `sitekey` and Turnstile's `idempotency_key`
/// (a UUID). A request that differs gets wiremock's 404, which the service reports as 503.
struct SiteverifyForm {
    fields: BTreeMap<String, String>,
    uuid_field: Option<&'static str>,
}

fn documented_form(p: CaptchaProvider, token: &str) -> SiteverifyForm {
    let mut fields = BTreeMap::from([
        ("secret".to_owned(), SECRET.to_owned()),
        ("response".to_owned(), token.to_owned()),
        ("remoteip".to_owned(), "127.0.0.1".to_owned()),
    ]);
    if p == CaptchaProvider::Hcaptcha {
        fields.insert("sitekey".into(), SITEKEY.into());
    }
    SiteverifyForm {
        fields,
        uuid_field: (p == CaptchaProvider::Turnstile).then_some("idempotency_key"),
    }
}

impl Match for SiteverifyForm {
    fn matches(&self, req: &Request) -> bool {
        let form_encoded = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&req.body) else {
            return false;
        };
        let mut got = BTreeMap::new();
        for (k, v) in pairs {
            if got.insert(k, v).is_some() {
                return false;
            }
        }
        if let Some(f) = self.uuid_field {
            match got.remove(f) {
                Some(v) if uuid::Uuid::parse_str(&v).is_ok() => {}
                _ => return false,
            }
        }
        form_encoded && got == self.fields
    }
}

/// A documented success answer of each provider.
fn success(p: CaptchaProvider) -> Value {
    match p {
        CaptchaProvider::Recaptcha => json!({"success": true, "score": 0.9, "action": "signup",
            "challenge_ts": "2026-11-23T10:00:00Z", "hostname": "app.example.com"}),
        CaptchaProvider::Hcaptcha => {
            json!({"success": true, "challenge_ts": "2026-11-23T10:00:00Z",
            "hostname": "app.example.com", "credit": false})
        }
        _ => json!({"success": true, "challenge_ts": "2026-11-23T10:00:00.000Z",
            "hostname": "app.example.com", "error-codes": [], "action": "signup", "cdata": ""}),
    }
}

fn answer(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn app_with(
    backend: Backend,
    p: CaptchaProvider,
    server: &MockServer,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let url = format!("{}{}", server.uri(), verify_path(p));
    TestApp::spawn_with(backend, move |s| {
        s.captcha_provider = p;
        s.captcha_secret = Some(Secret::new(SECRET));
        s.captcha_verify_url = Some(url);
        if p == CaptchaProvider::Hcaptcha {
            s.captcha_sitekey = Some(SITEKEY.into());
        }
        configure(s);
    })
    .await
}

fn signup_body(email: &str, captcha: Option<&str>) -> Value {
    let mut b = json!({"email": email, "password": PASSWORD, "name": "Captcha User"});
    if let Some(c) = captcha {
        b["captcha"] = json!(c);
    }
    b
}

async fn siteverify_calls(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

both_backends! {
    async fn each_provider_is_sent_the_documented_request_and_its_success_lets_signup_through(backend) {
        for p in PROVIDERS {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(verify_path(p)))
                .and(documented_form(p, "tok-ok"))
                .respond_with(answer(success(p)))
                .expect(1)
                .mount(&server)
                .await;
            let app = app_with(backend, p, &server, |_| {}).await;
            let resp = app.post_json(SIGNUP, &signup_body(&unique_email(), Some("tok-ok"))).await;
            assert_eq!(resp.status(), 201, "{p:?}: {}", resp.text().await.unwrap());
            server.verify().await;
        }
    }

    async fn the_token_is_read_from_the_body_the_header_or_the_query(backend) {
        let p = CaptchaProvider::Turnstile;
        let server = MockServer::start().await;
        for token in ["tok-body", "tok-header", "tok-query"] {
            Mock::given(method("POST"))
                .and(documented_form(p, token))
                .respond_with(answer(success(p)))
                .expect(1)
                .mount(&server)
                .await;
        }
        let app = app_with(backend, p, &server, |_| {}).await;
        let email = unique_email();
        let resp = app.post_json(SIGNUP, &signup_body(&email, Some("tok-body"))).await;
        assert_eq!(resp.status(), 201);
        let signin = json!({"login": email, "password": PASSWORD});
        let resp = app.client.post(app.url(SIGNIN)).header("x-captcha-token", "tok-header")
            .json(&signin).send().await.unwrap();
        assert_eq!(resp.status(), 204);
        let resp = app.client.post(app.url(&format!("{SIGNIN}?captcha=tok-query")))
            .json(&signin).send().await.unwrap();
        assert_eq!(resp.status(), 204);
        // The handler still reads the re-injected body: a wrong password is still refused.
        Mock::given(method("POST")).respond_with(answer(success(p))).mount(&server).await;
        let resp = app.client.post(app.url(SIGNIN)).header("x-captcha-token", "tok-any")
            .json(&json!({"login": email, "password": "wrong password!"})).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "invalid_credentials");
    }

    async fn signup_and_signin_without_a_token_are_captcha_invalid_without_asking_the_provider(backend) {
        let p = CaptchaProvider::Recaptcha;
        let server = MockServer::start().await;
        let app = app_with(backend, p, &server, |_| {}).await;
        let email = unique_email();
        for body in [signup_body(&email, None), signup_body(&email, Some(""))] {
            let resp = app.post_json(SIGNUP, &body).await;
            assert_eq!(resp.status(), 400);
            assert_eq!(error_code(resp).await, "captcha_invalid");
        }
        let resp = app.post_json(SIGNIN, &json!({"login": email, "password": PASSWORD})).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(error_code(resp).await, "captcha_invalid");
        let resp = app.client.post(app.url(SIGNUP)).json(&json!({"name": "n".repeat(20_000)}))
            .send().await.unwrap();
        assert_eq!(resp.status(), 413, "the gate keeps the body limit");
        assert_eq!(siteverify_calls(&server).await, 0);

        // Control: with a token accepted by the provider the same requests pass.
        Mock::given(method("POST")).and(documented_form(p, "good"))
            .respond_with(answer(success(p))).expect(2).mount(&server).await;
        assert_eq!(app.post_json(SIGNUP, &signup_body(&email, Some("good"))).await.status(), 201);
        let resp = app.post_json(SIGNIN, &json!({"login": email, "password": PASSWORD, "captcha": "good"})).await;
        assert_eq!(resp.status(), 204);
    }

    async fn every_documented_refusal_is_captcha_invalid_and_creates_nothing(backend) {
        let cases: Vec<(CaptchaProvider, Value, &str)> = vec![
            (CaptchaProvider::Recaptcha, json!({"success": false, "error-codes": ["invalid-input-response"]}), "failure"),
            (CaptchaProvider::Recaptcha, json!({"success": false, "error-codes": ["timeout-or-duplicate"]}), "duplicate"),
            (CaptchaProvider::Hcaptcha, json!({"success": false, "error-codes": ["expired-input-response"]}), "failure"),
            (CaptchaProvider::Turnstile, json!({"success": false, "error-codes": ["invalid-input-response"], "messages": []}), "failure"),
            (CaptchaProvider::Recaptcha, json!({"success": true, "score": 0.2, "action": "signup", "hostname": "app.example.com"}), "v3 low score"),
            (CaptchaProvider::Recaptcha, json!({"success": true, "score": 0.9, "action": "signup", "hostname": "evil.example"}), "wrong hostname"),
            (CaptchaProvider::Hcaptcha, json!({"success": true, "hostname": "evil.example", "credit": false}), "wrong hostname"),
            (CaptchaProvider::Turnstile, json!({"success": true, "hostname": "evil.example", "action": "signup", "error-codes": []}), "wrong hostname"),
            (CaptchaProvider::Recaptcha, json!({"success": true, "score": 0.9, "action": "login", "hostname": "app.example.com"}), "wrong action"),
            (CaptchaProvider::Turnstile, json!({"success": true, "hostname": "app.example.com", "action": "login", "error-codes": []}), "wrong action"),
        ];
        for (p, refusal, what) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST")).and(documented_form(p, "refused"))
                .respond_with(answer(refusal)).expect(1).mount(&server).await;
            Mock::given(method("POST")).and(documented_form(p, "accepted"))
                .respond_with(answer(success(p))).expect(1).mount(&server).await;
            let app = app_with(backend, p, &server, |s| {
                s.captcha_hostnames = vec!["app.example.com".into()];
                if p != CaptchaProvider::Hcaptcha {
                    s.captcha_action = Some("signup".into());
                }
            })
            .await;
            let email = unique_email();
            let resp = app.post_json(SIGNUP, &signup_body(&email, Some("refused"))).await;
            assert_eq!(resp.status(), 400, "{p:?} {what}");
            assert!(resp.headers().get("retry-after").is_none());
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "captcha_invalid", "{p:?} {what}");
            let message = body["message"].as_str().unwrap();
            assert!(!message.contains("evil") && !message.contains("score") && !message.contains("input"),
                "the provider's reason stays in the log: {message}");
            // Control: the same address signs up with an accepted token, so nothing was created.
            let resp = app.post_json(SIGNUP, &signup_body(&email, Some("accepted"))).await;
            assert_eq!(resp.status(), 201, "{p:?} {what} control");
        }
    }

    async fn provider_failures_are_captcha_unavailable_with_retry_after(backend) {
        let cases: Vec<(CaptchaProvider, ResponseTemplate, &str)> = vec![
            (CaptchaProvider::Recaptcha, ResponseTemplate::new(500), "500"),
            (CaptchaProvider::Turnstile, ResponseTemplate::new(502).set_body_json(json!({"success": false})), "502 with JSON"),
            (CaptchaProvider::Hcaptcha, ResponseTemplate::new(200)
                .set_body_raw("<html><body>Checking your browser</body></html>", "text/html"), "HTML"),
            (CaptchaProvider::Turnstile, answer(success(CaptchaProvider::Turnstile))
                .set_delay(Duration::from_secs(3)), "delay past the timeout"),
            (CaptchaProvider::Recaptcha, answer(json!({"success": false, "error-codes": ["invalid-input-secret"]})), "our secret refused"),
            (CaptchaProvider::Turnstile, answer(json!({"success": false, "error-codes": ["internal-error"]})), "provider internal error"),
        ];
        for (p, template, what) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST")).and(documented_form(p, "tok"))
                .respond_with(template).expect(1).mount(&server).await;
            let app = app_with(backend, p, &server, |s| s.captcha_timeout = Duration::from_millis(800)).await;
            let started = Instant::now();
            let resp = app.post_json(SIGNUP, &signup_body(&unique_email(), Some("tok"))).await;
            let elapsed = started.elapsed();
            assert_eq!(resp.status(), 503, "{p:?} {what}");
            assert!(elapsed < Duration::from_millis(1800), "{what}: answered after {elapsed:?}");
            assert_eq!(resp.headers()["retry-after"], "5");
            assert_eq!(error_code(resp).await, "captcha_unavailable", "{p:?} {what}");
        }
    }

    async fn an_unreachable_provider_is_captcha_unavailable(backend) {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let app = TestApp::spawn_with(backend, |s| {
            s.captcha_provider = CaptchaProvider::Turnstile;
            s.captcha_secret = Some(Secret::new(SECRET));
            s.captcha_verify_url = Some(format!("http://127.0.0.1:{port}/turnstile/v0/siteverify"));
        })
        .await;
        let resp = app.post_json(SIGNUP, &signup_body(&unique_email(), Some("tok"))).await;
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().contains_key("retry-after"));
        assert_eq!(error_code(resp).await, "captcha_unavailable");
    }

    async fn a_hanging_provider_gets_503_within_the_timeout_while_the_service_keeps_answering(backend) {
        let p = CaptchaProvider::Recaptcha;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(answer(success(p)).set_delay(Duration::from_secs(60)))
            .mount(&server)
            .await;
        let timeout = Duration::from_secs(1);
        let app = app_with(backend, p, &server, |s| s.captcha_timeout = timeout).await;
        let (client, url) = (app.client.clone(), app.url(SIGNUP));
        let started = Instant::now();
        let pending = tokio::spawn(async move {
            let resp = client.post(url).json(&signup_body(&unique_email(), Some("tok"))).send().await.unwrap();
            (resp.status().as_u16(), started.elapsed(), error_code(resp).await)
        });
        // Meanwhile other requests (another signin even) are served at once.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut served = 0;
        while !pending.is_finished() {
            let t = Instant::now();
            let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert!(t.elapsed() < Duration::from_millis(300), "healthz took {:?}", t.elapsed());
            served += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (status, elapsed, code) = pending.await.unwrap();
        assert_eq!((status, code.as_str()), (503, "captcha_unavailable"));
        assert!(elapsed >= timeout, "no earlier than the timeout: {elapsed:?}");
        assert!(elapsed < timeout + Duration::from_secs(1), "answered after {elapsed:?}");
        assert!(served >= 5, "only {served} health checks answered meanwhile");
    }

    async fn unprotected_routes_never_call_the_provider(backend) {
        let p = CaptchaProvider::Turnstile;
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(answer(success(p))).mount(&server).await;
        let app = app_with(backend, p, &server, |_| {}).await;
        let resp = app.post_json(SIGNUP, &signup_body(&unique_email(), Some("tok"))).await;
        assert_eq!(resp.status(), 201);
        let tokens = Tokens::from_response(&resp);
        assert_eq!(siteverify_calls(&server).await, 1, "control: signup asked the provider");

        let cookies = format!("access_token={}; refresh_token={}", tokens.access, tokens.refresh);
        let mut checked = Vec::new();
        for (m, route) in authgate::startup::routes() {
            if authgate::startup::requires_captcha(&m, route) {
                continue;
            }
            let req = app.client.request(m.as_str().parse().unwrap(), app.url(route))
                .header("cookie", &cookies)
                .bearer_auth(&tokens.access);
            let resp = req.send().await.unwrap();
            assert_ne!(resp.status(), 503, "{m} {route}");
            if resp.status() == 400 {
                // Refused for its own reasons (a placeholder path parameter), not the captcha's.
                assert_ne!(error_code(resp).await, "captcha_invalid", "{m} {route}");
            }
            checked.push(route);
        }
        for must in ["/api/v1/auth/custom-refresh/", "/api/v1/auth/custom-logout/", "/.well-known/jwks.json", "/healthz", "/readyz"] {
            assert!(checked.contains(&must), "{must} was not exercised");
        }
        assert_eq!(siteverify_calls(&server).await, 1, "no unprotected route asked the provider");
    }

    async fn every_served_protected_path_refuses_a_tokenless_request(backend) {
        let server = MockServer::start().await;
        let app = app_with(backend, CaptchaProvider::Hcaptcha, &server, |_| {}).await;
        for path in CAPTCHA_GUARDED {
            let resp = app.post_json(path, &json!({"email": unique_email(), "login": "a@b.c",
                "password": PASSWORD, "name": "N", "phone": "+15555550100", "grant_type": "password"})).await;
            assert_eq!(resp.status(), 400, "{path}");
            assert_eq!(error_code(resp).await, "captcha_invalid", "{path}");
            // The same path without its trailing slash goes through the gate too.
            let resp = app.post_json(path.trim_end_matches('/'), &json!({})).await;
            assert_eq!(error_code(resp).await, "captcha_invalid", "{path} without slash");
            // And so does any other spelling of it.
            let (dir, last) = path.trim_end_matches('/').rsplit_once('/').unwrap();
            let spelled = format!("{dir}/%{:02X}{}/", last.as_bytes()[0], &last[1..]);
            let raw = raw_request(app.port, "POST", &spelled, &[], Some(&json!({}))).await;
            assert_eq!(raw.error_code(), "captcha_invalid", "{spelled}");
        }
        let resp = app.post_json("/api/v1/auth/token/",
            &json!({"grant_type": "refresh_token", "refresh_token": "x"})).await;
        assert_ne!(error_code(resp).await, "captcha_invalid", "the refresh grant needs no captcha");
        assert_eq!(siteverify_calls(&server).await, 0);
    }
}
