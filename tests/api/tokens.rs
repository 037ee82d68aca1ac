//! Access-token verification refuses forgeries (RFC 8725) and accepts every configured algorithm.

use std::time::Duration;

use authgate::crypto::sealing::Sealer;
use authgate::settings::{DatabaseUrl, JwtAlgorithm, Secret};
use authgate::tokens::KeyStore;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::*;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The app's own signing keys, read from its database the way a replica would.
fn app_keys(app: &TestApp) -> KeyStore {
    let url = DatabaseUrl::parse(&app.db.url).unwrap();
    let pool = authgate::db::build_pool(&url, 1, Duration::from_secs(5));
    let store = KeyStore::new(
        app.settings.jwt_algorithm,
        app.settings.jwt_secret.clone(),
        Sealer::new(None).unwrap(),
    );
    store.load(&mut pool.get().unwrap()).unwrap();
    store
}

pub struct Forger {
    keys: KeyStore,
    pub claims: Value,
    pub kid: String,
}

impl Forger {
    pub async fn new(app: &TestApp) -> Self {
        let tokens = app.signed_in_user().await;
        let payload = tokens.access.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        let keys = app_keys(app);
        let kid = keys
            .snapshot()
            .signing_key(authgate::db::now())
            .unwrap()
            .kid
            .clone();
        Self { keys, claims, kid }
    }

    /// Signs `claims` with the real key, with header overrides.
    pub fn sign(
        &self,
        claims: &Value,
        edit_header: impl FnOnce(&mut jsonwebtoken::Header),
    ) -> String {
        let set = self.keys.snapshot();
        let key = set.signing_key(authgate::db::now()).unwrap();
        let mut header = jsonwebtoken::Header::new(key.algorithm);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        edit_header(&mut header);
        jsonwebtoken::encode(&header, claims, key.encoding.as_ref().unwrap()).unwrap()
    }

    pub fn with(&self, edit: impl FnOnce(&mut Value)) -> Value {
        let mut c = self.claims.clone();
        edit(&mut c);
        c
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64(tag.as_ref()))
}

