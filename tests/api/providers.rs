//! Sign-in with identity providers, against a stub provider (wiremock) that speaks OpenID
//! Connect's documented protocol and signs its own ID tokens, so that each attack on the ID token
//! can be made: a wrong nonce, another audience, an expired token, `alg: none`, an unpublished
//! key, a wrong issuer or `at_hash`. GitHub's plain OAuth 2.0 API likewise. The whole flow against
//! a real, certified provider (oidc-provider) is in `oidc_peer`-driven tests below.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::contract::assert_conforms;
use crate::helpers::*;

pub const CLIENT_ID: &str = "authgate-test-client";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const APP: &str = "https://app.example.com";
const PW: &str = "correct horse battery";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An ES256 key of the stub provider.
pub struct TestKey {
    pub kid: String,
    pub pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl TestKey {
    pub fn new(kid: &str) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        Self {
            kid: kid.to_owned(),
            public: pair.public_key().as_ref().to_vec(),
            pkcs8: pkcs8.as_ref().to_vec(),
        }
    }

    fn jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
               "x": b64(&self.public[1..33]), "y": b64(&self.public[33..65])})
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8),
        )
        .unwrap()
    }

    /// The key as Apple's `.p8` file holds it.
    pub fn pem(&self) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(&self.pkcs8);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    pub fn verify(&self, jwt: &str) -> Value {
        let x = b64(&self.public[1..33]);
        let y = b64(&self.public[33..65]);
        let key = jsonwebtoken::DecodingKey::from_ec_components(&x, &y).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&["https://appleid.apple.com"]);
        jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
    }
}

/// The at_hash of an access token for ES256: the left half of its SHA-256, base64url.
fn at_hash(access_token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    b64(&digest.as_ref()[..16])
}

/// A stub OpenID provider: discovery, JWKS and a token endpoint answering what the test says.
pub struct FakeIdp {
    pub server: MockServer,
    /// The issuer authgate is configured with.
    pub issuer: String,
    /// The issuer the discovery document names (a template for Microsoft's multi-tenant one).
    doc_issuer: Mutex<String>,
    published: Mutex<Vec<Value>>,
    pub key: TestKey,
}

impl FakeIdp {
    pub async fn start(issuer_path: &str) -> Self {
        let server = MockServer::start().await;
        let issuer = format!("{}{issuer_path}", server.uri());
        let key = TestKey::new("key-1");
        let idp = Self {
            doc_issuer: Mutex::new(issuer.clone()),
            published: Mutex::new(vec![key.jwk()]),
            issuer,
            server,
            key,
        };
        idp.mount_metadata().await;
        idp
    }

    async fn mount_metadata(&self) {
        let base = &self.issuer;
        let doc = json!({
            "issuer": *self.doc_issuer.lock().unwrap(),
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        });
        let prefix = url::Url::parse(base)
            .unwrap()
            .path()
            .trim_end_matches('/')
            .to_owned();
        Mock::given(method("GET"))
            .and(path(format!("{prefix}/.well-known/openid-configuration")))
            .respond_with(ResponseTemplate::new(200).set_body_json(doc))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{prefix}/jwks")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"keys": *self.published.lock().unwrap()})),
            )
            .mount(&self.server)
            .await;
    }

    fn prefix(&self) -> String {
        url::Url::parse(&self.issuer)
            .unwrap()
            .path()
            .trim_end_matches('/')
            .to_owned()
    }

    /// From now on the token endpoint answers `body` (status 200 unless given).
    pub async fn answer_token(&self, status: u16, body: Value) {
        self.server.reset().await;
        self.mount_metadata().await;
        Mock::given(method("POST"))
            .and(path(format!("{}/token", self.prefix())))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&self.server)
            .await;
    }

    /// Answers the token request with this ID token and a fixed access token.
    pub async fn issue(&self, id_token: String) {
        self.answer_token(200, json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})).await;
    }

    pub fn claims(&self, nonce: &str, sub: &str, email: &str) -> Value {
        json!({"iss": self.issuer, "aud": CLIENT_ID, "sub": sub, "email": email, "email_verified": true,
               "nonce": nonce, "iat": now(), "exp": now() + 300, "name": "Ada Lovelace"})
    }

    /// Publishes `keys` in place of the current JWKS.
    pub async fn publish(&self, keys: &[&TestKey]) {
        *self.published.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
        self.server.reset().await;
        self.mount_metadata().await;
    }

    pub fn set_doc_issuer(&self, issuer: &str) {
        *self.doc_issuer.lock().unwrap() = issuer.to_owned();
    }

    /// The form bodies the token endpoint received.
    pub async fn token_requests(&self) -> Vec<Vec<(String, String)>> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path().ends_with("/token"))
            .map(|r| serde_urlencoded::from_bytes(&r.body).unwrap())
            .collect()
    }
}

