//! The adversarial suite: what an attacker would try first, over HTTP. Cases already
//! covered elsewhere are not repeated here; SECURITY.md maps every requirement to its test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::KeyPair as _;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::tokens::{b64, hs256, now, Forger};

const APP: &str = "https://app.example.com";
const USER: &str = "/api/v1/auth/user/";
const VERIFY: &str = "/api/v1/auth/verify/";

/// A TCP listener that counts connections: proof that nothing fetched a URL pointing at it.
struct Tripwire {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl Tripwire {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((_stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self { url, hits }
    }
}

/// An attacker's own Ed25519 key: signs any header and claims, and shows itself as a JWK.
struct Attacker(aws_lc_rs::signature::Ed25519KeyPair);

impl Attacker {
    fn new() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Self(aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap())
    }

    fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "attacker",
               "x": b64(self.0.public_key().as_ref())})
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        format!("{input}.{}", b64(self.0.sign(input.as_bytes()).as_ref()))
    }
}

impl TestApp {
    async fn verify_bearer(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(VERIFY))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts that `token` is refused on `user/` (Bearer and cookie) and on `verify/`.
async fn assert_refused_everywhere(app: &TestApp, what: &str, token: &str) {
    let resp = app.get_user_bearer(token).await;
    assert_eq!(resp.status(), 401, "user/ Bearer: {what}");
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#,
        "{what}"
    );
    assert_eq!(error_code(resp).await, "invalid_token", "{what}");
    let resp = app.verify_bearer(token).await;
    assert_eq!(resp.status(), 401, "verify/ Bearer: {what}");
    assert!(resp.headers().get("x-auth-user-id").is_none(), "{what}");
    let resp = app
        .client
        .get(app.url(VERIFY))
        .header("cookie", format!("access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "verify/ cookie: {what}");
    let resp = app.get_user_cookie(token).await;
    assert_eq!(resp.status(), 401, "user/ cookie: {what}");
}

/// One change to a token's claims.
type ClaimEdit = Box<dyn Fn(&mut Value)>;

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap()
}

/// A body that holds `n` bytes of password, made of 2-byte characters when `wide`.
fn password_of(n: usize, wide: bool) -> String {
    if wide {
        assert_eq!(n % 2, 0);
        "é".repeat(n / 2)
    } else {
        "p".repeat(n)
    }
}

both_backends! {
    async fn forged_tokens_are_refused_by_verify_as_by_user(backend) {
        let app = TestApp::spawn(backend).await;
        let f = Forger::new(&app).await;
        let good = f.sign(&f.claims, |_| {});
        assert_eq!(app.get_user_bearer(&good).await.status(), 200, "control: user/");
        assert_eq!(app.verify_bearer(&good).await.status(), 204, "control: verify/");

        let mut forged: Vec<(String, String)> = Vec::new();
        for alg in ["none", "None", "NONE", "nOnE", "", "HS256 ", "EdDSA\u{0}"] {
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": f.kid});
            let unsigned = format!("{}.{}", b64(header.to_string().as_bytes()), b64(f.claims.to_string().as_bytes()));
            forged.push((format!("alg {alg:?}, no signature"), format!("{unsigned}.")));
            // The real signature pasted under a rewritten header is no better.
            let sig = good.rsplit('.').next().unwrap();
            forged.push((format!("alg {alg:?}, real signature"), format!("{unsigned}.{sig}")));
        }
        let parts: Vec<&str> = good.split('.').collect();
        forged.push(("empty signature".into(), format!("{}.{}.", parts[0], parts[1])));
        forged.push(("two parts".into(), format!("{}.{}", parts[0], parts[1])));
        forged.push(("four parts".into(), format!("{good}.{}", parts[2])));
        // EdDSA -> HS256 confusion, keyed with the public key bytes from the JWKS.
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
        let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &x).unwrap();
        for alg in ["HS256", "HS384", "HS512"] {
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": f.kid});
            forged.push((format!("{alg} keyed with the public key"), hs256(&header, &f.claims, &raw)));
        }
        for kid in [
            "../../../../../../dev/null".to_owned(),
            "/proc/self/environ".to_owned(),
            "' OR '1'='1".to_owned(),
            "x'; DROP TABLE signing_keys; --".to_owned(),
            "k".repeat(3_000),
            "k".repeat(10_240),
            format!("{}\u{0}", f.kid),
            format!("{} ", f.kid),
        ] {
            let t = f.sign(&f.claims, |h| h.kid = Some(kid.clone()));
            forged.push((format!("kid {:?}", kid.chars().take(40).collect::<String>()), t));
        }
        for typ in ["JWT", "jwt", "at+jwt+evil", "refresh", "application/jwt"] {
            forged.push((format!("typ {typ}"), f.sign(&f.claims, |h| h.typ = Some(typ.into()))));
        }
        let t = now();
        let edits: Vec<(&str, ClaimEdit)> = vec![
            ("aud list without ours", Box::new(|c| c["aud"] = json!(["someone-else"]))),
            ("aud with a suffix", Box::new(|c| c["aud"] = json!("authgate-admin"))),
            ("iss on another scheme", Box::new(|c| c["iss"] = json!("https://localhost:8080"))),
            ("iss prefix", Box::new(|c| c["iss"] = json!("http://localhost:8080.evil.tld"))),
            ("expired 31 s ago, beyond the leeway", Box::new(move |c| c["exp"] = json!(t - 40))),
            ("exp as a string", Box::new(move |c| c["exp"] = json!((t + 600).to_string()))),
            ("nbf in the future", Box::new(move |c| c["nbf"] = json!(t + 120))),
            ("iat in the future", Box::new(move |c| { c["iat"] = json!(t + 3_600); })),
            ("iat and nbf in the future", Box::new(move |c| { c["iat"] = json!(t + 3_600); c["nbf"] = json!(t + 3_600); c["exp"] = json!(t + 4_500); })),
            ("sub not a string", Box::new(|c| c["sub"] = json!(42))),
        ];
        for (what, edit) in edits {
            let claims = f.with(|c| edit(c));
            forged.push((what.into(), f.sign(&claims, |_| {})));
        }
        // A refresh token is not an access token, on either endpoint.
        let tokens = app.signed_in_user().await;
        forged.push(("refresh token as access token".into(), tokens.refresh.clone()));

        for (what, token) in &forged {
            assert_refused_everywhere(&app, what, token).await;
        }
        // None of the refusals harmed the real token.
        assert_eq!(app.verify_bearer(&good).await.status(), 204);
    }

