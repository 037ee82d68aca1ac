//! Security notices (ASVS 5.0 V6.3.5, V6.3.7) and full re-authentication before changes to how
//! an account signs in (V7.5.1), through HTTP and the real SMTP peer (`smtp.rs`).

use std::time::{Duration, Instant};

use authgate::settings::Ladder;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::mail::mail_app;
use crate::mfa::{enable_totp, hotp, sms_settings, SmsReceiver};
use crate::smtp::{Received, SmtpServer};

const PW: &str = "correct horse battery";
const UA: &str = "notice-test-agent/1.0";
const VERIFY: &str = "/api/v1/auth/verify-email/";
const USER: &str = "/api/v1/auth/user/";
const TOTP: &str = "/api/v1/auth/mfa/totp/";
const PHONE_CODE: &str = "/api/v1/auth/user/phone/code/";
const PHONE: &str = "/api/v1/auth/user/phone/";
const WAIT: Duration = Duration::from_secs(10);

impl TestApp {
    /// A bearer request with this file's user agent.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        access: &str,
        body: Value,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(access)
            .header("user-agent", UA)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Signs up `email` and verifies it with the mailed code (mail #1 to it).
    pub(crate) async fn verified_user(&self, smtp: &SmtpServer, email: &str) -> Tokens {
        let tokens = Tokens::from_response(&self.signup(email, PW).await);
        let code = smtp.wait_for(email).await.code();
        let r = self
            .call(
                reqwest::Method::POST,
                VERIFY,
                &tokens.access,
                json!({"verification_code": code}),
            )
            .await;
        assert_eq!(r.status(), 200);
        tokens
    }
}

/// An app with both SMTP and the SMS webhook, and a verified user of it.
async fn mail_and_sms_app(backend: Backend) -> (SmtpServer, SmsReceiver, TestApp, String, Tokens) {
    let smtp = SmtpServer::start().await;
    let sms = SmsReceiver::start().await;
    let uri = sms.server.uri();
    let app = mail_app(backend, &smtp, move |s| sms_settings(uri)(s)).await;
    let email = unique_email();
    let tokens = app.verified_user(&smtp, &email).await;
    (smtp, sms, app, email, tokens)
}

/// A notice says what, when, from where, what to do; it carries none of `secrets`.
fn assert_notice(mail: &Received, what: &str, secrets: &[&str]) {
    let text = mail.text();
    assert!(
        mail.subject().contains(what) || text.contains(what),
        "{what}: {}",
        mail.data
    );
    assert!(text.contains("UTC"), "when: {text}");
    assert!(text.contains("127.0.0.1"), "which IP: {text}");
    assert!(text.contains(UA), "which user agent: {text}");
    assert!(text.contains("If this wasn't you"), "{text}");
    assert!(text.contains("reset your password"), "{text}");
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"));
    assert_eq!(mail.from, "authgate@localhost", "the usual sender");
    for s in secrets {
        assert!(
            !mail.data.contains(s) && !text.contains(s),
            "secret {s:?} in the notice: {text}"
        );
    }
}

/// Waits a little and asserts that `email` got exactly `n` mails.
async fn assert_mail_count(smtp: &SmtpServer, email: &str, n: usize) {
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.to(email).len(), n, "mails to {email}");
}