pub fn env_of(vars: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// Settings with the providers `ids` configured by `vars` and `https://app.example.com/*` allowed.
pub fn provider_settings(
    ids: &str,
    vars: Vec<(String, String)>,
) -> impl FnOnce(&mut authgate::settings::Settings) {
    let ids = ids.to_owned();
    move |s| {
        s.providers = authgate::settings::providers::providers_from(&ids, env_of(&vars)).unwrap();
        s.redirect_urls =
            authgate::settings::redirects::redirect_rules(&format!("{APP}/*,{APP}/signed-in"))
                .unwrap();
    }
}

pub fn oidc_vars(id: &str, issuer: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let up = id.to_ascii_uppercase();
    let mut v = vec![
        (format!("AUTHGATE_PROVIDER_{up}_ISSUER"), issuer.to_owned()),
        (
            format!("AUTHGATE_PROVIDER_{up}_CLIENT_ID"),
            CLIENT_ID.to_owned(),
        ),
        (
            format!("AUTHGATE_PROVIDER_{up}_CLIENT_SECRET"),
            CLIENT_SECRET.to_owned(),
        ),
    ];
    for (k, val) in extra {
        v.push((format!("AUTHGATE_PROVIDER_{up}_{k}"), (*val).to_owned()));
    }
    v
}

/// A flow begun in a browser: what the authorization URL carried and the binding cookie.
pub struct Begun {
    pub location: url::Url,
    pub state: String,
    pub nonce: Option<String>,
    pub challenge: String,
    pub binding: String,
}

impl Begun {
    pub fn param(&self, name: &str) -> Option<String> {
        self.location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// `oauth/{provider}/authorize/`, as a browser follows a "Continue with …" link.
pub async fn begin(app: &TestApp, provider: &str, query: &str) -> Begun {
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/auth/oauth/{provider}/authorize/?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
    assert_conforms("GET", "/api/v1/auth/oauth/{provider}/authorize/", 302, None);
    let binding = cookie(resp.headers(), binding_name(app)).expect("binding cookie");
    assert!(binding.http_only().unwrap_or(false));
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let get = |n: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.into_owned())
    };
    Begun {
        state: get("state").expect("state"),
        nonce: get("nonce"),
        challenge: get("code_challenge").expect("PKCE challenge"),
        binding: binding.value().to_owned(),
        location,
    }
}

/// The browser comes back to the callback with `query`, carrying `binding` (and `cookies`).
pub async fn come_back(
    app: &TestApp,
    provider: &str,
    query: &str,
    binding: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/auth/oauth/{provider}/callback/?{query}")));
    if let Some(b) = binding {
        req = req.header("cookie", format!("{}={b}", binding_name(app)));
    }
    req.send().await.unwrap()
}

/// Where a callback sent the browser, and the `error` it carried.
pub fn landing(resp: &reqwest::Response) -> (String, Option<String>) {
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    let error = url
        .query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned());
    (location, error)
}