    async fn jku_jwk_and_x5u_headers_never_cause_a_fetch(backend) {
        let app = TestApp::spawn(backend).await;
        let f = Forger::new(&app).await;
        let trap = Tripwire::start().await;
        let evil = Attacker::new();
        let mut tokens = Vec::new();
        for kid in ["attacker".to_owned(), f.kid.clone()] {
            for extra in [
                json!({"jku": trap.url}),
                json!({"x5u": trap.url}),
                json!({"jwk": evil.jwk()}),
                json!({"jku": trap.url, "x5u": trap.url, "jwk": evil.jwk()}),
            ] {
                let mut header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
                for (k, v) in extra.as_object().unwrap() {
                    header[k] = v.clone();
                }
                tokens.push((format!("{header}"), evil.sign(&header, &f.claims)));
            }
        }
        for (what, token) in &tokens {
            assert_refused_everywhere(&app, what, token).await;
        }
        // The same headers on a token the real key signed are ignored, not followed.
        let ignored = f.sign(&f.claims, |h| {
            h.jku = Some(trap.url.clone());
            h.x5u = Some(trap.url.clone());
        });
        assert_eq!(app.get_user_bearer(&ignored).await.status(), 200);
        assert_eq!(app.verify_bearer(&ignored).await.status(), 204);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(trap.hits.load(Ordering::SeqCst), 0, "authgate connected to a URL from a token header");
    }