both_backends! {
    async fn forged_access_tokens_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let f = Forger::new(&app).await;

        // Control: the forger's own correct token is accepted, so every refusal below is about
        // the one thing each case changes.
        let good = f.sign(&f.claims, |_| {});
        assert_eq!(app.get_user_bearer(&good).await.status(), 200, "control token must verify");

        let mut forged: Vec<(&str, String)> = Vec::new();
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": f.kid});
            let t = format!("{}.{}.", b64(header.to_string().as_bytes()), b64(f.claims.to_string().as_bytes()));
            forged.push(("alg none", t));
        }
        let parts: Vec<&str> = good.split('.').collect();
        let other = f.with(|c| c["sub"] = json!(uuid::Uuid::new_v4().to_string()));
        forged.push(("edited payload", format!("{}.{}.{}", parts[0], b64(other.to_string().as_bytes()), parts[2])));
        forged.push(("empty signature", format!("{}.{}.", parts[0], parts[1])));
        forged.push(("signature of another token", format!("{}.{}.{}", parts[0], parts[1], f.sign(&other, |_| {}).split('.').nth(2).unwrap())));

        // Algorithm confusion: HS256 "signed" with the public key in every form an attacker has.
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == f.kid.as_str()).unwrap().clone();
        let x = jwk["x"].as_str().unwrap();
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": f.kid});
        for secret in [
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(x).unwrap(),
            x.as_bytes().to_vec(),
            jwk.to_string().into_bytes(),
        ] {
            forged.push(("HS256 with the public key", hs256(&header, &f.claims, &secret)));
        }

        forged.push(("unknown kid", f.sign(&f.claims, |h| h.kid = Some("not-a-key".into()))));
        forged.push(("hostile kid", f.sign(&f.claims, |h| h.kid = Some("../../../../etc/passwd' OR 1=1 --".into()))));
        forged.push(("no kid", f.sign(&f.claims, |h| h.kid = None)));
        forged.push(("typ JWT", f.sign(&f.claims, |h| h.typ = Some("JWT".into()))));
        forged.push(("no typ", f.sign(&f.claims, |h| h.typ = None)));
        forged.push(("expired", f.sign(&f.with(|c| { c["exp"] = json!(now() - 120); c["iat"] = json!(now() - 1000); c["nbf"] = json!(now() - 1000); }), |_| {})));
        forged.push(("not yet valid", f.sign(&f.with(|c| c["nbf"] = json!(now() + 300)), |_| {})));
        forged.push(("wrong audience", f.sign(&f.with(|c| c["aud"] = json!("someone-else")), |_| {})));
        forged.push(("wrong issuer", f.sign(&f.with(|c| c["iss"] = json!("https://evil.example")), |_| {})));
        forged.push(("issuer with trailing slash", f.sign(&f.with(|c| c["iss"] = json!(format!("{}/", app.settings.public_url))), |_| {})));
        forged.push(("no sub", f.sign(&f.with(|c| { c.as_object_mut().unwrap().remove("sub"); }), |_| {})));
        forged.push(("no exp", f.sign(&f.with(|c| { c.as_object_mut().unwrap().remove("exp"); }), |_| {})));
        forged.push(("no nbf", f.sign(&f.with(|c| { c.as_object_mut().unwrap().remove("nbf"); }), |_| {})));
        forged.push(("garbage", "a.b.c".into()));
        forged.push(("huge", "a".repeat(100_000)));

        for (what, token) in forged {
            let resp = app.get_user_bearer(&token).await;
            assert_eq!(resp.status(), 401, "{what} must be refused");
            assert_eq!(resp.headers()["www-authenticate"], r#"Bearer error="invalid_token""#, "{what}");
        }

        // Leeway: a token expired 10 s ago is still inside the 30 s allowance.
        let recent = f.sign(&f.with(|c| c["exp"] = json!(now() - 10)), |_| {});
        assert_eq!(app.get_user_bearer(&recent).await.status(), 200);
    }

    async fn jku_and_jwk_headers_are_never_trusted(backend) {
        let app = TestApp::spawn(backend).await;
        let f = Forger::new(&app).await;
        // An attacker's own Ed25519 key, announced in the header.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let evil = jsonwebtoken::EncodingKey::from_ed_der(doc.as_ref());
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some("attacker".into());
        header.jku = Some("http://127.0.0.1:9/jwks.json".into());
        let token = jsonwebtoken::encode(&header, &f.claims, &evil).unwrap();
        assert_eq!(app.get_user_bearer(&token).await.status(), 401);
        header.kid = Some(f.kid.clone());
        let token = jsonwebtoken::encode(&header, &f.claims, &evil).unwrap();
        assert_eq!(app.get_user_bearer(&token).await.status(), 401, "the real kid with another key's signature");
    }

    async fn every_algorithm_signs_and_verifies(backend) {
        for alg in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256, JwtAlgorithm::Rs256, JwtAlgorithm::Hs256] {
            let app = TestApp::spawn_with(backend, |s| {
                s.jwt_algorithm = alg;
                if alg == JwtAlgorithm::Hs256 {
                    s.jwt_secret = Some(Secret::new("0123456789abcdef0123456789abcdef"));
                }
            }).await;
            let tokens = app.signed_in_user().await;
            let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tokens.access.split('.').next().unwrap()).unwrap()).unwrap();
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["typ"], "at+jwt");
            assert!(header["kid"].is_string());
            assert_eq!(app.get_user_bearer(&tokens.access).await.status(), 200, "{alg:?}");
            let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
            let keys = jwks["keys"].as_array().unwrap();
            match alg {
                JwtAlgorithm::Hs256 => assert!(keys.is_empty(), "a shared secret is never published"),
                _ => {
                    assert_eq!(keys.len(), 1);
                    assert_eq!(keys[0]["alg"], alg.as_str());
                    assert_eq!(keys[0]["kid"], header["kid"]);
                    assert!(keys[0].get("d").is_none(), "no private part in the JWKS");
                }
            }
        }
    }

    async fn access_token_claims_are_complete(backend) {
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tokens.access.split('.').nth(1).unwrap()).unwrap()).unwrap();
        for k in ["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "sid", "email", "email_verified", "amr", "aal"] {
            assert!(claims.get(k).is_some(), "claim {k} missing");
        }
        assert_eq!(claims["iss"], "http://localhost:8080");
        assert_eq!(claims["aud"], "authgate");
        assert_eq!(claims["amr"], json!(["pwd"]));
        assert_eq!(claims["aal"], "aal1");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
        let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
        assert_eq!(jwks.headers()["cache-control"], "public, max-age=600");
    }

    async fn keys_sealed_with_an_encryption_key_work_and_are_not_stored_plain(backend) {
        let key = authgate::settings::EncryptionKey([42; 32]);
        let app = TestApp::spawn_with(backend, |s| s.encryption_key = Some(key.clone())).await;
        let tokens = app.signed_in_user().await;
        assert_eq!(app.get_user_bearer(&tokens.access).await.status(), 200);
        assert_eq!(app.refresh(&tokens.refresh).await.status(), 204);
        // Without the key, the stored private key cannot be opened.
        let url = DatabaseUrl::parse(&app.db.url).unwrap();
        let pool = authgate::db::build_pool(&url, 1, Duration::from_secs(5));
        let store = KeyStore::new(JwtAlgorithm::EdDsa, None, Sealer::new(None).unwrap());
        assert!(store.load(&mut pool.get().unwrap()).is_err(), "sealed keys must not open without the key");
    }
}