/// The binding cookie's name: `__Host-` when cookies are `Secure` (the default).
pub fn binding_name(app: &TestApp) -> &'static str {
    if app.settings.cookie_secure {
        "__Host-authgate-oauth"
    } else {
        "authgate-oauth"
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An app with two stub providers, `corp` and `other`, each with its extra settings.
async fn two_providers(
    backend: Backend,
    corp: &[(&str, &str)],
    other: &[(&str, &str)],
) -> (FakeIdp, FakeIdp, TestApp) {
    let (a, b) = (FakeIdp::start("").await, FakeIdp::start("").await);
    let mut vars = oidc_vars("corp", &a.issuer, corp);
    vars.extend(oidc_vars("other", &b.issuer, other));
    let app = TestApp::spawn_with(backend, provider_settings("corp,other", vars)).await;
    (a, b, app)
}

/// A whole sign-in through the stub provider for `sub`/`email`; the callback's answer.
async fn sign_in_as(app: &TestApp, idp: &FakeIdp, sub: &str, email: &str) -> reqwest::Response {
    let begun = begin(
        app,
        "corp",
        &format!("return_to={}", enc(&format!("{APP}/signed-in"))),
    )
    .await;
    idp.issue(
        idp.key
            .sign(&idp.claims(begun.nonce.as_deref().unwrap(), sub, email)),
    )
    .await;
    come_back(
        app,
        "corp",
        &format!("code=c1&state={}", begun.state),
        Some(&begun.binding),
    )
    .await
}

async fn user_of(app: &TestApp, access: &str) -> Value {
    let resp = app.get_user_bearer(access).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_conforms("GET", "/api/v1/auth/user/", 200, Some(&body));
    body
}

both_backends! {
    async fn a_new_identity_signs_up_then_signs_in_with_pkce_state_and_nonce(backend) {
        let idp = FakeIdp::start("").await;
        let app = TestApp::spawn_with(backend, provider_settings("corp", oidc_vars("corp", &idp.issuer, &[]))).await;
        let list: Value = app.client.get(app.url("/api/v1/auth/oauth/providers/")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list, json!({"providers": [{"id": "corp"}]}));
        assert_conforms("GET", "/api/v1/auth/oauth/providers/", 200, Some(&list));

        let begun = begin(&app, "corp", &format!("return_to={}&remember_me=true", enc(&format!("{APP}/signed-in")))).await;
        assert!(begun.location.as_str().starts_with(&format!("{}/authorize?", idp.issuer)), "{}", begun.location);
        assert_eq!(begun.param("code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(begun.param("response_type").as_deref(), Some("code"));
        assert_eq!(begun.param("client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(begun.param("redirect_uri"), Some(format!("{}/api/v1/auth/oauth/corp/callback/", app.settings.public_url)));
        assert_eq!(begun.param("scope").as_deref(), Some("openid email profile"));
        let email = unique_email();
        idp.issue(idp.key.sign(&idp.claims(begun.nonce.as_deref().unwrap(), "subject-1", &email))).await;
        let resp = come_back(&app, "corp", &format!("code=the-code&state={}&iss={}", begun.state, enc(&idp.issuer)), Some(&begun.binding)).await;
        let (location, error) = landing(&resp);
        assert_eq!((location.as_str(), error), (format!("{APP}/signed-in").as_str(), None));
        assert_conforms("GET", "/api/v1/auth/oauth/{provider}/callback/", 302, None);
        let tokens = Tokens::from_response(&resp);
        let refresh = cookie(resp.headers(), "refresh_token").unwrap();
        assert!(refresh.max_age().is_some(), "remember_me made a persistent cookie");
        assert_eq!(cookie(resp.headers(), binding_name(&app)).unwrap().value(), "", "the binding cookie is cleared");
        // The code was exchanged with the PKCE verifier whose S256 is the challenge.
        let exchanged = idp.token_requests().await;
        let form = &exchanged[0];
        let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(field("code").as_deref(), Some("the-code"));
        assert_eq!(field("grant_type").as_deref(), Some("authorization_code"));
        let verifier = field("code_verifier").expect("PKCE verifier sent");
        assert_eq!(b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref()), begun.challenge);

        let user = user_of(&app, &tokens.access).await;
        assert_eq!(user["email"], email.as_str());
        assert_eq!(user["email_verified"], true, "the provider vouched for the address");
        assert_eq!(user["name"], "Ada Lovelace");
        assert_eq!(user["has_password"], false);
        assert_eq!(user["identities"].as_array().unwrap().len(), 1);
        assert_eq!(user["identities"][0]["provider"], "corp");
        assert_eq!(user["identities"][0]["email"], email.as_str());
        let claims = crate::mfa::claims(&tokens.access);
        assert_eq!(claims["amr"], json!(["oauth"]));
        assert_eq!(claims["aal"], "aal1");

        // The same identity again: the same account, not a new one.
        let again = sign_in_as(&app, &idp, "subject-1", &email).await;
        assert_eq!(landing(&again).1, None);
        let user2 = user_of(&app, &Tokens::from_response(&again).access).await;
        assert_eq!(user2["id"], user["id"]);
        assert_eq!(user2["identities"].as_array().unwrap().len(), 1);
    }

    async fn id_tokens_that_fail_verification_are_refused(backend) {
        let idp = FakeIdp::start("").await;
        let app = TestApp::spawn_with(backend, provider_settings("corp", oidc_vars("corp", &idp.issuer, &[]))).await;
        let stranger = TestKey::new("key-1");
        let unpublished = TestKey::new("key-unpublished");
        type Forge = Box<dyn Fn(&FakeIdp, Value) -> String>;
        let cases: Vec<(&str, Forge)> = vec![
            ("a wrong nonce", Box::new(|idp, mut c| { c["nonce"] = json!("not-the-nonce"); idp.key.sign(&c) })),
            ("no nonce", Box::new(|idp, mut c| { c.as_object_mut().unwrap().remove("nonce"); idp.key.sign(&c) })),
            ("another audience", Box::new(|idp, mut c| { c["aud"] = json!("someone-else"); idp.key.sign(&c) })),
            ("several audiences and azp for another", Box::new(|idp, mut c| { c["aud"] = json!([CLIENT_ID, "other"]); c["azp"] = json!("other"); idp.key.sign(&c) })),
            ("expired", Box::new(|idp, mut c| { c["iat"] = json!(now() - 7200); c["exp"] = json!(now() - 3600); idp.key.sign(&c) })),
            ("another issuer", Box::new(|idp, mut c| { c["iss"] = json!("https://evil.example"); idp.key.sign(&c) })),
            ("alg none", Box::new(|_, c| format!("{}.{}.", b64(br#"{"alg":"none","kid":"key-1"}"#), b64(c.to_string().as_bytes())))),
            ("a key of the same kid not the provider's", Box::new(move |_, c| stranger.sign(&c))),
            ("a key the provider does not publish", Box::new(move |_, c| unpublished.sign(&c))),
            ("an at_hash of another access token", Box::new(|idp, mut c| { c["at_hash"] = json!(at_hash("another-token")); idp.key.sign(&c) })),
            ("a tampered payload", Box::new(|idp, c| {
                let t = idp.key.sign(&c);
                let parts: Vec<&str> = t.split('.').collect();
                let mut evil = c.clone();
                evil["sub"] = json!("victim");
                format!("{}.{}.{}", parts[0], b64(evil.to_string().as_bytes()), parts[2])
            })),
        ];
        for (what, forge) in cases {
            let begun = begin(&app, "corp", "").await;
            let email = unique_email();
            idp.issue(forge(&idp, idp.claims(begun.nonce.as_deref().unwrap(), &format!("sub-{what}"), &email))).await;
            let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
            let (location, error) = landing(&resp);
            assert_eq!(error.as_deref(), Some("invalid_id_token"), "{what}: {location}");
            assert!(location.starts_with(&format!("{APP}/")), "{what}: {location}");
            assert!(cookie(resp.headers(), "access_token").is_none(), "{what}: no session");
            assert!(crate::erasure::tables_holding(&app, &email).is_empty(), "{what}: no account");
        }
        // Control: the same flow with an honest token succeeds, and a valid at_hash is accepted.
        let begun = begin(&app, "corp", "").await;
        let mut c = idp.claims(begun.nonce.as_deref().unwrap(), "honest", &unique_email());
        c["at_hash"] = json!(at_hash("at-1"));
        idp.issue(idp.key.sign(&c)).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1, None);
    }

    async fn a_key_rotation_at_the_provider_is_followed(backend) {
        let idp = FakeIdp::start("").await;
        let app = TestApp::spawn_with(backend, provider_settings("corp", oidc_vars("corp", &idp.issuer, &[]))).await;
        let email = unique_email();
        assert_eq!(landing(&sign_in_as(&app, &idp, "rotating", &email).await).1, None);
        // The provider rotates: a new key, the old one gone from its JWKS.
        let next = TestKey::new("key-2");
        idp.publish(&[&next]).await;
        let begun = begin(&app, "corp", "").await;
        idp.issue(next.sign(&idp.claims(begun.nonce.as_deref().unwrap(), "rotating", &email))).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1, None, "the JWKS was read again for the new kid");
        // A token still signed by the retired key is refused now.
        let begun = begin(&app, "corp", "").await;
        idp.issue(idp.key.sign(&idp.claims(begun.nonce.as_deref().unwrap(), "rotating", &email))).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("invalid_id_token"));
    }

    async fn state_is_single_use_and_bound_to_the_browser_and_the_provider(backend) {
        let (idp, _other, app) = two_providers(backend, &[], &[]).await;
        let email = unique_email();
        // Another browser (no binding cookie, or its own) cannot finish this browser's flow:
        // the login CSRF where an attacker's flow ends in the victim's browser.
        let begun = begin(&app, "corp", "").await;
        let theirs = begin(&app, "corp", "").await;
        idp.issue(idp.key.sign(&idp.claims(begun.nonce.as_deref().unwrap(), "s", &email))).await;
        for binding in [None, Some(theirs.binding.as_str())] {
            let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), binding).await;
            assert_eq!(landing(&resp).1.as_deref(), Some("invalid_state"));
        }
        // At another provider's callback.
        let resp = come_back(&app, "other", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("invalid_state"));
        // Made up, empty, absurd.
        for state in ["made-up", "", &"x".repeat(5000)] {
            let resp = come_back(&app, "corp", &format!("code=c&state={state}"), Some(&begun.binding)).await;
            let (location, error) = landing(&resp);
            assert_eq!(error.as_deref(), Some("invalid_state"));
            assert!(location.starts_with(&format!("{APP}/")), "the first allowed URL: {location}");
        }
        // The real one, once; a replay is told apart.
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1, None);
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("state_used"));
        assert!(cookie(resp.headers(), "access_token").is_none());
        // The user declining at the provider.
        let begun = begin(&app, "corp", "").await;
        let resp = come_back(&app, "corp", &format!("error=access_denied&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("access_denied"));
        // A provider's own error text never reaches the page.
        let begun = begin(&app, "corp", "").await;
        let resp = come_back(&app, "corp", &format!("error=server_error&error_description=%3Cscript%3E&state={}", begun.state), Some(&begun.binding)).await;
        let (location, error) = landing(&resp);
        assert_eq!(error.as_deref(), Some("provider_error"));
        assert!(!location.contains("script"), "{location}");
    }

    async fn return_to_must_be_on_the_allowlist_in_the_form_it_is_redirected_to(backend) {
        let idp = FakeIdp::start("").await;
        let app = TestApp::spawn_with(backend, provider_settings("corp", oidc_vars("corp", &idp.issuer, &[]))).await;
        for bad in [
            "https://evil.example/",
            "https://app.example.com.evil.example/x",
            "https://app.example.com@evil.example/",
            "//evil.example/",
            "/relative",
            "javascript:alert(1)",
            "http://app.example.com/",
            "https://app.example.com:8443/",
        ] {
            let resp = app.client.get(app.url(&format!("/api/v1/auth/oauth/corp/authorize/?return_to={}", enc(bad)))).send().await.unwrap();
            assert_eq!(resp.status(), 400, "{bad}");
            assert!(cookie(resp.headers(), binding_name(&app)).is_none());
            assert_eq!(error_code(resp).await, "invalid_return_to", "{bad}");
        }
        // Dots are resolved before the check, and the browser goes to the checked form.
        let begun = begin(&app, "corp", &format!("return_to={}", enc(&format!("{APP}/a/../b?x=1")))).await;
        idp.issue(idp.key.sign(&idp.claims(begun.nonce.as_deref().unwrap(), "s", &unique_email()))).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).0, format!("{APP}/b?x=1"));
        // An encoded spelling is the same provider (one canonical path), unknown ones are refused.
        let resp = app.client.get(app.url("/api/v1/auth/oauth/c%6Frp/authorize/")).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        assert!(resp.headers()["location"].to_str().unwrap().starts_with(&idp.issuer));
        for p in ["nobody", "CORP", "corp%2F.."] {
            let resp = app.client.get(app.url(&format!("/api/v1/auth/oauth/{p}/authorize/"))).send().await.unwrap();
            let status = resp.status();
            let code = error_code(resp).await;
            assert!((status == 404 && code == "unknown_provider") || (status == 400 && code == "invalid_path"), "{p}: {status} {code}");
        }
    }

    async fn a_verified_address_of_an_existing_account_is_never_linked_silently(backend) {
        let idp = FakeIdp::start("").await;
        let app = TestApp::spawn_with(backend, provider_settings("corp", oidc_vars("corp", &idp.issuer, &[]))).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, PW).await);
        // The provider vouches for the address; still no way in without the owner.
        let resp = sign_in_as(&app, &idp, "pre-registered", &email).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("account_exists"));
        assert!(cookie(resp.headers(), "access_token").is_none());
        assert_eq!(user_of(&app, &tokens.access).await["identities"], json!([]));

        // The owner links it from the signed-in account.
        // Linking is a new way in: the account proves itself first.
        let resp = app.send(Method::POST, "/api/v1/auth/user/identities/corp/link/", &tokens.access, Some(json!({"return_to": format!("{APP}/settings")}))).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(error_code(resp).await, "reauthentication_required");
        let resp = app.send(Method::POST, "/api/v1/auth/user/identities/corp/link/", &tokens.access, Some(json!({"return_to": format!("{APP}/settings"), "password": "not the password"}))).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(error_code(resp).await, "invalid_password");
        let resp = app.send(Method::POST, "/api/v1/auth/user/identities/corp/link/", &tokens.access, Some(json!({"return_to": format!("{APP}/settings"), "password": PW}))).await;
        assert_eq!(resp.status(), 200);
        let binding = cookie(resp.headers(), binding_name(&app)).unwrap().value().to_owned();
        let body: Value = resp.json().await.unwrap();
        assert_conforms("POST", "/api/v1/auth/user/identities/{provider}/link/", 200, Some(&body));
        let url = url::Url::parse(body["url"].as_str().unwrap()).unwrap();
        let get = |n: &str| url.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned()).unwrap();
        idp.issue(idp.key.sign(&idp.claims(&get("nonce"), "pre-registered", &email))).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", get("state")), Some(&binding)).await;
        assert_eq!(landing(&resp), (format!("{APP}/settings"), None));
        assert!(cookie(resp.headers(), "access_token").is_none(), "linking opens no session");
        let user = user_of(&app, &tokens.access).await;
        assert_eq!(user["identities"][0]["provider"], "corp");
        // Now the provider signs in to that account.
        let resp = sign_in_as(&app, &idp, "pre-registered", &email).await;
        assert_eq!(landing(&resp).1, None);
        assert_eq!(user_of(&app, &Tokens::from_response(&resp).access).await["id"], user["id"]);

        // Another account cannot take the same identity.
        let other = app.signed_in_user().await;
        let resp = app.send(Method::POST, "/api/v1/auth/user/identities/corp/link/", &other.access, Some(json!({"password": PW}))).await;
        let binding = cookie(resp.headers(), binding_name(&app)).unwrap().value().to_owned();
        let body: Value = resp.json().await.unwrap();
        let url = url::Url::parse(body["url"].as_str().unwrap()).unwrap();
        let get = |n: &str| url.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned()).unwrap();
        idp.issue(idp.key.sign(&idp.claims(&get("nonce"), "pre-registered", &email))).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", get("state")), Some(&binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("identity_in_use"));
        // Linking needs a signed-in user.
        let resp = app.client.post(app.url("/api/v1/auth/user/identities/corp/link/")).json(&json!({})).send().await.unwrap();
        assert_eq!(resp.status(), 401);

        // Unlinking needs full re-authentication.
        let id = user["identities"][0]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/auth/user/identities/{id}/");
        let resp = app.send(Method::DELETE, &path, &tokens.access, Some(json!({}))).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(error_code(resp).await, "reauthentication_required");
        let resp = app.send(Method::DELETE, &path, &other.access, Some(json!({"password": "correct horse battery"}))).await;
        assert_eq!(resp.status(), 404, "another user's identity");
        let resp = app.send(Method::DELETE, &path, &tokens.access, Some(json!({"password": PW}))).await;
        assert_eq!(resp.status(), 204);
        assert_eq!(user_of(&app, &tokens.access).await["identities"], json!([]));
        let resp = sign_in_as(&app, &idp, "pre-registered", &email).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("account_exists"), "unlinked: no way in through it");
    }

    async fn automatic_linking_is_an_operator_choice_for_verified_addresses_only(backend) {
        let idp = FakeIdp::start("").await;
        let app = TestApp::spawn_with(backend, provider_settings("corp", oidc_vars("corp", &idp.issuer, &[("AUTO_LINK", "true")]))).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, PW).await);
        let owner = user_of(&app, &tokens.access).await;
        // Unverified at the provider: never.
        let begun = begin(&app, "corp", "").await;
        let mut c = idp.claims(begun.nonce.as_deref().unwrap(), "auto", &email);
        c["email_verified"] = json!(false);
        idp.issue(idp.key.sign(&c)).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("account_exists"));
        // Verified: signs in to the account and links the identity.
        let subject = format!("auto-{}", uuid::Uuid::new_v4().simple());
        let resp = sign_in_as(&app, &idp, &subject, &email).await;
        assert_eq!(landing(&resp).1, None);
        let user = user_of(&app, &Tokens::from_response(&resp).access).await;
        assert_eq!(user["id"], owner["id"]);
        assert_eq!(user["identities"][0]["provider"], "corp");
        // The identity is part of the account: the export lists it, deletion erases it.
        let export = app.send(Method::POST, "/api/v1/auth/user/export/", &tokens.access, Some(json!({"password": PW}))).await;
        assert_eq!(export.status(), 200);
        let export: Value = export.json().await.unwrap();
        assert!(export.to_string().contains("\"identities\":[{"), "{export}");
        assert_eq!(crate::erasure::tables_holding(&app, &subject), ["identities"]);
        let resp = app.send(Method::DELETE, "/api/v1/auth/user/", &tokens.access, Some(json!({"password": PW}))).await;
        assert_eq!(resp.status(), 204);
        assert!(crate::erasure::tables_holding(&app, &subject).is_empty());
        assert!(crate::erasure::tables_holding(&app, owner["id"].as_str().unwrap()).iter().all(|t| t != "identities"));
    }

    async fn a_second_factor_still_applies_after_a_provider_sign_in(backend) {
        let idp = FakeIdp::start("").await;
        let app = TestApp::spawn_with(backend, provider_settings("corp", oidc_vars("corp", &idp.issuer, &[]))).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, PW).await);
        let (secret, step, recovery) = crate::mfa::enable_totp_with_recovery_codes(&app, &tokens).await;
        // Link the provider to the TOTP account (re-authenticating with the password and a code).
        let resp = app.send(Method::POST, "/api/v1/auth/user/identities/corp/link/", &tokens.access, Some(json!({"password": PW}))).await;
        assert_eq!(error_code(resp).await, "reauthentication_required", "TOTP is on: a code too");
        let resp = app.send(Method::POST, "/api/v1/auth/user/identities/corp/link/", &tokens.access, Some(json!({"password": PW, "code": recovery[0]}))).await;
        let binding = cookie(resp.headers(), binding_name(&app)).unwrap().value().to_owned();
        let body: Value = resp.json().await.unwrap();
        let url = url::Url::parse(body["url"].as_str().unwrap()).unwrap();
        let get = |n: &str| url.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned()).unwrap();
        idp.issue(idp.key.sign(&idp.claims(&get("nonce"), "mfa-user", &email))).await;
        assert_eq!(landing(&come_back(&app, "corp", &format!("code=c&state={}", get("state")), Some(&binding)).await).1, None);

        let begun = begin(&app, "corp", "").await;
        idp.issue(idp.key.sign(&idp.claims(begun.nonce.as_deref().unwrap(), "mfa-user", &email))).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("mfa_required"));
        assert!(cookie(resp.headers(), "access_token").is_none(), "no session before the second factor");
        assert!(cookie(resp.headers(), binding_name(&app)).is_none(), "the binding cookie stays");
        let cont = |body: Value, binding: Option<String>| {
            let mut req = app.client.post(app.url("/api/v1/auth/oauth/continue/")).json(&body);
            if let Some(b) = binding {
                req = req.header("cookie", format!("{}={b}", binding_name(&app)));
            }
            req.send()
        };
        let resp = cont(json!({}), Some(begun.binding.clone())).await.unwrap();
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "mfa_required");
        assert_eq!(body["factors"], json!(["totp", "recovery_code"]));
        assert_conforms("POST", "/api/v1/auth/oauth/continue/", 401, Some(&body));
        let resp = cont(json!({"code": "000000"}), Some(begun.binding.clone())).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "invalid_code");
        // Another browser has nothing waiting.
        let resp = cont(json!({"code": crate::mfa::hotp(&secret, step + 1, 6)}), None).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "invalid_state");
        let code = crate::mfa::hotp(&secret, (step + 1).max(crate::mfa::step_now()), 6);
        let resp = cont(json!({"code": code}), Some(begun.binding.clone())).await.unwrap();
        assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
        let claims = crate::mfa::claims(&Tokens::from_response(&resp).access);
        assert_eq!(claims["amr"], json!(["oauth", "otp"]));
        assert_eq!(claims["aal"], "aal2");
        let resp = cont(json!({"code": crate::mfa::hotp(&secret, crate::mfa::step_now() + 1, 6)}), Some(begun.binding.clone())).await.unwrap();
        assert_eq!(resp.status(), 401, "the wait is over");
        assert_eq!(error_code(resp).await, "invalid_state");
    }

    async fn a_provider_that_is_down_or_refuses_ends_the_flow_in_bounded_time(backend) {
        let closed = free_port();
        let idp = FakeIdp::start("").await;
        let mut vars = oidc_vars("down", &format!("http://127.0.0.1:{closed}"), &[]);
        vars.extend(oidc_vars("corp", &idp.issuer, &[]));
        let app = TestApp::spawn_with(backend, |s| {
            provider_settings("down,corp", vars)(s);
            s.provider_timeout = Duration::from_secs(2);
        }).await;
        let started = std::time::Instant::now();
        let resp = app.client.get(app.url("/api/v1/auth/oauth/down/authorize/")).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(landing(&resp).1.as_deref(), Some("provider_unavailable"));
        assert!(started.elapsed() < Duration::from_secs(5));
        // The token endpoint failing, refusing the code, or answering too slowly.
        for (status, body, delay, expected) in [
            (500, json!({"error": "server_error"}), 0, "provider_unavailable"),
            (400, json!({"error": "invalid_grant"}), 0, "code_exchange_failed"),
            (200, json!({"access_token": "x", "token_type": "Bearer"}), 0, "invalid_id_token"),
            (200, json!({"access_token": "x", "token_type": "Bearer", "id_token": "x"}), 5, "provider_unavailable"),
        ] {
            let begun = begin(&app, "corp", "").await;
            idp.server.reset().await;
            idp.mount_metadata().await;
            Mock::given(method("POST")).and(path("/token"))
                .respond_with(ResponseTemplate::new(status).set_body_json(body).set_delay(Duration::from_secs(delay)))
                .mount(&idp.server).await;
            let started = std::time::Instant::now();
            let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
            assert_eq!(landing(&resp).1.as_deref(), Some(expected), "{status} after {delay}s");
            assert!(started.elapsed() < Duration::from_secs(4), "bounded: {:?}", started.elapsed());
        }
        // And the provider back: sign-in works again by itself.
        assert_eq!(landing(&sign_in_as(&app, &idp, "back", &unique_email()).await).1, None);
    }

    async fn github_signs_in_with_the_primary_verified_address(backend) {
        let gh = MockServer::start().await;
        let vars: Vec<(String, String)> = [
            ("AUTHGATE_PROVIDER_GITHUB_CLIENT_ID", CLIENT_ID.to_owned()),
            ("AUTHGATE_PROVIDER_GITHUB_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("AUTHGATE_PROVIDER_GITHUB_AUTHORIZE_URL", format!("{}/login/oauth/authorize", gh.uri())),
            ("AUTHGATE_PROVIDER_GITHUB_TOKEN_URL", format!("{}/login/oauth/access_token", gh.uri())),
            ("AUTHGATE_PROVIDER_GITHUB_USERINFO_URL", format!("{}/user", gh.uri())),
        ].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let app = TestApp::spawn_with(backend, provider_settings("github", vars)).await;
        let primary = unique_email();
        // GitHub's documented answers: the token as JSON when asked for it, the user, the emails.
        Mock::given(method("POST")).and(path("/login/oauth/access_token"))
            .and(wiremock::matchers::header("accept", "application/json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email"})))
            .mount(&gh).await;
        Mock::given(method("GET")).and(path("/user"))
            .and(wiremock::matchers::header("authorization", "Bearer gho_test"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"login": "octocat", "id": 583231, "name": "The Octocat", "email": "public@example.com"})))
            .mount(&gh).await;
        Mock::given(method("GET")).and(path("/user/emails"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"email": "public@example.com", "primary": false, "verified": false, "visibility": "public"},
                {"email": primary, "primary": true, "verified": true, "visibility": "private"},
            ])))
            .mount(&gh).await;
        let begun = begin(&app, "github", "").await;
        assert!(begun.location.as_str().starts_with(&format!("{}/login/oauth/authorize?", gh.uri())));
        assert_eq!(begun.param("scope").as_deref(), Some("read:user user:email"));
        assert_eq!(begun.nonce, None, "plain OAuth 2.0: no nonce");
        let resp = come_back(&app, "github", &format!("code=gh-code&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1, None);
        let user = user_of(&app, &Tokens::from_response(&resp).access).await;
        assert_eq!(user["email"], primary.as_str());
        assert_eq!(user["email_verified"], true);
        assert_eq!(user["name"], "The Octocat");
        assert_eq!(user["identities"][0]["provider"], "github");
        assert!(!crate::erasure::tables_holding(&app, "583231").is_empty(), "the numeric id is the subject");
    }

    async fn microsoft_tokens_are_checked_against_their_own_tenant(backend) {
        let idp = FakeIdp::start("/common/v2.0").await;
        let base = idp.server.uri();
        idp.set_doc_issuer(&format!("{base}/{{tenantid}}/v2.0"));
        idp.publish(&[&idp.key]).await;
        let app = TestApp::spawn_with(backend, provider_settings("microsoft", oidc_vars("microsoft", &idp.issuer, &[]))).await;
        let tenant = "9188040d-6c67-4c5b-b112-36a304b66dad";
        for (tid, iss, expected) in [
            (Some(tenant), format!("{base}/{tenant}/v2.0"), None),
            (Some(tenant), format!("{base}/another-tenant/v2.0"), Some("invalid_id_token")),
            (None, format!("{base}/{tenant}/v2.0"), Some("invalid_id_token")),
        ] {
            let begun = begin(&app, "microsoft", "").await;
            let email = unique_email();
            let mut c = idp.claims(begun.nonce.as_deref().unwrap(), &format!("ms-{expected:?}"), &email);
            c["iss"] = json!(iss);
            if let Some(t) = tid {
                c["tid"] = json!(t);
            }
            idp.issue(idp.key.sign(&c)).await;
            let resp = come_back(&app, "microsoft", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
            assert_eq!(landing(&resp).1.as_deref(), expected, "{iss} {tid:?}");
            if expected.is_none() {
                let user = user_of(&app, &Tokens::from_response(&resp).access).await;
                assert_eq!(user["email_verified"], false, "Microsoft's email claim is not vouched for");
            }
        }
    }

    async fn apple_posts_the_callback_and_gets_a_signed_client_secret(backend) {
        let idp = FakeIdp::start("").await;
        let team_key = TestKey::new("APPLEKEY1");
        let dir = tempfile::tempdir().unwrap();
        let p8 = dir.path().join("AuthKey.p8");
        std::fs::write(&p8, team_key.pem()).unwrap();
        let vars: Vec<(String, String)> = [
            ("AUTHGATE_PROVIDER_APPLE_CLIENT_ID", CLIENT_ID.to_owned()),
            ("AUTHGATE_PROVIDER_APPLE_ISSUER", idp.issuer.clone()),
            ("AUTHGATE_PROVIDER_APPLE_TEAM_ID", "TEAM123456".to_owned()),
            ("AUTHGATE_PROVIDER_APPLE_KEY_ID", "APPLEKEY1".to_owned()),
            ("AUTHGATE_PROVIDER_APPLE_PRIVATE_KEY_FILE", p8.display().to_string()),
        ].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let app = TestApp::spawn_with(backend, |s| {
            provider_settings("apple", vars)(s);
            s.cookie_secure = true;
        }).await;
        let resp = app.client.get(app.url("/api/v1/auth/oauth/apple/authorize/")).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        let binding = cookie(resp.headers(), "__Host-authgate-oauth").expect("__Host- binding cookie when Secure");
        assert_eq!(binding.same_site(), Some(actix_web::cookie::SameSite::None), "Apple's form POST is cross-site");
        assert_eq!((binding.secure(), binding.path()), (Some(true), Some("/")));
        let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        let get = |n: &str| location.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned());
        assert_eq!(get("response_mode").as_deref(), Some("form_post"));
        assert_eq!(get("scope").as_deref(), Some("openid email name"));
        let email = unique_email();
        let mut c = idp.claims(&get("nonce").unwrap(), "001234.apple", &email);
        c["email_verified"] = json!("true"); // Apple sends a string
        c.as_object_mut().unwrap().remove("name");
        idp.issue(idp.key.sign(&c)).await;
        // Apple's page posts the form cross-site, with the user's name on the first sign-in.
        let user_json = r#"{"name":{"firstName":"Grace","lastName":"Hopper"},"email":"x@privaterelay.appleid.com"}"#;
        let form = format!("state={}&code=apple-code&user={}", get("state").unwrap(), enc(user_json));
        let resp = app.client.post(app.url("/api/v1/auth/oauth/apple/callback/"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://appleid.apple.com")
            .header("sec-fetch-site", "cross-site")
            .header("cookie", format!("__Host-authgate-oauth={}", binding.value()))
            .body(form).send().await.unwrap();
        assert_eq!(landing(&resp).1, None);
        assert_conforms("POST", "/api/v1/auth/oauth/{provider}/callback/", 302, None);
        let user = user_of(&app, &Tokens::from_response(&resp).access).await;
        assert_eq!((user["name"].as_str(), user["email_verified"].as_bool()), (Some("Grace Hopper"), Some(true)));
        // The client secret was a JWT signed with the team's key, as Apple specifies.
        let form = &idp.token_requests().await[0];
        let secret = form
            .iter()
            .find(|(k, _)| k == "client_secret")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("client_secret not in the form (Apple takes it there): {form:?}"));
        let claims = team_key.verify(&secret);
        assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("TEAM123456"), Some(CLIENT_ID)));
        let header = jsonwebtoken::decode_header(&secret).unwrap();
        assert_eq!(header.kid.as_deref(), Some("APPLEKEY1"));
    }
}