/// The parts of an answer a caller can see, minus the request id.
async fn observable(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

both_backends! {
    async fn password_change_and_reset_mail_a_notice_without_secrets(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |_| {}).await;
        let email = unique_email();
        let tokens = app.verified_user(&smtp, &email).await;

        let new_pw = "a brand new password 1";
        let r = app.call(reqwest::Method::POST, "/api/v1/auth/user/password/", &tokens.access,
            json!({"old_password": PW, "password": new_pw})).await;
        assert_eq!(r.status(), 204);
        let notice = smtp.wait_for_nth(&email, 2, WAIT).await;
        assert_notice(&notice, "your password was changed", &[PW, new_pw, &tokens.access]);

        // Recovery: the reset code mail, then the notice of the reset (without the code).
        let r = app.client.post(app.url("/api/v1/auth/password/forgot/")).header("user-agent", UA)
            .json(&json!({"email": email})).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let code = smtp.wait_for_nth(&email, 3, WAIT).await.code();
        let reset_pw = "a brand new password 2";
        let r = app.client.post(app.url("/api/v1/auth/password/reset/")).header("user-agent", UA)
            .json(&json!({"email": email, "code": code, "password": reset_pw})).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let notice = smtp.wait_for_nth(&email, 4, WAIT).await;
        assert_notice(&notice, "your password was reset", &[&code, reset_pw, new_pw]);
        assert_mail_count(&smtp, &email, 4).await;
    }

    async fn unverified_addresses_and_the_off_setting_get_no_notice(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |_| {}).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, PW).await);
        smtp.wait_for(&email).await;
        let r = app.call(reqwest::Method::POST, "/api/v1/auth/user/password/", &tokens.access,
            json!({"old_password": PW, "password": "a brand new password"})).await;
        assert_eq!(r.status(), 204);
        assert_mail_count(&smtp, &email, 1).await; // the verification mail only

        let off = mail_app(backend, &smtp, |s| s.notify_security_changes = Some(false)).await;
        let email = unique_email();
        let tokens = off.verified_user(&smtp, &email).await;
        let r = off.call(reqwest::Method::POST, "/api/v1/auth/user/password/", &tokens.access,
            json!({"old_password": PW, "password": "a brand new password"})).await;
        assert_eq!(r.status(), 204);
        assert_mail_count(&smtp, &email, 1).await;
    }

    async fn totp_and_phone_changes_mail_a_notice(backend) {
        let (smtp, sms, app, email, tokens) = mail_and_sms_app(backend).await;

        // Phone added (password only: TOTP is off), then TOTP turned on.
        let phone = "+14155552671";
        let r = app.call(reqwest::Method::POST, PHONE_CODE, &tokens.access, json!({"phone": phone, "password": PW})).await;
        assert_eq!(r.status(), 202);
        let sms_code = sms.code(phone, 1).await;
        let r = app.call(reqwest::Method::POST, PHONE, &tokens.access, json!({"phone": phone, "code": sms_code})).await;
        assert_eq!(r.status(), 200);
        let notice = smtp.wait_for_nth(&email, 2, WAIT).await;
        assert_notice(&notice, "a phone number was added", &[&sms_code, PW]);
        assert!(!notice.text().contains(phone), "the number is not mailed");

        let r = app.call(reqwest::Method::DELETE, PHONE, &tokens.access, json!({"password": PW})).await;
        assert_eq!(r.status(), 204);
        let notice = smtp.wait_for_nth(&email, 3, WAIT).await;
        assert_notice(&notice, "the phone number for SMS sign-in was removed", &[PW]);

        // TOTP turned on (enrollment re-authenticated with the password), then off with the
        // password and a current code.
        let (secret, s) = enable_totp(&app, &tokens).await;
        let notice = smtp.wait_for_nth(&email, 4, WAIT).await;
        // (`enable_totp` sends no user agent of its own.)
        assert!(notice.subject().contains("two-factor authentication (TOTP) was turned on"), "{}", notice.subject());
        assert!(notice.text().contains("If this wasn't you") && notice.text().contains("127.0.0.1"));
        for secret in [PW, &hotp(&secret, s, 6), &hotp(&secret, s - 1, 6)] {
            assert!(!notice.text().contains(secret), "{secret} in {}", notice.data);
        }
        let code = hotp(&secret, s + 1, 6);
        let r = app.call(reqwest::Method::DELETE, TOTP, &tokens.access, json!({"password": PW, "code": code})).await;
        assert_eq!(r.status(), 204);
        let notice = smtp.wait_for_nth(&email, 5, WAIT).await;
        assert_notice(&notice, "two-factor authentication (TOTP) was turned off", &[PW, &code]);
        assert_mail_count(&smtp, &email, 5).await;
    }

    async fn a_lockout_mails_the_owner_once_per_step_and_answers_like_an_unknown_login(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |s| {
            s.lockout_ladder = Ladder::parse("2:1s,4:1m").unwrap();
        }).await;
        let email = unique_email();
        app.verified_user(&smtp, &email).await;
        let unknown = unique_email();
        let guess = "not the password 123";
        let attempt = |login: String| {
            let app = &app;
            async move {
                let started = Instant::now();
                let r = app.client.post(app.url("/api/v1/auth/signin/")).header("user-agent", UA)
                    .json(&json!({"login": login, "password": guess})).send().await.unwrap();
                let took = started.elapsed();
                (observable(r).await, took)
            }
        };
        // Failures 1 and 2 (the first step: locked 1 s): the same answers for both logins.
        for n in 1..=2 {
            let (k, k_took) = attempt(email.clone()).await;
            let (u, u_took) = attempt(unknown.clone()).await;
            eprintln!("failure {n} ({backend:?}): known {k_took:?}, unknown {u_took:?}");
            assert_eq!(k, u, "failure {n}");
            assert_eq!(k.0, 401);
            assert_eq!(k.1["error"], "invalid_credentials");
        }
        // Locked: 429 for both alike, and no further notice.
        let (k, _) = attempt(email.clone()).await;
        let (u, _) = attempt(unknown.clone()).await;
        assert_eq!(k.0, 429);
        assert_eq!(k, u);
        let notice = smtp.wait_for_nth(&email, 2, WAIT).await;
        assert!(notice.subject().contains("sign-in attempts on your account were blocked"), "{}", notice.subject());
        assert_notice(&notice, "blocked for 1 second", &[guess]);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // Failure 3 locks again on the same step: no mail. Failure 4 reaches the next step: a mail.
        for n in 3..=4 {
            let (k, _) = attempt(email.clone()).await;
            let (u, _) = attempt(unknown.clone()).await;
            assert_eq!(k, u, "failure {n}");
            if n == 3 {
                assert_mail_count(&smtp, &email, 2).await;
                tokio::time::sleep(Duration::from_millis(1100)).await;
            }
        }
        let notice = smtp.wait_for_nth(&email, 3, WAIT).await;
        assert_notice(&notice, "blocked for 1 minute", &[guess]);
        assert_mail_count(&smtp, &email, 3).await;
        assert!(smtp.to(&unknown).is_empty(), "nothing is ever sent for an unknown login");
    }

    async fn wrong_totp_codes_after_the_right_password_mail_the_owner_once(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |_| {}).await;
        let email = unique_email();
        let tokens = app.verified_user(&smtp, &email).await;
        let (secret, s) = enable_totp(&app, &tokens).await;
        smtp.wait_for_nth(&email, 2, WAIT).await; // the notice that TOTP is on
        let valid: Vec<String> = (s - 1..=s + 2).map(|t| hotp(&secret, t, 6)).collect();
        let wrong = (0..1000).map(|n| format!("{n:06}")).find(|c| !valid.contains(c)).unwrap();
        let signin = || async {
            app.client.post(app.url("/api/v1/auth/signin/")).header("user-agent", UA)
                .json(&json!({"login": email, "password": PW, "code": wrong})).send().await.unwrap()
        };
        for _ in 0..5 {
            assert_eq!(error_code(signin().await).await, "invalid_code");
        }
        assert_eq!(signin().await.status(), 429, "the second factor is locked");
        let notice = smtp.wait_for_nth(&email, 3, WAIT).await;
        assert!(notice.subject().contains("wrong two-factor codes after a correct password"), "{}", notice.subject());
        assert_notice(&notice, "blocked for 30 seconds", &[PW, &wrong, &valid[1], &valid[2]]);
        assert_mail_count(&smtp, &email, 3).await;
    }

    async fn changing_the_email_needs_the_password_and_wrong_ones_count_toward_the_lockout(backend) {
        let smtp = SmtpServer::start().await;
        let app = mail_app(backend, &smtp, |_| {}).await;
        let email = unique_email();
        let tokens = app.verified_user(&smtp, &email).await;
        let new_email = unique_email();

        let r = app.call(reqwest::Method::PATCH, USER, &tokens.access, json!({"email": new_email, "name": "Changed"})).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "reauthentication_required");
        assert!(body["message"].as_str().unwrap().contains("password"));
        let r = app.call(reqwest::Method::PATCH, USER, &tokens.access, json!({"email": new_email, "password": "wrong password!!"})).await;
        assert_eq!(r.status(), 400);
        assert_eq!(error_code(r).await, "invalid_password");
        let me: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        assert_ne!(me["name"], "Changed", "a refused request changes nothing");
        assert_mail_count(&smtp, &new_email, 0).await;

        let r = app.call(reqwest::Method::PATCH, USER, &tokens.access, json!({"email": new_email, "password": PW})).await;
        assert_eq!(r.status(), 200);
        let code = smtp.wait_for(&new_email).await.code();
        let r = app.call(reqwest::Method::POST, VERIFY, &tokens.access, json!({"verification_code": code})).await;
        assert_eq!(r.status(), 200);
        let notice = smtp.wait_for_nth(&email, 2, WAIT).await;
        assert_notice(&notice, "was changed", &[&code, PW, &new_email]);

        // Wrong passwords here count like sign-in failures: the 5th locks, then even the right one waits.
        let other = unique_email();
        for n in 1..=4 {
            let r = app.call(reqwest::Method::PATCH, USER, &tokens.access, json!({"email": other, "password": format!("wrong password {n}")})).await;
            assert_eq!(error_code(r).await, "invalid_password");
        }
        let r = app.signin(&new_email, "wrong password 5", false).await;
        assert_eq!(error_code(r).await, "invalid_credentials");
        let r = app.call(reqwest::Method::PATCH, USER, &tokens.access, json!({"email": other, "password": PW})).await;
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(error_code(r).await, "too_many_requests");
    }

    async fn with_totp_on_every_authentication_change_needs_the_password_and_a_code(backend) {
        let (smtp, sms, app, _email, tokens) = mail_and_sms_app(backend).await;

        // Enrollment itself needs the password.
        let r = app.call(reqwest::Method::POST, TOTP, &tokens.access, json!({})).await;
        assert_eq!(r.status(), 400);
        assert_eq!(error_code(r).await, "reauthentication_required");
        let r = app.call(reqwest::Method::POST, TOTP, &tokens.access, json!({"password": "wrong password!!"})).await;
        assert_eq!(error_code(r).await, "invalid_password");
        let (secret, s) = enable_totp(&app, &tokens).await;
        let code = hotp(&secret, s + 1, 6);
        let wrong = if code == "000000" { "111111" } else { "000000" };

        let phone = "+14155552671";
        let new_email = unique_email();
        let cases: [(reqwest::Method, &str, Value); 4] = [
            (reqwest::Method::PATCH, USER, json!({"email": new_email})),
            (reqwest::Method::POST, PHONE_CODE, json!({"phone": phone})),
            (reqwest::Method::DELETE, PHONE, json!({})),
            (reqwest::Method::DELETE, TOTP, json!({})),
        ];
        for (method, path, body) in &cases {
            let with = |extra: Value| {
                let mut b = body.clone();
                b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
                b
            };
            let r = app.call(method.clone(), path, &tokens.access, with(json!({}))).await;
            assert_eq!(error_code(r).await, "reauthentication_required", "{method} {path} without anything");
            let r = app.call(method.clone(), path, &tokens.access, with(json!({"code": code}))).await;
            assert_eq!(error_code(r).await, "reauthentication_required", "{method} {path} with a code only");
            let r = app.call(method.clone(), path, &tokens.access, with(json!({"password": PW}))).await;
            assert_eq!(r.status(), 400);
            assert_eq!(error_code(r).await, "reauthentication_required", "{method} {path} with the password only");
            let r = app.call(method.clone(), path, &tokens.access, with(json!({"password": PW, "code": wrong}))).await;
            assert_eq!(error_code(r).await, "invalid_code", "{method} {path} with a wrong code");
        }
        assert_mail_count(&smtp, &new_email, 0).await;
        assert!(sms.messages().await.is_empty(), "no SMS without re-authentication");

        // Password and a current code: the email change starts.
        let r = app.call(reqwest::Method::PATCH, USER, &tokens.access, json!({"email": new_email, "password": PW, "code": code})).await;
        assert_eq!(r.status(), 200);
        smtp.wait_for(&new_email).await;
        let me: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        assert_eq!(me["totp_enabled"], true);
    }
}
