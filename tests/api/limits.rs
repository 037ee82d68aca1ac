//! Rate limits, the sign-in lockout, response hygiene and enumeration parity. Durations are
//! shortened through the settings so no test sleeps long.

use std::time::Duration;

use authgate::settings::Ladder;
use authgate::settings::Rate;
use authgate::settings::Settings;
use authgate::startup::Application;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::smtp::SmtpServer;

const PW: &str = "correct horse battery";
const SIGNIN: &str = "/api/v1/auth/signin/";
const TOKEN: &str = "/api/v1/auth/token/";
const FORGOT: &str = "/api/v1/auth/password/forgot/";
const RESET: &str = "/api/v1/auth/password/reset/";
const RESEND: &str = "/api/v1/auth/verify-email/resend/";

fn rate(s: &str) -> Rate {
    Rate::parse(s).unwrap()
}

fn retry_after(h: &HeaderMap) -> u64 {
    h.get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Asserts a 429 with `Retry-After` within `max` seconds and the envelope.
async fn assert_429(resp: reqwest::Response, max: u64) {
    assert_eq!(resp.status(), 429);
    let wait = retry_after(resp.headers());
    assert!(
        (1..=max).contains(&wait),
        "Retry-After {wait} not in 1..={max}"
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(error_code(resp).await, "too_many_requests");
}

/// What a client can compare between two answers: status, every header but the per-request
/// ones, and the body.
async fn observable(resp: reqwest::Response) -> (u16, Vec<(String, String)>, String) {
    let status = resp.status().as_u16();
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    headers.sort();
    (status, headers, resp.text().await.unwrap())
}

impl TestApp {
    async fn token_password(&self, login: &str, password: &str) -> reqwest::Response {
        self.post_json(
            TOKEN,
            &json!({"grant_type": "password", "login": login, "password": password}),
        )
        .await
    }
}

/// The median, over 21 back-to-back pairs in alternating order, of how long `path` takes for
/// `known` over how long for `unknown`: a pair shares its moment of machine load.
async fn paired_ratio(app: &TestApp, path: &str, known: &Value, unknown: &Value) -> f64 {
    let mut ratios = Vec::new();
    for i in 0..21 {
        let mut pair = [Duration::ZERO; 2];
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let body = if which == 0 { known } else { unknown };
            let t = std::time::Instant::now();
            let r = app.post_json(path, body).await;
            pair[which] = t.elapsed();
            assert_eq!(r.status(), 202, "{path}");
        }
        ratios.push(pair[0].as_secs_f64() / pair[1].as_secs_f64().max(1e-9));
    }
    ratios.sort_by(f64::total_cmp);
    eprintln!("{path}: known / unknown, sorted pair ratios {ratios:.2?}");
    ratios[ratios.len() / 2]
}

/// Another instance of the service on the same database, with nothing in memory: a second
/// replica, or the first one restarted.
async fn another_instance(settings: &Settings) -> (String, actix_web::dev::ServerHandle) {
    let app = Application::build(settings.clone()).await.expect("build");
    let (port, handle) = (app.port(), app.handle());
    tokio::spawn(app.run_until_stopped());
    (format!("http://127.0.0.1:{port}"), handle)
}

both_backends! {
    async fn five_failures_lock_the_account_even_for_the_right_password(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, PW).await.status(), 201);
        for i in 0..5 {
            let r = app.signin(&email, "wrong password", false).await;
            assert_eq!(r.status(), 401, "failure {i} is an ordinary 401");
        }
        assert_429(app.signin(&email, PW, false).await, 30).await;
        assert_429(app.token_password(&email, PW).await, 30).await;
        // The login is normalised: another spelling of the address is the same lock.
        assert_429(app.signin(&format!("  {}", email.to_uppercase()), PW, false).await, 30).await;
        // Another account is not affected.
        let other = unique_email();
        assert_eq!(app.signup(&other, PW).await.status(), 201);
        assert_eq!(app.signin(&other, PW, false).await.status(), 204);
    }

    async fn unknown_accounts_lock_alike(backend) {
        let app = TestApp::spawn(backend).await;
        let (known, unknown) = (unique_email(), unique_email());
        assert_eq!(app.signup(&known, PW).await.status(), 201);
        for _ in 0..5 {
            let k = observable(app.signin(&known, "wrong password", false).await).await;
            let u = observable(app.signin(&unknown, "wrong password", false).await).await;
            assert_eq!(k, u, "a wrong password and an unknown account answer alike");
        }
        let k = app.signin(&known, "wrong password", false).await;
        let u = app.signin(&unknown, "wrong password", false).await;
        assert_eq!((k.status().as_u16(), u.status().as_u16()), (429, 429));
        let (mut k, mut u) = (observable(k).await, observable(u).await);
        // Retry-After may differ by the second that passed between the two requests.
        for h in [&mut k.1, &mut u.1] {
            h.retain(|(name, _)| name != "retry-after");
        }
        assert_eq!(k, u, "locked known and unknown accounts answer alike");
    }

    async fn signin_costs_the_same_for_an_unknown_account_and_a_wrong_password(backend) {
        // A cost where the hash dominates the request, and no lockout in the way of the samples.
        let app = TestApp::spawn_with(backend, |s| {
            s.bcrypt_cost = 7;
            s.lockout_ladder = Ladder::default();
        }).await;
        let known = unique_email();
        assert_eq!(app.signup(&known, PW).await.status(), 201);
        // Back-to-back pairs in alternating order, judged on the median of the pairs' ratios: the
        // rest of the suite loads the machine unevenly (a run once measured medians of 49 and
        // 23 ms for two separately sorted series of seven), and a pair shares its moment.
        let mut ratios = Vec::new();
        for i in 0..11 {
            let mut pair = [Duration::ZERO; 2];
            let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let login = if which == 0 { known.clone() } else { unique_email() };
                let t = std::time::Instant::now();
                assert_eq!(app.signin(&login, "wrong password", false).await.status(), 401);
                pair[which] = t.elapsed();
            }
            ratios.push(pair[0].as_secs_f64() / pair[1].as_secs_f64().max(1e-9));
        }
        ratios.sort_by(f64::total_cmp);
        let ratio = ratios[ratios.len() / 2];
        eprintln!("signin ({backend:?}): wrong password / unknown account, median of 11 pairs {ratio:.2} ({ratios:.2?})");
        assert!((0.5..=2.0).contains(&ratio), "a wrong password and an unknown account should cost about the same: {ratios:.2?}");
    }

    async fn the_ladder_grows_and_a_success_resets_the_count(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.lockout_ladder = Ladder::parse("2:1s,3:1h").unwrap();
        }).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, PW).await.status(), 201);
        for _ in 0..2 {
            assert_eq!(app.signin(&email, "wrong password", false).await.status(), 401);
        }
        assert_429(app.signin(&email, PW, false).await, 1).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // The lock ran out: the right password works and the count starts again.
        assert_eq!(app.signin(&email, PW, false).await.status(), 204);
        assert_eq!(app.signin(&email, "wrong password", false).await.status(), 401);
        assert_eq!(app.signin(&email, PW, false).await.status(), 204, "one failure after a success does not lock");
        // Three consecutive failures reach the next step: an hour.
        for _ in 0..2 {
            assert_eq!(app.signin(&email, "wrong password", false).await.status(), 401);
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(app.signin(&email, "wrong password", false).await.status(), 401);
        let r = app.signin(&email, PW, false).await;
        assert_eq!(r.status(), 429);
        assert!(retry_after(r.headers()) > 3500, "the third failure locks for an hour");
    }

    async fn the_lock_is_shared_by_replicas_and_survives_a_restart(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, PW).await.status(), 201);
        for _ in 0..5 {
            assert_eq!(app.signin(&email, "wrong password", false).await.status(), 401);
        }
        let body = json!({"login": email, "password": PW});
        // A second replica on the same database, with nothing in memory.
        let (replica, handle) = another_instance(&app.settings).await;
        let r = app.client.post(format!("{replica}{SIGNIN}")).json(&body).send().await.unwrap();
        assert_429(r, 30).await;
        handle.stop(true).await;
        // And again after that replica restarted.
        let (restarted, handle) = another_instance(&app.settings).await;
        let r = app.client.post(format!("{restarted}{SIGNIN}")).json(&body).send().await.unwrap();
        assert_429(r, 30).await;
        handle.stop(true).await;
    }

    async fn a_locked_out_owner_can_reset_the_password_which_clears_the_lock(backend) {
        let smtp = SmtpServer::start().await;
        let app = crate::mail::mail_app(backend, &smtp, |_| {}).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, PW).await.status(), 201);
        smtp.wait_for_nth(&email, 1, Duration::from_secs(10)).await;
        for _ in 0..5 {
            assert_eq!(app.signin(&email, "wrong password", false).await.status(), 401);
        }
        assert_eq!(app.signin(&email, PW, false).await.status(), 429);
        assert_eq!(app.post_json(FORGOT, &json!({"email": email})).await.status(), 202);
        let code = smtp.wait_for_nth(&email, 2, Duration::from_secs(10)).await.code();
        let r = app.post_json(RESET, &json!({"email": email, "code": code, "password": "a brand new password"})).await;
        assert_eq!(r.status(), 204, "reset works while sign-in is locked");
        assert_eq!(app.signin(&email, "a brand new password", false).await.status(), 204, "the reset cleared the lock");
    }

    async fn the_per_ip_limit_answers_429_with_retry_after_per_endpoint(backend) {
        let app = TestApp::spawn_with(backend, |s| s.rate_limit_auth = rate("3/60s")).await;
        for _ in 0..3 {
            assert_eq!(app.signin(&unique_email(), "wrong password", false).await.status(), 401);
        }
        let r = app.signin(&unique_email(), "wrong password", false).await;
        assert_eq!(retry_after(r.headers()), 20, "one request is earned every 60 s / 3");
        assert_429(r, 20).await;
        // Each endpoint has its own budget.
        assert_eq!(app.signup(&unique_email(), PW).await.status(), 201);
        assert_eq!(app.post_json(FORGOT, &json!({"email": unique_email()})).await.status(), 202);
        // The path without its trailing slash is the same endpoint and the same budget.
        let r = app.post_json("/api/v1/auth/signin", &json!({"login": unique_email(), "password": PW})).await;
        assert_eq!(r.status(), 429);
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(r#"authgate_rate_limited_total{limit="signin"} 2"#), "{metrics}");
    }

    async fn a_spoofed_forwarded_for_does_not_evade_the_limit(backend) {
        let app = TestApp::spawn_with(backend, |s| s.rate_limit_auth = rate("3/60s")).await;
        let mut statuses = Vec::new();
        for i in 0..5 {
            let r = app.client.post(app.url(SIGNIN))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .json(&json!({"login": unique_email(), "password": PW}))
                .send().await.unwrap();
            statuses.push(r.status().as_u16());
        }
        assert_eq!(statuses, [401, 401, 401, 429, 429], "an untrusted peer's X-Forwarded-For is ignored");
    }

    async fn a_trusted_proxys_forwarded_for_is_honoured(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.rate_limit_auth = rate("2/60s");
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }).await;
        let from = |ip: &str| {
            app.client.post(app.url(SIGNIN))
                .header("x-forwarded-for", format!("6.6.6.6, {ip}"))
                .json(&json!({"login": unique_email(), "password": PW}))
                .send()
        };
        assert_eq!(from("198.51.100.1").await.unwrap().status(), 401);
        assert_eq!(from("198.51.100.1").await.unwrap().status(), 401);
        assert_eq!(from("198.51.100.1").await.unwrap().status(), 429, "one client's budget is spent");
        assert_eq!(from("198.51.100.2").await.unwrap().status(), 401, "another client behind the proxy has its own");
    }

    async fn refresh_has_its_own_budget_shared_by_cookie_and_token_grant(backend) {
        let app = TestApp::spawn_with(backend, |s| {
            s.rate_limit_auth = rate("2/60s");
            s.rate_limit_refresh = rate("3/60s");
        }).await;
        let email = unique_email();
        let mut tokens = Tokens::from_response(&app.signup(&email, PW).await);
        assert_eq!(app.signin(&email, PW, false).await.status(), 204);
        assert_eq!(app.signin(&email, PW, false).await.status(), 204);
        assert_eq!(app.signin(&email, PW, false).await.status(), 429, "the sign-in budget is spent");
        // Refreshing still works: its budget is separate.
        for _ in 0..2 {
            let r = app.refresh(&tokens.refresh).await;
            assert_eq!(r.status(), 204);
            tokens = Tokens::from_response(&r);
        }
        let r = app.post_json(TOKEN, &json!({"grant_type": "refresh_token", "refresh_token": tokens.refresh})).await;
        assert_eq!(r.status(), 200, "the token grant draws on the refresh budget, not the sign-in one");
        let body: Value = r.json().await.unwrap();
        let next = body["refresh_token"].as_str().unwrap();
        assert_429(app.refresh(next).await, 20).await;
        let r = app.post_json(TOKEN, &json!({"grant_type": "refresh_token", "refresh_token": next})).await;
        assert_eq!(r.status(), 429, "and both refresh forms share it");
    }

    async fn failed_sign_ins_per_ip_are_capped(backend) {
        let app = TestApp::spawn_with(backend, |s| s.rate_limit_signin_failures = rate("3/60s")).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, PW).await.status(), 201);
        assert_eq!(app.signin(&email, PW, false).await.status(), 204, "successes do not count");
        for _ in 0..3 {
            assert_eq!(app.signin(&unique_email(), "wrong password", false).await.status(), 401);
        }
        assert_429(app.signin(&email, PW, false).await, 20).await;
        assert_429(app.token_password(&email, PW).await, 20).await;
        // Other endpoints are not refused for it.
        assert_eq!(app.post_json(FORGOT, &json!({"email": email})).await.status(), 202);
    }

    async fn every_answer_carries_the_hygiene_headers(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let signup = app.signup(&email, PW).await;
        let tokens = Tokens::from_response(&signup);
        let signin = app.signin(&email, PW, false).await;
        let refresh = app.refresh(&tokens.refresh).await;
        let user = app.get_user_bearer(&tokens.access).await;
        let token = app.token_password(&email, PW).await;
        let error = app.signin(&email, "wrong password", false).await;
        let unauthenticated = app.client.get(app.url("/api/v1/auth/user/")).send().await.unwrap();
        let forgot = app.post_json(FORGOT, &json!({"email": email})).await;
        let not_found = app.client.get(app.url("/nope")).send().await.unwrap();
        let root = app.client.get(app.url("/")).send().await.unwrap();
        for (name, r, status) in [
            ("signup", &signup, 201), ("signin", &signin, 204), ("refresh", &refresh, 204),
            ("user", &user, 200), ("token", &token, 200), ("error", &error, 401),
            ("unauthenticated", &unauthenticated, 401), ("forgot", &forgot, 202),
            ("not found", &not_found, 404), ("root", &root, 200),
        ] {
            let h = r.headers();
            assert_eq!(r.status(), status, "{name}");
            assert_eq!(h["cache-control"], "no-store", "{name}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{name}");
            assert_eq!(h["referrer-policy"], "no-referrer", "{name}");
            assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{name}");
            assert!(h.get("server").is_none(), "{name}: no Server banner");
        }
        // JWKS keeps its own caching rule but still gets the rest.
        let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
        assert_eq!(jwks.headers()["x-content-type-options"], "nosniff");
        assert!(jwks.headers().get("server").is_none());
    }

    async fn the_demo_page_gets_a_csp_that_still_loads_its_module(backend) {
        let app = TestApp::spawn_with(backend, |s| s.demo = true).await;
        let page = app.client.get(app.url("/demo/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let h = page.headers().clone();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = h["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.get("server").is_none());
        let html = page.text().await.unwrap();
        assert!(html.contains(r#"<script type="module" src="app.js">"#), "the page loads a same-origin module, which 'self' allows");
        let js = app.client.get(app.url("/demo/app.js")).send().await.unwrap();
        assert_eq!(js.status(), 200);
        assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    }

    async fn proxied_responses_are_left_as_the_upstream_sent_them(backend) {
        let upstream = crate::proxy::start_upstream().await;
        let base = upstream.base.clone();
        let app = TestApp::spawn_with(backend, move |s| {
            s.upstream = Some(base);
            s.public_paths = vec![authgate::paths::PathPattern::parse("/").unwrap()];
        }).await;
        let proxied = app.client.get(app.url("/")).send().await.unwrap();
        assert_eq!(proxied.status(), 200);
        assert_eq!(proxied.headers()["x-upstream"], "echo");
        for h in ["x-content-type-options", "referrer-policy", "content-security-policy", "cache-control"] {
            assert!(proxied.headers().get(h).is_none(), "{h} added to an upstream response");
        }
        // Control: authgate's own answers in the same mode still get them.
        let own = app.client.get(app.url("/api/v1/auth/user/")).send().await.unwrap();
        assert_eq!(own.status(), 401);
        assert_eq!(own.headers()["x-content-type-options"], "nosniff");
    }

    async fn forgot_resend_and_sms_code_answer_alike_for_known_and_unknown(backend) {
        let sms = crate::mfa::SmsReceiver::start().await;
        let app = TestApp::spawn_with(backend, crate::mfa::sms_settings(sms.server.uri())).await;
        let known = unique_email();
        let tokens = Tokens::from_response(&app.signup(&known, PW).await);
        let unknown = unique_email();
        for path in [FORGOT, RESEND] {
            let k = observable(app.post_json(path, &json!({"email": known})).await).await;
            let u = observable(app.post_json(path, &json!({"email": unknown})).await).await;
            assert_eq!(k.0, 202, "{path}");
            assert_eq!(k, u, "{path}");
        }
        // A bound number and one nobody has.
        let phone = "+14155552671";
        let r = app.client.post(app.url("/api/v1/auth/user/phone/code/")).bearer_auth(&tokens.access)
            .json(&json!({"phone": phone, "password": "correct horse battery"})).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let code = sms.code(phone, 1).await;
        let r = app.client.post(app.url("/api/v1/auth/user/phone/")).bearer_auth(&tokens.access)
            .json(&json!({"phone": phone, "code": code})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let k = observable(app.post_json("/api/v1/auth/sms/code/", &json!({"phone": phone})).await).await;
        let u = observable(app.post_json("/api/v1/auth/sms/code/", &json!({"phone": "+442079460958"})).await).await;
        assert_eq!(k.0, 202);
        assert_eq!(k, u, "sms/code");
        sms.code(phone, 2).await;
        // Signup with a taken address stays 409; signin parity is checked above.
        let r = app.signup(&known, PW).await;
        assert_eq!(r.status(), 409);
        assert_eq!(error_code(r).await, "email_taken");
    }

    async fn resend_and_sms_code_take_as_long_for_unknown_accounts_as_for_known_ones(backend) {
        let sms = crate::mfa::SmsReceiver::start().await;
        let with_sms = crate::mfa::sms_settings(sms.server.uri());
        let app = TestApp::spawn_with(backend, |s| {
            with_sms(s);
            s.mail_per_ip_per_hour = 0;
        }).await;
        let known = unique_email();
        let tokens = Tokens::from_response(&app.signup(&known, PW).await);
        let phone = "+14155552671";
        let r = app.client.post(app.url("/api/v1/auth/user/phone/code/")).bearer_auth(&tokens.access)
            .json(&json!({"phone": phone, "password": PW})).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let code = sms.code(phone, 1).await;
        let r = app.client.post(app.url("/api/v1/auth/user/phone/")).bearer_auth(&tokens.access)
            .json(&json!({"phone": phone, "code": code})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        for (path, known_body, unknown_body) in [
            (RESEND, json!({"email": known}), json!({"email": unique_email()})),
            ("/api/v1/auth/sms/code/", json!({"phone": phone}), json!({"phone": "+442079460958"})),
        ] {
            let ratio = paired_ratio(&app, path, &known_body, &unknown_body).await;
            // Judged on PostgreSQL, where the gap the padding closes lives (a committed code
            // waits for a WAL flush): unpadded, an unknown account answered 1.76x faster, which
            // this bound refuses; padded, the median sat at 0.74-1.07. On SQLite a commit costs
            // microseconds, the unpadded gap is inside the noise, and under the whole suite's load
            // the ratio swung from 0.53 to 1.74 either way: it would measure the machine.
            if backend == Backend::Postgres {
                assert!((0.45..=1.3).contains(&ratio), "{path}: known / unknown median ratio {ratio:.2}");
            }
        }
    }

    async fn messages_per_recipient_are_capped_and_the_answer_does_not_change(backend) {
        let smtp = SmtpServer::start().await;
        let app = crate::mail::mail_app(backend, &smtp, |s| {
            s.messages_per_recipient_per_hour = 3;
        }).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, PW).await.status(), 201);
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(observable(app.post_json(FORGOT, &json!({"email": email})).await).await);
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
        smtp.wait_for_nth(&email, 3, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(smtp.to(&email).len(), 3, "the sign-up mail and two resets; the rest were capped");
    }
}

#[test]
fn the_default_limits_are_close_to_supabase_auth() {
    let s = Settings::defaults();
    assert_eq!(s.rate_limit_auth, rate("30/5m"));
    assert_eq!(s.rate_limit_refresh, rate("150/5m"));
    assert_eq!(s.rate_limit_signin_failures, rate("100/15m"));
    assert_eq!(
        s.lockout_ladder,
        Ladder::parse("5:30s,10:5m,20:1h").unwrap()
    );
}

/// Moves the sign-in failure counts `hours` into the past, as if they had been made then.
fn age_failures(db_url: &str, hours: u32) {
    use diesel::{Connection as _, RunQueryDsl as _};
    let n = match db_url.strip_prefix("sqlite://") {
        Some(path) => diesel::sql_query(format!(
            "UPDATE signin_throttle SET updated_at = datetime(updated_at, '-{hours} hours')"
        ))
        .execute(&mut diesel::SqliteConnection::establish(path).unwrap()),
        None => diesel::sql_query(format!(
            "UPDATE signin_throttle SET updated_at = updated_at - interval '{hours} hours'"
        ))
        .execute(&mut diesel::PgConnection::establish(db_url).unwrap()),
    }
    .unwrap();
    assert!(n >= 1, "failure counts to age");
}

both_backends! {
    async fn failures_count_toward_the_lock_for_a_day_and_are_forgotten_after_it(backend) {
        let app = TestApp::spawn(backend).await;
        let (remembered, forgotten) = (unique_email(), unique_email());
        for email in [&remembered, &forgotten] {
            assert_eq!(app.signup(email, PW).await.status(), 201);
            for _ in 0..4 {
                assert_eq!(app.signin(email, "wrong password", false).await.status(), 401);
            }
        }
        age_failures(&app.db.url, 2);
        // Two hours later the fifth failure still completes the first step of the ladder.
        assert_eq!(app.signin(&remembered, "wrong password", false).await.status(), 401);
        let locked = app.signin(&remembered, PW, false).await;
        assert_eq!(locked.status(), 429);
        // A 30 s lock imposed a moment ago (the wait rounds up: `limits::ceil_secs`).
        assert!((29..=30).contains(&retry_after(locked.headers())));
        // A day later the count starts again.
        age_failures(&app.db.url, 23);
        assert_eq!(app.signin(&forgotten, "wrong password", false).await.status(), 401);
        assert_eq!(app.signin(&forgotten, PW, false).await.status(), 204, "four day-old failures and one new one lock nothing");
    }

    async fn wrong_sms_codes_count_as_failed_sign_ins_and_malformed_requests_do_not(backend) {
        let app = TestApp::spawn_with(backend, |s| s.rate_limit_signin_failures = rate("3/60s")).await;
        let email = unique_email();
        assert_eq!(app.signup(&email, PW).await.status(), 201);
        for _ in 0..5 {
            let r = app.post_json(SIGNIN, &json!({"login": email})).await;
            assert_eq!(r.status(), 400, "no password: a malformed request, not a refused credential");
        }
        assert_eq!(app.signin(&email, PW, false).await.status(), 204, "400s from signin/ do not count");
        for _ in 0..3 {
            let r = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": "+4915112345678", "code": "000000"})).await;
            assert_eq!(r.status(), 400);
            assert_eq!(error_code(r).await, "invalid_code");
        }
        assert_429(app.signin(&email, PW, false).await, 20).await;
    }
}

both_backends! {
    async fn the_purge_forgets_day_old_failures_but_keeps_live_locks(backend) {
        let app = TestApp::spawn_with(backend, |s| s.lockout_ladder = Ladder::parse("2:1000h").unwrap()).await;
        let (idle, locked) = (unique_email(), unique_email());
        for email in [&idle, &locked, &locked] {
            assert_eq!(app.signin(email, "wrong password", false).await.status(), 401);
        }
        // Both a day old; only `locked`'s 1000 h lock is still running.
        age_failures(&app.db.url, 25);
        let mut conn = app.state.pool.get().unwrap();
        assert_eq!(authgate::service::lockout::purge(&mut conn).unwrap(), 1, "the idle row goes");
        assert_eq!(authgate::service::lockout::purge(&mut conn).unwrap(), 0, "nothing is left to purge");
        drop(conn);
        assert_eq!(app.signin(&locked, PW, false).await.status(), 429, "the live lock stays");
    }
}