/// The browser arriving at authgate's callback from wherever the provider sent it (`back`, an
/// address on the service's public URL), with the flow's binding cookie.
async fn follow_back(app: &TestApp, back: &str, binding: &str) -> reqwest::Response {
    let url = url::Url::parse(back).unwrap();
    assert!(back.starts_with(&app.settings.public_url), "{back}");
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    app.client
        .get(app.url(&path))
        .header("cookie", format!("{}={binding}", binding_name(app)))
        .send()
        .await
        .unwrap()
}

both_backends! {
    async fn a_real_openid_provider_signs_users_in_across_its_key_rotation(backend) {
        let public_url = test_settings("sqlite://unused.db").public_url;
        let redirect = format!("{public_url}/api/v1/auth/oauth/peer/callback/");
        let Some(peer) = crate::oidc_peer::OidcPeer::start(json!({
            "clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [redirect]}],
            "accounts": {"unverified@example.com": {"email_verified": false, "name": "Not Verified"}},
        })).await else { return };
        let app = TestApp::spawn_with(backend, provider_settings("peer", oidc_vars("peer", &peer.issuer, &[]))).await;
        let login = unique_email();
        // A new account through the provider's own login page, code flow with PKCE; the address
        // comes from its userinfo endpoint (its ID tokens carry only `sub` here).
        let begun = begin(&app, "peer", "").await;
        let back = peer.log_in(begun.location.as_str(), &login).await;
        let resp = follow_back(&app, &back, &begun.binding).await;
        assert_eq!(landing(&resp).1, None, "{back}");
        let user = user_of(&app, &Tokens::from_response(&resp).access).await;
        assert_eq!((user["email"].as_str(), user["email_verified"].as_bool()), (Some(login.as_str()), Some(true)));
        assert_eq!(user["identities"][0]["provider"], "peer");
        // The same callback address again: a replayed state (and code).
        let resp = follow_back(&app, &back, &begun.binding).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("state_used"));
        // The provider's code under a fresh state of ours: the provider refuses a spent code.
        let fresh = begin(&app, "peer", "").await;
        let code = url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let resp = come_back(&app, "peer", &format!("code={code}&state={}", fresh.state), Some(&fresh.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("code_exchange_failed"));

        // The provider rotates its signing key: the next sign-in reads its JWKS again.
        let before = peer.kids().await;
        peer.rotate_keys().await;
        assert_ne!(peer.kids().await, before);
        let begun = begin(&app, "peer", "").await;
        let back = peer.log_in(begun.location.as_str(), &login).await;
        let resp = follow_back(&app, &back, &begun.binding).await;
        assert_eq!(landing(&resp).1, None);
        assert_eq!(user_of(&app, &Tokens::from_response(&resp).access).await["id"], user["id"]);

        // An address the provider has not verified is not marked verified.
        let begun = begin(&app, "peer", "").await;
        let back = peer.log_in(begun.location.as_str(), "unverified@example.com").await;
        let resp = follow_back(&app, &back, &begun.binding).await;
        assert_eq!(landing(&resp).1, None);
        let user = user_of(&app, &Tokens::from_response(&resp).access).await;
        assert_eq!((user["email_verified"].as_bool(), user["name"].as_str()), (Some(false), Some("Not Verified")));
    }
}

