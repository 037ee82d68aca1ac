//! TOTP, sessions, phone binding and SMS sign-in, invitations, the admin CLI.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::contract::assert_conforms;
use crate::helpers::*;

/// RFC 6238 TOTP (HMAC-SHA-1, dynamic truncation) written here, independent of the service's crate.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let h = mac.as_ref();
    let offset = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    format!(
        "{:0width$}",
        bin % 10u32.pow(digits),
        width = digits as usize
    )
}

pub fn step_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

fn base32_decode(s: &str) -> Vec<u8> {
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn the_test_totp_matches_the_rfc_6238_sha1_vector() {
    let secret = b"12345678901234567890";
    assert_eq!(hotp(secret, 59 / 30, 8), "94287082");
    assert_eq!(hotp(secret, 59 / 30, 6), "287082");
    assert_eq!(hotp(secret, 1111111109 / 30, 8), "07081804");
}

pub(crate) fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

impl TestApp {
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        access: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(access);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }
}

const PW: &str = "correct horse battery";

/// Signs up, enrolls and confirms TOTP; returns (email, tokens, secret, confirmed step).
pub async fn user_with_totp(app: &TestApp) -> (String, Tokens, Vec<u8>, u64) {
    let email = unique_email();
    let resp = app.signup(&email, PW).await;
    let tokens = Tokens::from_response(&resp);
    let (secret, s) = enable_totp(app, &tokens).await;
    (email, tokens, secret, s)
}

/// Enrolls (re-authenticating with the password) and confirms TOTP for a signed-in user whose
/// password is `PW`; returns the secret and the confirmed step.
pub async fn enable_totp(app: &TestApp, tokens: &Tokens) -> (Vec<u8>, u64) {
    let (secret, step, _) = enable_totp_with_recovery_codes(app, tokens).await;
    (secret, step)
}