    async fn cookie_authenticated_patch_user_is_refused_from_another_site(backend) {
        let app = TestApp::spawn_with(backend, |s| s.allowed_origins = vec![APP.into()]).await;
        let tokens = app.signed_in_user().await;
        let cookies = format!("access_token={}; refresh_token={}", tokens.access, tokens.refresh);
        let body = json!({"name": "Pwned"}).to_string();
        for (name, value) in [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
            ("origin", "null"),
            ("origin", "https://app.example.com.evil.tld"),
            ("referer", "https://app.example.com.evil.tld/form"),
        ] {
            let resp = app.client.patch(app.url(USER)).header("cookie", &cookies).header(name, value)
                .header("content-type", "application/json").body(body.clone()).send().await.unwrap();
            assert_eq!(resp.status(), 403, "{name}: {value}");
            assert_eq!(error_code(resp).await, "csrf_rejected");
        }
        // Bodies an HTML form can send, even from our own origin, never reach the handler.
        for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            for path in [USER, "/api/v1/auth/custom-refresh/", "/api/v1/auth/custom-logout/"] {
                let method = if path == USER { reqwest::Method::PATCH } else { reqwest::Method::POST };
                let resp = app.client.request(method, app.url(path)).header("cookie", &cookies).header("origin", APP)
                    .header("content-type", ct).body(body.clone()).send().await.unwrap();
                assert_eq!(resp.status(), 415, "{path} {ct}");
                assert_eq!(error_code(resp).await, "unsupported_media_type");
            }
        }
        // Cross-site wins over the media type: a cross-site form hears 403.
        let resp = app.client.patch(app.url(USER)).header("cookie", &cookies).header("sec-fetch-site", "cross-site")
            .header("content-type", "text/plain").body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 403);
        // Control: the same change from an allowed origin goes through, and only it did.
        let user: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        assert_eq!(user["name"], "Test User", "a refused request changed nothing");
        let resp = app.client.patch(app.url(USER)).header("cookie", &cookies).header("origin", APP)
            .header("sec-fetch-site", "same-site").header("content-type", "application/json").body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let user: Value = resp.json().await.unwrap();
        assert_eq!(user["name"], "Pwned");
    }

    async fn look_alike_origins_get_no_cors_headers(backend) {
        let app = TestApp::spawn_with(backend, |s| s.allowed_origins = vec![APP.into()]).await;
        let tokens = app.signed_in_user().await;
        let look_alikes = [
            "https://app.example.com.evil.tld",
            "http://app.example.com",
            "https://evilapp.example.com",
            "https://evil-app.example.com",
            "https://app.example.co",
            "https://app.example.comm",
            "https://sub.app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com.",
            "https://app.example.com/",
            "https://APP.EXAMPLE.COM",
            "https://app.example.com@evil.tld",
            "https://evil.tld#https://app.example.com",
            "https://app.example.com%2e.evil.tld",
            "null",
            "*",
        ];
        for evil in look_alikes {
            for (method, path) in [("POST", "/api/v1/auth/custom-refresh/"), ("PATCH", USER), ("GET", USER), ("POST", "/api/v1/auth/signin/")] {
                let resp = app.client.request(reqwest::Method::OPTIONS, app.url(path))
                    .header("origin", evil).header("access-control-request-method", method)
                    .header("access-control-request-headers", "content-type, authorization").send().await.unwrap();
                assert!(resp.status().is_success(), "{evil} {path}: a preflight is answered, not refused");
                for h in ["access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods", "access-control-allow-headers"] {
                    assert!(resp.headers().get(h).is_none(), "{evil} {method} {path}: {h}");
                }
                assert_eq!(resp.headers()["vary"], "Origin");
            }
            // The actual request: an answer the browser is not allowed to read.
            let resp = app.client.get(app.url(USER)).header("origin", evil).bearer_auth(&tokens.access).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert!(resp.headers().get("access-control-allow-origin").is_none(), "{evil}");
            assert!(resp.headers().get("access-control-allow-credentials").is_none(), "{evil}");
        }
        // Control: the listed origin is answered.
        let resp = app.client.request(reqwest::Method::OPTIONS, app.url(USER))
            .header("origin", APP).header("access-control-request-method", "PATCH").send().await.unwrap();
        assert_eq!(resp.headers()["access-control-allow-origin"], APP);
    }

    async fn a_1024_byte_password_works_and_1025_bytes_is_refused_everywhere(backend) {
        let app = TestApp::spawn(backend).await;
        for wide in [false, true] {
            let email = unique_email();
            let max = password_of(1024, wide);
            assert_eq!(app.signup(&email, &max).await.status(), 201, "1 KB password (wide: {wide})");
            assert_eq!(app.signin(&email, &max, false).await.status(), 204);
            // Two 1 KB passwords that differ only in their last byte are two passwords.
            let mut near = password_of(1022, wide);
            near.push_str(if wide { "è" } else { "pq" });
            assert_eq!(near.len(), 1024);
            assert_eq!(app.signin(&email, &near, false).await.status(), 401, "last byte counts (wide: {wide})");

            let over = format!("{max}x");
            assert_eq!(over.len(), 1025);
            let resp = app.signup(&unique_email(), &over).await;
            assert_eq!(resp.status(), 400);
            assert_eq!(error_code(resp).await, "invalid_password");
            let resp = app.signin(&email, &over, false).await;
            assert_eq!(resp.status(), 400);
            let tokens = Tokens::from_response(&app.signin(&email, &max, false).await);
            let resp = app.client.post(app.url("/api/v1/auth/user/password/")).bearer_auth(&tokens.access)
                .json(&json!({"old_password": max, "password": over})).send().await.unwrap();
            assert_eq!(resp.status(), 400, "password change to 1025 bytes");
            let resp = app.post_json("/api/v1/auth/password/reset/", &json!({"email": email, "code": "123456", "password": over})).await;
            assert_eq!(resp.status(), 400, "reset to 1025 bytes");
            let resp = app.post_json("/api/v1/auth/token/", &json!({"grant_type": "password", "login": email, "password": over})).await;
            assert_eq!(resp.status(), 400, "password grant with 1025 bytes");
            assert_eq!(app.signin(&email, &max, false).await.status(), 204, "the 1 KB password still works");
        }
    }

    async fn passwords_sharing_a_72_byte_prefix_are_different_passwords(backend) {
        // bcrypt alone reads 72 bytes; the pre-hash makes the rest count, including
        // for multi-byte characters that straddle byte 72 and for NUL bytes past it.
        let app = TestApp::spawn(backend).await;
        let prefix = "x".repeat(71);
        let pairs = [
            (format!("{prefix}a"), format!("{prefix}ab")),
            (format!("{prefix}é1"), format!("{prefix}é2")),
            (format!("{prefix}a\u{0}1"), format!("{prefix}a\u{0}2")),
            (format!("{prefix}a\u{0}"), format!("{prefix}a")),
        ];
        for (a, b) in pairs {
            let email = unique_email();
            assert_eq!(app.signup(&email, &a).await.status(), 201);
            assert_eq!(app.signin(&email, &b, false).await.status(), 401, "{b:?} must not open {a:?}");
            assert_eq!(app.signin(&email, &a, false).await.status(), 204);
        }
    }

    async fn privileged_fields_in_signup_and_patch_are_ignored(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let privileged = json!({
            "email_verified": true, "totp_enabled": true, "role": "admin", "is_admin": true,
            "id": "00000000-0000-0000-0000-000000000000", "phone": "+15555550100",
            "created_at": "2000-01-01T00:00:00Z", "sessions": 99, "disabled": false,
            "password_hash": "$2b$04$abcdefghijklmnopqrstuu", "aal": "aal2", "amr": ["pwd", "otp"],
        });
        let mut body = privileged.clone();
        body["email"] = json!(email);
        body["password"] = json!("correct horse battery");
        body["name"] = json!("Mallory");
        let resp = app.post_json("/api/v1/auth/signup/", &body).await;
        assert_eq!(resp.status(), 201);
        let tokens = Tokens::from_response(&resp);
        let before: Value = resp.json().await.unwrap();
        let check = |user: &Value, when: &str| {
            assert_eq!(user["email_verified"], false, "{when}");
            assert_eq!(user["totp_enabled"], false, "{when}");
            assert_eq!(user["phone"], Value::Null, "{when}");
            assert_ne!(user["id"], "00000000-0000-0000-0000-000000000000", "{when}");
            assert!(user.get("role").is_none() && user.get("is_admin").is_none(), "{when}");
            assert_ne!(user["created_at"], "2000-01-01T00:00:00Z", "{when}");
        };
        check(&before, "signup");

        let mut patch = privileged.clone();
        patch["name"] = json!("Mallory Two");
        patch["password"] = json!("a new password I chose");
        let resp = app.client.patch(app.url(USER)).bearer_auth(&tokens.access).json(&patch).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let after: Value = resp.json().await.unwrap();
        check(&after, "patch");
        assert_eq!(after["name"], "Mallory Two", "the allowed field was applied");
        assert_eq!(after["id"], before["id"]);
        let user: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        check(&user, "get");
        assert_eq!(user["sessions"], 1);
        // A password in a PATCH body is not a password change.
        assert_eq!(app.signin(&email, "a new password I chose", false).await.status(), 401);
        assert_eq!(app.signin(&email, "correct horse battery", false).await.status(), 204);
        // The access token's claims were not lifted either.
        let claims = claims_of(&tokens.access);
        assert_eq!(claims["aal"], "aal1");
        assert_eq!(claims["email_verified"], false);
    }

    async fn malformed_bodies_on_every_json_endpoint_are_4xx_never_5xx(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let endpoints: [(reqwest::Method, &str); 19] = [
            (reqwest::Method::POST, "/api/v1/auth/signup/"),
            (reqwest::Method::POST, "/api/v1/auth/signin/"),
            (reqwest::Method::POST, "/api/v1/auth/verify-email/"),
            (reqwest::Method::POST, "/api/v1/auth/verify-email/resend/"),
            (reqwest::Method::POST, "/api/v1/auth/password/forgot/"),
            (reqwest::Method::POST, "/api/v1/auth/password/reset/"),
            (reqwest::Method::POST, "/api/v1/auth/token/"),
            (reqwest::Method::POST, "/api/v1/auth/token/revoke/"),
            (reqwest::Method::PATCH, USER),
            (reqwest::Method::POST, "/api/v1/auth/user/password/"),
            (reqwest::Method::POST, "/api/v1/auth/mfa/totp/confirm/"),
            (reqwest::Method::DELETE, "/api/v1/auth/mfa/totp/"),
            (reqwest::Method::POST, "/api/v1/auth/sms/code/"),
            (reqwest::Method::POST, "/api/v1/auth/sms/signin/"),
            (reqwest::Method::POST, "/api/v1/auth/user/phone/code/"),
            (reqwest::Method::POST, "/api/v1/auth/user/phone/"),
            (reqwest::Method::DELETE, "/api/v1/auth/user/phone/"),
            (reqwest::Method::POST, "/api/v1/auth/custom-refresh/"),
            (reqwest::Method::POST, "/api/v1/auth/custom-logout/"),
        ];
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("duplicate keys", br#"{"email": "a@example.com", "email": 1, "password": "x", "password": null}"#.to_vec()),
            ("10k-deep arrays", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
            ("10k-deep objects", format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)).into_bytes()),
            ("10k-deep unclosed", "[".repeat(10_000).into_bytes()),
            ("huge exponent", br#"{"email": 1e99999, "code": 1e99999, "remember_me": -1e400}"#.to_vec()),
            ("huge integer", format!(r#"{{"email": {0}, "code": {0}, "phone": {0}}}"#, "9".repeat(4_000)).into_bytes()),
            ("NaN and Infinity", br#"{"email": NaN, "code": Infinity}"#.to_vec()),
            ("invalid utf-8", b"{\"email\": \"\xc3\x28@example.com\", \"code\": \"\xff\"}".to_vec()),
            ("overlong utf-8", b"{\"email\": \"\xc0\xaf\"}".to_vec()),
            ("BOM", b"\xef\xbb\xbf{\"email\": \"a@example.com\", \"password\": \"correct horse\"}".to_vec()),
            ("lone high surrogate", br#"{"email": "\ud800@example.com", "name": "\ud800", "code": "\udfff", "phone": "\ud83d"}"#.to_vec()),
            ("reversed surrogate pair", br#"{"email": "\ude00\ud83d@example.com", "password": "\udc00\ud800aaaaaa"}"#.to_vec()),
            ("NUL escapes", br#"{"email": "a\u0000@example.com", "password": "\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000", "code": "\u0000"}"#.to_vec()),
            ("trailing garbage", br#"{"email": "a@example.com"} {"#.to_vec()),
            ("single quotes", b"{'email': 'a@example.com'}".to_vec()),
            ("comments", br#"{/* x */ "email": "a@example.com"}"#.to_vec()),
            ("top-level string", br#""a@example.com""#.to_vec()),
            ("top-level number", b"1e309".to_vec()),
            ("wrong types everywhere", br#"{"email": {}, "password": [], "name": 1, "code": true, "codes": "x", "phone": [1], "login": {}, "grant_type": 5, "refresh_token": {}, "old_password": 0, "avatar": 1, "captcha": [], "remember_me": "true", "verification_code": 1.5}"#.to_vec()),
            ("many keys", format!("{{{}\"email\": 1}}", (0..1_500).map(|i| format!("\"k{i}\":0,")).collect::<String>()).into_bytes()),
        ];
        for (method, path) in endpoints {
            for (what, body) in &bodies {
                for auth in [false, true] {
                    let mut req = app.client.request(method.clone(), app.url(path))
                        .header("content-type", "application/json").body(body.clone());
                    if auth {
                        req = req.bearer_auth(&tokens.access);
                    }
                    let resp = req.send().await.unwrap();
                    let status = resp.status();
                    assert!(status.is_client_error() || status.is_success(), "{method} {path} {what} (auth {auth}): {status}");
                    if status.is_client_error() {
                        let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
                        assert_eq!(ct.as_deref(), Some("application/json"), "{method} {path} {what}");
                        error_code(resp).await;
                    }
                }
            }
        }
        // The service is intact; the session ended only because `custom-logout/` was called
        // with its token.
        let ended = app.get_user_bearer(&tokens.access).await;
        assert_eq!(ended.status(), 401);
        assert_eq!(error_code(ended).await, "session_not_found");
        let fresh = app.signed_in_user().await;
        assert_eq!(app.get_user_bearer(&fresh.access).await.status(), 200);
    }

    async fn a_cookie_with_a_hostile_value_is_refused_not_a_crash(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        for value in ["", "\"\"", "%00", "a%20b", "..%2f..%2fetc%2fpasswd", &"a".repeat(8_000), "Bearer x", "e30.e30.", &format!("{}x", tokens.refresh)] {
            for (path, name) in [(USER, "access_token"), (VERIFY, "access_token"), ("/api/v1/auth/custom-refresh/", "refresh_token")] {
                let method = if path.contains("refresh") { reqwest::Method::POST } else { reqwest::Method::GET };
                let resp = app.client.request(method, app.url(path)).header("cookie", format!("{name}={value}")).send().await.unwrap();
                assert_eq!(resp.status(), 401, "{path} {name}={value:.20}");
                assert!(resp.headers().contains_key("www-authenticate"), "{path} {name}={value:.20}");
            }
        }
        // Two access cookies: the request is not authenticated by whichever happens to be first.
        let resp = app.client.get(app.url(USER)).header("cookie", format!("access_token=forged; access_token={}", tokens.access)).send().await.unwrap();
        assert!(!resp.status().is_server_error());
        // Control: the same requests with the real cookies are accepted, so the 401s above were
        // the hostile values' doing.
        assert_eq!(app.client.get(app.url(USER)).header("cookie", format!("access_token={}", tokens.access)).send().await.unwrap().status(), 200);
        assert_eq!(app.client.get(app.url(VERIFY)).header("cookie", format!("access_token={}", tokens.access)).send().await.unwrap().status(), 204);
    }
    async fn each_sign_in_opens_a_new_session_with_new_tokens(backend) {
        let app = TestApp::spawn(backend).await;
        let email = unique_email();
        let t0 = Tokens::from_response(&app.signup(&email, "correct horse battery").await);
        let t1 = Tokens::from_response(&app.signin(&email, "correct horse battery", false).await);
        // A sign-in that presents an existing session's cookies still opens a session of its own
        // (no session fixation): the old cookies are not adopted.
        let resp = app.client.post(app.url("/api/v1/auth/signin/"))
            .header("cookie", format!("access_token={}; refresh_token={}", t0.access, t0.refresh))
            .json(&json!({"login": email, "password": "correct horse battery"})).send().await.unwrap();
        assert_eq!(resp.status(), 204);
        let t2 = Tokens::from_response(&resp);
        let sids: std::collections::HashSet<String> = [&t0, &t1, &t2].iter().map(|t| claims_of(&t.access)["sid"].as_str().unwrap().to_owned()).collect();
        assert_eq!(sids.len(), 3, "three authentications, three sessions");
        let refresh: std::collections::HashSet<&String> = [&t0.refresh, &t1.refresh, &t2.refresh].into_iter().collect();
        assert_eq!(refresh.len(), 3);
        let user: Value = app.get_user_bearer(&t2.access).await.json().await.unwrap();
        assert_eq!(user["sessions"], 3);
        // Ending one leaves the others working.
        let out = app.client.post(app.url("/api/v1/auth/custom-logout/")).header("cookie", format!("refresh_token={}", t1.refresh)).send().await.unwrap();
        assert_eq!(out.status(), 204);
        assert_eq!(app.refresh(&t1.refresh).await.status(), 401);
        assert_eq!(app.refresh(&t0.refresh).await.status(), 204);
        assert_eq!(app.refresh(&t2.refresh).await.status(), 204);
    }

    async fn a_password_reset_does_not_bypass_totp(backend) {
        let smtp = crate::smtp::SmtpServer::start().await;
        let app = crate::mail::mail_app(backend, &smtp, |_| {}).await;
        let (email, _, secret, step) = crate::mfa::user_with_totp(&app).await;
        let forgot = app.post_json("/api/v1/auth/password/forgot/", &json!({"email": email})).await;
        assert_eq!(forgot.status(), 202);
        let code = smtp.wait_for_nth(&email, 2, Duration::from_secs(10)).await.code();
        let new_password = "a brand new password";
        let reset = app.post_json("/api/v1/auth/password/reset/", &json!({"email": email, "code": code, "password": new_password})).await;
        assert_eq!(reset.status(), 204);
        // The new password alone is one factor of two.
        let resp = app.signin(&email, new_password, false).await;
        assert_eq!(resp.status(), 401);
        assert!(cookie(resp.headers(), "access_token").is_none());
        assert_eq!(error_code(resp).await, "mfa_required");
        let resp = app.post_json("/api/v1/auth/token/", &json!({"grant_type": "password", "login": email, "password": new_password})).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "mfa_required");
        let user: Value = {
            let resp = app.post_json("/api/v1/auth/signin/", &json!({"login": email, "password": new_password, "code": crate::mfa::hotp(&secret, step + 1, 6)})).await;
            assert_eq!(resp.status(), 204, "password and a fresh code sign in");
            let t = Tokens::from_response(&resp);
            assert_eq!(claims_of(&t.access)["aal"], "aal2");
            app.get_user_bearer(&t.access).await.json().await.unwrap()
        };
        assert_eq!(user["totp_enabled"], true, "the reset left the second factor on");
    }
    async fn a_json_array_is_not_read_as_the_object_positionally(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let email = unique_email();
        let cases: [(reqwest::Method, &str, Value); 4] = [
            (reqwest::Method::POST, "/api/v1/auth/signup/", json!([email, "correct horse battery", "Array"])),
            (reqwest::Method::PATCH, USER, json!(["Renamed", null, null])),
            (reqwest::Method::PATCH, USER, json!([null, null])),
            (reqwest::Method::POST, "/api/v1/auth/verify-email/resend/", json!([null])),
        ];
        for (method, path, body) in cases {
            let resp = app.client.request(method.clone(), app.url(path)).bearer_auth(&tokens.access).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 400, "{method} {path} {body}");
            assert_eq!(error_code(resp).await, "invalid_request");
        }
        let user: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        assert_eq!(user["name"], "Test User");
        assert_eq!(app.signin(&email, "correct horse battery", false).await.status(), 401, "no account from an array");
    }
}