both_backends! {
    async fn an_account_made_by_a_provider_sets_a_password_through_the_reset_flow(backend) {
        let smtp = crate::smtp::SmtpServer::start().await;
        let idp = FakeIdp::start("").await;
        let app = crate::mail::mail_app(backend, &smtp, provider_settings("corp", oidc_vars("corp", &idp.issuer, &[]))).await;
        let email = unique_email();
        let resp = sign_in_as(&app, &idp, "made-by-provider", &email).await;
        let tokens = Tokens::from_response(&resp);
        assert_eq!(user_of(&app, &tokens.access).await["has_password"], false);
        // No password anyone knows: sign-in with one fails like any wrong password.
        assert_eq!(app.signin(&email, "correct horse battery", false).await.status(), 401);
        let resp = app.post_json("/api/v1/auth/password/forgot/", &json!({"email": email})).await;
        assert_eq!(resp.status(), 202);
        let code = smtp.wait_for(&email).await.code();
        let resp = app.post_json("/api/v1/auth/password/reset/", &json!({"email": email, "code": code, "password": "a brand new passphrase"})).await;
        assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
        let resp = app.signin(&email, "a brand new passphrase", false).await;
        assert_eq!(resp.status(), 204);
        let user = user_of(&app, &Tokens::from_response(&resp).access).await;
        assert_eq!(user["has_password"], true);
        // With a password, the identity can be unlinked (re-authenticating with it).
        let id = user["identities"][0]["id"].as_str().unwrap();
        let resp = app.send(Method::DELETE, &format!("/api/v1/auth/user/identities/{id}/"), &Tokens::from_response(&app.signin(&email, "a brand new passphrase", false).await).access, Some(json!({"password": "a brand new passphrase"}))).await;
        assert_eq!(resp.status(), 204);
    }
}