/// [`enable_totp`], also returning the recovery codes the confirmation answered with.
pub async fn enable_totp_with_recovery_codes(
    app: &TestApp,
    tokens: &Tokens,
) -> (Vec<u8>, u64, Vec<String>) {
    let resp = app
        .send(
            reqwest::Method::POST,
            "/api/v1/auth/mfa/totp/",
            &tokens.access,
            Some(json!({"password": PW})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_conforms("POST", "/api/v1/auth/mfa/totp/", 200, Some(&body));
    let url = body["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/authgate:"), "{url}");
    assert!(
        url.contains("issuer=authgate")
            && url.contains(&body["secret"].as_str().unwrap().to_string())
    );
    let secret = base32_decode(body["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);
    let confirm = "/api/v1/auth/mfa/totp/confirm/";
    // Control: a code two steps old is refused.
    let old = hotp(&secret, step_now() - 2, 6);
    let resp = app
        .send(
            reqwest::Method::POST,
            confirm,
            &tokens.access,
            Some(json!({"code": old})),
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "invalid_code");
    let s = step_now();
    let resp = app
        .send(
            reqwest::Method::POST,
            confirm,
            &tokens.access,
            Some(json!({"codes": [hotp(&secret, s - 1, 6), hotp(&secret, s, 6)]})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_conforms("POST", confirm, 200, Some(&body));
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, s, codes)
}

both_backends! {
    async fn totp_enrollment_then_sign_in_needs_a_fresh_code_once(backend) {
        let app = TestApp::spawn(backend).await;
        let (email, tokens, secret, s) = user_with_totp(&app).await;
        let user: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        assert_eq!(user["totp_enabled"], true);

        // Password right, no code: mfa_required. Password wrong: invalid_credentials first.
        assert_eq!(user["recovery_codes_left"], 10);
        let resp = app.signin(&email, PW, false).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "mfa_required");
        let resp = app.signin(&email, "wrong password!!", false).await;
        assert_eq!(error_code(resp).await, "invalid_credentials");

        // The confirmed step (and older) cannot be used again; the next step works once.
        let replay = hotp(&secret, s, 6);
        let resp = app.post_json("/api/v1/auth/signin/", &json!({"login": email, "password": PW, "code": replay})).await;
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_code", "after a correct password, the code is what failed");
        assert_eq!(body["message"], "the code is wrong or already used", "nothing to request again");
        assert_conforms("POST", "/api/v1/auth/signin/", 401, Some(&body));
        let next = hotp(&secret, s + 1, 6);
        let resp = app.post_json("/api/v1/auth/signin/", &json!({"login": email, "password": PW, "code": next})).await;
        assert_eq!(resp.status(), 204);
        let c = claims(&Tokens::from_response(&resp).access);
        assert_eq!(c["amr"], json!(["pwd", "otp"]));
        assert_eq!(c["aal"], "aal2");
        let resp = app.post_json("/api/v1/auth/token/", &json!({"grant_type": "password", "login": email, "password": PW, "code": next})).await;
        assert_eq!(resp.status(), 401, "a replayed code is refused on token/ too");
        let resp = app.post_json("/api/v1/auth/token/", &json!({"grant_type": "password", "login": email, "password": PW})).await;
        assert_eq!(error_code(resp).await, "mfa_required");

        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(r#"authgate_signin_total{outcome="mfa_required"} 2"#), "{metrics}");
    }

    async fn wrong_totp_codes_lock_with_a_growing_delay(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, tokens, secret, s) = user_with_totp(&app).await;
        let valid: Vec<String> = (s - 1..=s + 2).map(|t| hotp(&secret, t, 6)).collect();
        let wrong = (0..1000).map(|n| format!("{n:06}")).find(|c| !valid.contains(c)).unwrap();
        for _ in 0..5 {
            let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/mfa/totp/", &tokens.access, Some(json!({"password": PW, "code": wrong}))).await;
            assert_eq!(resp.status(), 400);
            assert_eq!(error_code(resp).await, "invalid_code");
        }
        let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/mfa/totp/", &tokens.access, Some(json!({"password": PW, "code": hotp(&secret, s + 1, 6)}))).await;
        assert_eq!(resp.status(), 429, "even the right code waits while locked");
        let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=30).contains(&retry), "{retry}");
        // The lock waited out (its end moved to the past instead of sleeping 30 s), one more wrong
        // code locks again, for longer.
        {
            use authgate::db::schema::users;
            use diesel::prelude::*;
            let past = authgate::db::now() - chrono::Duration::seconds(1);
            let mut conn = app.state.pool.get().unwrap();
            diesel::update(users::table).set(users::totp_locked_until.eq(Some(past))).execute(&mut conn).unwrap();
        }
        let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/mfa/totp/", &tokens.access, Some(json!({"password": PW, "code": wrong}))).await;
        assert_eq!(resp.status(), 400, "the lock is over: the code is checked again");
        assert_eq!(error_code(resp).await, "invalid_code");
        let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/mfa/totp/", &tokens.access, Some(json!({"password": PW, "code": hotp(&secret, s + 1, 6)}))).await;
        assert_eq!(resp.status(), 429, "the sixth failure locks again");
        let longer: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((31..=60).contains(&longer), "the delay doubled: {longer}");
        // The password alone is not enough to turn TOTP off (full re-authentication).
        let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/mfa/totp/", &tokens.access, Some(json!({"password": PW}))).await;
        assert_eq!(error_code(resp).await, "reauthentication_required");
        let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/mfa/totp/", &tokens.access, Some(json!({"password": "wrong password!!", "code": wrong}))).await;
        assert_eq!(error_code(resp).await, "invalid_password");
        let user: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        assert_eq!(user["totp_enabled"], true);
        // Without TOTP there is nothing to turn off.
        let plain = app.signed_in_user().await;
        let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/mfa/totp/", &plain.access, Some(json!({"password": PW}))).await;
        assert_eq!(resp.status(), 409);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "totp_not_enabled");
        assert_conforms("DELETE", "/api/v1/auth/mfa/totp/", 409, Some(&body));
    }

    async fn sessions_list_revoke_one_and_others(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let first = Tokens::from_response(&app.signup(&email, PW).await);
        let resp = app.client.post(app.url("/api/v1/auth/signin/")).header("user-agent", "second-device/1.0")
            .json(&json!({"login": email, "password": PW, "remember_me": true})).send().await.unwrap();
        let second = Tokens::from_response(&resp);
        let third = Tokens::from_response(&app.signin(&email, PW, false).await);
        let resp = app.send(reqwest::Method::GET, "/api/v1/auth/sessions/", &second.access, None).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_conforms("GET", "/api/v1/auth/sessions/", 200, Some(&body));
        let list = body["sessions"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["id"], claims(&second.access)["sid"]);
        assert_eq!(current[0]["remember_me"], true);
        assert_eq!(current[0]["user_agent"], "second-device/1.0");
        assert_eq!(current[0]["ip"], "127.0.0.1");

        // Someone else cannot end it: 404, and it stays alive.
        let other = app.signed_in_user().await;
        let sid = claims(&first.access)["sid"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/auth/sessions/{sid}/");
        let resp = app.send(reqwest::Method::DELETE, &path, &other.access, None).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(app.refresh(&first.refresh).await.status(), 204);
        let resp = app.send(reqwest::Method::DELETE, &path, &second.access, None).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(app.refresh(&first.refresh).await.status(), 401);
        let resp = app.send(reqwest::Method::DELETE, &path, &second.access, None).await;
        assert_eq!(resp.status(), 404, "already ended");

        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/sessions/revoke-others/", &second.access, None).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(app.refresh(&third.refresh).await.status(), 401);
        assert_eq!(app.refresh(&second.refresh).await.status(), 204, "the caller's session stays");
        let body: Value = app.send(reqwest::Method::GET, "/api/v1/auth/sessions/", &second.access, None).await.json().await.unwrap();
        assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    }
}

/// A webhook receiver that checks the Standard Webhooks signature itself and returns the
/// messages it accepted.
pub(crate) struct SmsReceiver {
    pub(crate) server: wiremock::MockServer,
}

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

impl SmsReceiver {
    pub(crate) async fn start() -> Self {
        use wiremock::{matchers::method, Mock, ResponseTemplate};
        let server = wiremock::MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        Self { server }
    }

    /// Every message received so far, after checking each one's signature.
    pub(crate) async fn messages(&self) -> Vec<(String, String)> {
        use aws_lc_rs::hmac;
        let key = base64::engine::general_purpose::STANDARD
            .decode(WEBHOOK_SECRET.trim_start_matches("whsec_"))
            .unwrap();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let mut out = Vec::new();
        for r in self.server.received_requests().await.unwrap_or_default() {
            let h = |n: &str| {
                r.headers
                    .get(n)
                    .unwrap_or_else(|| panic!("no {n}"))
                    .to_str()
                    .unwrap()
                    .to_owned()
            };
            let (id, ts, sig) = (
                h("webhook-id"),
                h("webhook-timestamp"),
                h("webhook-signature"),
            );
            let signed = [id.as_bytes(), b".", ts.as_bytes(), b".", &r.body].concat();
            let expected = base64::engine::general_purpose::STANDARD
                .encode(hmac::sign(&key, &signed).as_ref());
            assert_eq!(sig, format!("v1,{expected}"), "signature");
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            assert!((now - ts.parse::<i64>().unwrap()).abs() < 300);
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            out.push((
                body["to"].as_str().unwrap().to_owned(),
                body["message"].as_str().unwrap().to_owned(),
            ));
        }
        out
    }

    /// Waits for the n-th message to `to` and returns its 6-digit code.
    pub(crate) async fn code(&self, to: &str, n: usize) -> String {
        for _ in 0..100 {
            let msgs: Vec<String> = self
                .messages()
                .await
                .into_iter()
                .filter(|(t, _)| t == to)
                .map(|(_, m)| m)
                .collect();
            if let Some(m) = msgs.get(n - 1) {
                let digits: String = m
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .unwrap()
                    .to_owned();
                return digits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no SMS #{n} to {to}");
    }
}

pub(crate) fn sms_settings(url: String) -> impl FnOnce(&mut authgate::settings::Settings) {
    move |s| {
        s.sms_webhook_url = Some(url);
        s.sms_webhook_secret = Some(authgate::settings::Secret::new(WEBHOOK_SECRET));
        s.mail_cooldown = Duration::ZERO;
    }
}

both_backends! {
    async fn phone_binding_and_sms_sign_in_through_a_signed_webhook(backend) {
        let sms = SmsReceiver::start().await;
        let app = TestApp::spawn_with(backend, sms_settings(sms.server.uri())).await;
        let tokens = app.signed_in_user().await;
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/code/", &tokens.access, Some(json!({"phone": "12345", "password": PW}))).await;
        assert_eq!(error_code(resp).await, "invalid_phone");
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/code/", &tokens.access, Some(json!({"phone": "+1 (415) 555-2671", "password": PW}))).await;
        assert_eq!(resp.status(), 202);
        let phone = "+14155552671";
        let code = sms.code(phone, 1).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/", &tokens.access, Some(json!({"phone": phone, "code": wrong}))).await;
        assert_eq!(error_code(resp).await, "invalid_code");
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/", &tokens.access, Some(json!({"phone": phone, "code": code}))).await;
        assert_eq!(resp.status(), 200);
        let user: Value = resp.json().await.unwrap();
        assert_conforms("POST", "/api/v1/auth/user/phone/", 200, Some(&user));
        assert_eq!(user["phone"], phone);

        // Another account cannot take the number.
        let other = app.signed_in_user().await;
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/code/", &other.access, Some(json!({"phone": phone, "password": PW}))).await;
        assert_eq!(resp.status(), 409);

        // SMS sign-in: 202 for known and unknown numbers alike; only the known one gets an SMS.
        let resp = app.post_json("/api/v1/auth/sms/code/", &json!({"phone": "+442079460958"})).await;
        assert_eq!(resp.status(), 202);
        let resp = app.post_json("/api/v1/auth/sms/code/", &json!({"phone": phone})).await;
        assert_eq!(resp.status(), 202);
        let body: Value = resp.json().await.unwrap();
        assert_conforms("POST", "/api/v1/auth/sms/code/", 202, Some(&body));
        let code = sms.code(phone, 2).await;
        assert!(sms.messages().await.iter().all(|(to, _)| to == phone));
        let resp = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": phone, "code": code})).await;
        assert_eq!(resp.status(), 204);
        let c = claims(&Tokens::from_response(&resp).access);
        assert_eq!(c["amr"], json!(["sms"]));
        let resp = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": phone, "code": code})).await;
        assert_eq!(error_code(resp).await, "invalid_code", "single use");

        // Five wrong attempts void the code.
        app.post_json("/api/v1/auth/sms/code/", &json!({"phone": phone})).await;
        let code = sms.code(phone, 3).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            let resp = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": phone, "code": wrong})).await;
            assert_eq!(resp.status(), 400);
        }
        let resp = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": phone, "code": code})).await;
        assert_eq!(resp.status(), 400, "void after 5 attempts");

        // Unbinding needs the password.
        let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/user/phone/", &tokens.access, Some(json!({"password": "wrong password!!"}))).await;
        assert_eq!(error_code(resp).await, "invalid_password");
        let resp = app.send(reqwest::Method::DELETE, "/api/v1/auth/user/phone/", &tokens.access, Some(json!({"password": PW}))).await;
        assert_eq!(resp.status(), 204);
        let user: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        assert_eq!(user["phone"], Value::Null);
    }

    async fn the_sms_cooldown_is_kept_per_kind_of_message(backend) {
        let sms = SmsReceiver::start().await;
        let url = sms.server.uri();
        let app = TestApp::spawn_with(backend, move |s| {
            sms_settings(url)(s);
            s.mail_cooldown = Duration::from_secs(60);
        }).await;
        let tokens = app.signed_in_user().await;
        let phone = "+442079460959";
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/code/", &tokens.access, Some(json!({"phone": phone, "password": PW}))).await;
        assert_eq!(resp.status(), 202);
        let code = sms.code(phone, 1).await;
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/", &tokens.access, Some(json!({"phone": phone, "code": code}))).await;
        assert_eq!(resp.status(), 200);
        // The binding SMS does not hold back a sign-in code; a second sign-in code within the
        // cooldown is held back (202 alike), and so is a second binding code (429).
        assert_eq!(app.post_json("/api/v1/auth/sms/code/", &json!({"phone": phone})).await.status(), 202);
        sms.code(phone, 2).await;
        assert_eq!(app.post_json("/api/v1/auth/sms/code/", &json!({"phone": phone})).await.status(), 202);
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/code/", &tokens.access, Some(json!({"phone": phone, "password": PW}))).await;
        assert_eq!(resp.status(), 429);
        tokio::time::sleep(Duration::from_millis(800)).await;
        let to_phone = sms.messages().await.into_iter().filter(|(to, _)| to == phone).count();
        assert_eq!(to_phone, 2, "one binding and one sign-in SMS");
    }

    async fn sms_sign_in_respects_totp(backend) {
        let sms = SmsReceiver::start().await;
        let app = TestApp::spawn_with(backend, sms_settings(sms.server.uri())).await;
        let tokens = app.signed_in_user().await;
        let phone = "+442079460958";
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/code/", &tokens.access, Some(json!({"phone": phone, "password": PW}))).await;
        assert_eq!(resp.status(), 202);
        let code = sms.code(phone, 1).await;
        let resp = app.send(reqwest::Method::POST, "/api/v1/auth/user/phone/", &tokens.access, Some(json!({"phone": phone, "code": code}))).await;
        assert_eq!(resp.status(), 200);
        let (secret, s, recovery) = enable_totp_with_recovery_codes(&app, &tokens).await;
        app.post_json("/api/v1/auth/sms/code/", &json!({"phone": phone})).await;
        let code = sms.code(phone, 2).await;
        let resp = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": phone, "code": code})).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "mfa_required");
        let resp = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": phone, "code": code, "code_totp": hotp(&secret, s + 1, 6)})).await;
        assert_eq!(resp.status(), 204, "the SMS code survived the mfa_required answer");
        let c = claims(&Tokens::from_response(&resp).access);
        assert_eq!(c["amr"], json!(["sms", "otp"]));
        assert_eq!(c["aal"], "aal2");
        // A recovery code stands in for the TOTP code here too; a wrong one is invalid_code.
        app.post_json("/api/v1/auth/sms/code/", &json!({"phone": phone})).await;
        let code = sms.code(phone, 3).await;
        let resp = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": phone, "code": code, "code_totp": "zzzzz-zzzzz"})).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "invalid_code");
        // A wrong second factor spends the SMS code: a new one for the next try.
        app.post_json("/api/v1/auth/sms/code/", &json!({"phone": phone})).await;
        let code = sms.code(phone, 4).await;
        let resp = app.post_json("/api/v1/auth/sms/signin/", &json!({"phone": phone, "code": code, "code_totp": recovery[0]})).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(resp.headers()["x-recovery-codes-left"], "9");
        let c = claims(&Tokens::from_response(&resp).access);
        assert_eq!(c["amr"], json!(["sms", "recovery_code"]));
        assert_eq!(c["aal"], "aal2");
    }

    async fn a_single_use_invite_admits_exactly_one_of_ten_concurrent_signups(backend) {
        let app = TestApp::spawn_with(backend, |s| s.invite_only = true).await;
        let resp = app.signup(&unique_email(), PW).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(error_code(resp).await, "invalid_invite_code");
        let code = {
            let mut conn = app.state.pool.get().unwrap();
            authgate::service::invites::create(&mut conn, &Default::default(), 1, Some(Duration::from_secs(3600))).unwrap().0
        };
        let signups = (0..10).map(|_| {
            let app = &app;
            let code = code.clone();
            async move {
                app.post_json("/api/v1/auth/signup/", &json!({"email": unique_email(), "password": PW, "name": "I", "invite_code": code})).await
            }
        });
        let results = futures_util::future::join_all(signups).await;
        let mut statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
        statuses.sort();
        assert_eq!(statuses, [201, 400, 400, 400, 400, 400, 400, 400, 400, 400]);
        for r in results.into_iter().filter(|r| r.status() == 400) {
            assert_eq!(error_code(r).await, "invalid_invite_code");
        }
    }
}

/// Runs the real binary against the app's database; `stdin` is written to its standard input.
pub(crate) fn cli(db_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    cli_with(db_url, args, stdin, &[])
}

/// [`cli`] with more environment (the service's other settings).
pub(crate) fn cli_with(
    db_url: &str,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(args)
        .envs(env.iter().copied())
        .env("AUTHGATE_DATABASE_URL", db_url)
        .env("AUTHGATE_BCRYPT_COST", "4")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run authgate");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{:?}\nstderr: {}\nstdout: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

both_backends! {
    async fn admin_cli_creates_lists_disables_and_enables_users_and_invites(backend) {
        let app = TestApp::spawn_with(backend, |s| s.invite_only = true).await;
        let url = app.db.url.clone();
        let email = unique_email();
        let created = ok(cli(&url, &["users", "create", "--email", &email, "--name", "Admin", "--verified"], "correct horse battery\n"));
        assert!(created.contains(&email), "{created}");
        let out = cli(&url, &["users", "create", "--email", &email], "correct horse battery\n");
        assert!(!out.status.success(), "a second account with the address is refused");
        let out = cli(&url, &["users", "create", "--email", &unique_email()], "short\n");
        assert!(!out.status.success(), "a weak password is refused");
        for (pw, rule) in [("password123\n", "most common passwords"), ("AuthGate2024!\n", "name of this service")] {
            let out = cli(&url, &["users", "create", "--email", &unique_email()], pw);
            assert!(!out.status.success(), "the password policy applies: {pw}");
            assert!(String::from_utf8_lossy(&out.stderr).contains(rule), "{}", String::from_utf8_lossy(&out.stderr));
        }

        let resp = app.signin(&email, PW, false).await;
        assert_eq!(resp.status(), 204);
        let tokens = Tokens::from_response(&resp);
        let user: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        assert_eq!(user["email_verified"], true);
        assert_eq!(user["name"], "Admin");
        let listed = ok(cli(&url, &["users", "list"], ""));
        assert!(listed.lines().any(|l| l.contains(&email) && l.contains("active")), "{listed}");

        let disabled = ok(cli(&url, &["users", "disable", "--email", &email], ""));
        assert!(disabled.contains("1 session(s) ended"), "{disabled}");
        assert_eq!(app.refresh(&tokens.refresh).await.status(), 401, "a disabled user's refresh");
        assert_eq!(app.signin(&email, PW, false).await.status(), 403);
        ok(cli(&url, &["users", "enable", "--email", &email], ""));
        assert_eq!(app.signin(&email, PW, false).await.status(), 204);
        assert!(!cli(&url, &["users", "disable", "--email", "nobody@example.com"], "").status.success());

        let code = ok(cli(&url, &["invites", "create", "--uses", "2", "--expires", "7d"], "")).trim().to_owned();
        assert!(code.len() >= 20, "{code}");
        let listed = ok(cli(&url, &["invites", "list"], ""));
        assert!(!listed.contains(&code), "only the hash is stored and listed");
        for expected in [201, 201, 400] {
            let resp = app.post_json("/api/v1/auth/signup/", &json!({"email": unique_email(), "password": PW, "name": "I", "invite_code": code})).await;
            assert_eq!(resp.status(), expected);
        }
        let listed = ok(cli(&url, &["invites", "list"], ""));
        assert!(listed.lines().nth(1).is_some_and(|l| l.split_whitespace().nth(1) == Some("2")), "{listed}");
        // For scripts: JSON.
        let created: Value = serde_json::from_str(ok(cli(&url, &["invites", "create", "--json"], "")).trim()).unwrap();
        assert_eq!(created["uses"], 1);
        assert!(created["code"].as_str().is_some_and(|c| c.len() >= 20));
        let listed: Value = serde_json::from_str(ok(cli(&url, &["invites", "list", "--json"], "")).trim()).unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 2);
        assert!(listed.as_array().unwrap().iter().any(|r| r["uses"] == 2 && r["max_uses"] == 2));
    }
}