both_backends! {
    async fn an_automatic_rotation_publishes_the_new_key_before_signing_with_it(backend) {
        let publish_delay = Duration::from_millis(1500);
        let app = TestApp::spawn_with(backend, move |s| {
            s.key_reload_interval = Duration::from_millis(100);
            s.key_publish_delay = publish_delay;
            s.access_token_ttl = Duration::from_secs(1);
            s.key_rotation_interval = Some(Duration::from_secs(4));
        }).await;
        let email = unique_email();
        let mut refresh = Tokens::from_response(&app.signup(&email, "correct horse battery").await).refresh;
        let first = {
            let r = app.refresh(&refresh).await;
            let t = Tokens::from_response(&r);
            refresh = t.refresh;
            kid_of(&t.access)
        };
        let started = std::time::Instant::now();
        let (mut published, mut signing) = (None, None);
        while started.elapsed() < Duration::from_secs(10) && signing.is_none() {
            let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
            let kids: Vec<String> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
            let r = app.refresh(&refresh).await;
            assert_eq!(r.status(), 204);
            let t = Tokens::from_response(&r);
            refresh = t.refresh;
            let kid = kid_of(&t.access);
            if published.is_none() && kids.iter().any(|k| *k != first) {
                published = Some(std::time::Instant::now());
            }
            if kid != first {
                assert!(kids.contains(&kid) || published.is_some(), "signed with {kid} before publishing it");
                signing = Some(std::time::Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (published, signing) = (published.expect("a new key was published"), signing.expect("the new key signs"));
        let ahead = signing.duration_since(published);
        assert!(ahead + Duration::from_millis(300) >= publish_delay, "the new key signed {ahead:?} after it was published; the publish delay is {publish_delay:?}");
    }
}

both_backends! {
    async fn an_optional_sign_in_is_used_when_presented_and_checked_like_any_other(backend) {
        // `verify-email/resend/` acts for the signed-in caller, else for the address in the body.
        let app = TestApp::spawn(backend).await;
        let tokens = app.signed_in_user().await;
        let resend = app.url("/api/v1/auth/verify-email/resend/");
        let signed_in = app.client.post(&resend).bearer_auth(&tokens.access).json(&json!({})).send().await.unwrap();
        assert_eq!(signed_in.status(), 202, "the token names the account");
        let anonymous = app.client.post(&resend).json(&json!({})).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "neither a token nor an address");
        let forged = app.client.post(&resend).bearer_auth("not.a.token").json(&json!({})).send().await.unwrap();
        assert_eq!(forged.status(), 401);
        assert_eq!(error_code(forged).await, "invalid_token", "a presented token is checked, never ignored");
    }
}