both_backends! {
    async fn an_account_made_by_a_provider_links_another_only_from_a_fresh_sign_in(backend) {
        let (idp, _other, app) = two_providers(backend, &[], &[]).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&sign_in_as(&app, &idp, "fresh", &email).await);
        // No password, no passkey: the sign-in just made is the proof.
        let resp = app.send(Method::POST, "/api/v1/auth/user/identities/other/link/", &tokens.access, Some(json!({}))).await;
        assert_eq!(resp.status(), 200);
        // The same session, opened long ago: sign in again first.
        {
            use diesel::prelude::*;
            use authgate::db::schema::sessions;
            let mut conn = app.state.pool.get().unwrap();
            let long_ago = chrono::Utc::now().naive_utc() - chrono::Duration::hours(1);
            diesel::update(sessions::table).set(sessions::created_at.eq(long_ago)).execute(&mut *conn).unwrap();
        }
        let resp = app.send(Method::POST, "/api/v1/auth/user/identities/other/link/", &tokens.access, Some(json!({}))).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(error_code(resp).await, "reauthentication_required");
    }
}

both_backends! {
    async fn invite_only_applies_to_accounts_a_provider_would_create(backend) {
        let idp = FakeIdp::start("").await;
        let app = TestApp::spawn_with(backend, |s| {
            provider_settings("corp", oidc_vars("corp", &idp.issuer, &[]))(s);
            s.invite_only = true;
        }).await;
        let email = unique_email();
        let resp = sign_in_as(&app, &idp, "invited", &email).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("invalid_invite_code"));
        assert!(crate::erasure::tables_holding(&app, &email).is_empty(), "no account");
        let code = {
            let mut conn = app.state.pool.get().unwrap();
            authgate::service::invites::create(&mut conn, &Default::default(), 1, Some(Duration::from_secs(3600))).unwrap().0
        };
        let begun = begin(&app, "corp", &format!("invite_code={code}")).await;
        idp.issue(idp.key.sign(&idp.claims(begun.nonce.as_deref().unwrap(), "invited", &email))).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1, None);
        // Signing in again needs no invitation: the account exists.
        assert_eq!(landing(&sign_in_as(&app, &idp, "invited", &email).await).1, None);
    }

    async fn a_providers_mfa_stands_for_the_second_factor_only_when_trusted(backend) {
        let (idp, untrusting, app) = two_providers(backend, &[("TRUST_MFA", "true"), ("AUTO_LINK", "true")], &[("AUTO_LINK", "true")]).await;
        let (email, _, _, _) = crate::mfa::user_with_totp(&app).await;
        // Trusted, and the provider says it checked several factors: aal2 at once.
        let begun = begin(&app, "corp", "").await;
        let mut c = idp.claims(begun.nonce.as_deref().unwrap(), "mfa-trusted", &email);
        c["amr"] = json!(["pwd", "mfa"]);
        idp.issue(idp.key.sign(&c)).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1, None);
        let claims = crate::mfa::claims(&Tokens::from_response(&resp).access);
        assert_eq!((claims["amr"].clone(), claims["aal"].clone()), (json!(["oauth", "mfa"]), json!("aal2")));
        // Trusted, but one factor only: authgate's own second factor is asked.
        let begun = begin(&app, "corp", "").await;
        let mut c = idp.claims(begun.nonce.as_deref().unwrap(), "mfa-trusted", &email);
        c["amr"] = json!(["pwd"]);
        idp.issue(idp.key.sign(&c)).await;
        let resp = come_back(&app, "corp", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("mfa_required"));
        // Not trusted: `mfa` in its token changes nothing.
        let begun = begin(&app, "other", "").await;
        let mut c = untrusting.claims(begun.nonce.as_deref().unwrap(), "mfa-untrusted", &email);
        c["amr"] = json!(["mfa"]);
        untrusting.issue(untrusting.key.sign(&c)).await;
        let resp = come_back(&app, "other", &format!("code=c&state={}", begun.state), Some(&begun.binding)).await;
        assert_eq!(landing(&resp).1.as_deref(), Some("mfa_required"));
    }
}
