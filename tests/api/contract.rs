//! `openapi.yml` is the contract: the routes the app serves are exactly the spec's, and real
//! responses (status and body) match what the spec says for them.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::*;

fn spec() -> Value {
    serde_yaml_ng::from_str(authgate::routes::health::OPENAPI).expect("openapi.yml is valid YAML")
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[test]
fn spec_and_app_serve_the_same_routes() {
    let spec = spec();
    assert!(
        spec["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "OpenAPI 3.1"
    );
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                in_spec.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    let in_app: BTreeSet<(String, String)> = authgate::startup::routes()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect();
    let missing_from_spec: Vec<_> = in_app.difference(&in_spec).collect();
    let missing_from_app: Vec<_> = in_spec.difference(&in_app).collect();
    assert!(
        missing_from_spec.is_empty(),
        "served but not in openapi.yml: {missing_from_spec:?}"
    );
    assert!(
        missing_from_app.is_empty(),
        "in openapi.yml but not served: {missing_from_app:?}"
    );
}

/// Resolves a local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => v,
    }
}

/// What is wrong with `body` under `schema`, read in the context of the whole document (so
/// `$ref`s resolve).
fn schema_errors(spec: &Value, schema: &Value, body: &Value) -> Vec<String> {
    let mut root = spec.clone();
    let obj = root.as_object_mut().unwrap();
    obj.remove("paths");
    obj.remove("webhooks");
    obj.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    for (k, v) in schema.as_object().unwrap() {
        obj.insert(k.clone(), v.clone());
    }
    let validator =
        jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("schema {schema}: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Asserts that a webhook body is documented under `webhooks:` (by its `type`) and matches the
/// schema there (which allows no field beyond the documented ones).
pub fn assert_webhook_conforms(body: &Value) {
    let spec = spec();
    let kind = body["type"].as_str().expect("a `type`");
    let schema =
        &spec["webhooks"][kind]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "webhook {kind} is not in the spec");
    let errors = schema_errors(&spec, schema, body);
    assert!(
        errors.is_empty(),
        "webhook {kind}: body {body} does not match the spec: {errors:?}"
    );
}

/// Every event type a webhook endpoint can ask for is documented, and nothing else.
#[test]
fn every_webhook_event_type_is_documented() {
    let spec = spec();
    let documented: BTreeSet<&str> = spec["webhooks"]
        .as_object()
        .expect("webhooks:")
        .keys()
        .map(String::as_str)
        .collect();
    let types: BTreeSet<&str> = authgate::settings::WebhookEventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(documented, types);
}

/// Asserts that `status` is documented for the operation and `body` matches its JSON schema.
pub fn assert_conforms(method: &str, path: &str, status: u16, body: Option<&Value>) {
    let spec = spec();
    let op = &spec["paths"][path][method.to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not in the spec");
    let responses = &op["responses"];
    let response = responses
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented"));
    let response = resolve(&spec, response);
    let schema_ptr = response["content"]["application/json"]["schema"].clone();
    match (body, schema_ptr.is_null()) {
        (Some(body), false) => {
            let errors = schema_errors(&spec, &schema_ptr, body);
            assert!(
                errors.is_empty(),
                "{method} {path} {status}: body {body} does not match the spec: {errors:?}"
            );
        }
        (Some(body), true) => {
            panic!("{method} {path} {status}: spec documents no JSON body but got {body}")
        }
        (None, false) => {
            panic!("{method} {path} {status}: spec documents a JSON body but none was sent")
        }
        (None, true) => {}
    }
}

async fn check(resp: reqwest::Response, method: &str, path: &str) -> Option<Value> {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body: Option<Value> = if text.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}")),
        )
    };
    assert_conforms(method, path, status, body.as_ref());
    body
}

both_backends! {
    async fn real_responses_match_the_spec(backend) {
        let app = TestApp::spawn(backend).await;
        let signup = "/api/v1/auth/signup/";
        let signin = "/api/v1/auth/signin/";
        let email = unique_email();
        let resp = app.post_json(signup, &json!({"email": email, "password": "correct horse battery", "name": "C",
            "contact": {"type": "telegram", "value": "@c"}})).await;
        let tokens = Tokens::from_response(&resp);
        check(resp, "POST", signup).await;
        check(app.post_json(signup, &json!({"email": email, "password": "correct horse battery", "name": "C"})).await, "POST", signup).await;
        check(app.post_json(signup, &json!({"email": "x"})).await, "POST", signup).await;
        check(app.client.post(app.url(signup)).header("content-type", "text/plain").body("x").send().await.unwrap(), "POST", signup).await;
        check(app.client.post(app.url(signup)).json(&json!({"name": "n".repeat(20_000)})).send().await.unwrap(), "POST", signup).await;
        check(app.signin(&email, "correct horse battery", true).await, "POST", signin).await;
        check(app.signin(&email, "wrong password!", false).await, "POST", signin).await;
        check(app.client.post(app.url(signin)).header("cookie", format!("access_token={}", tokens.access))
            .header("origin", "https://evil.example").json(&json!({"login": email, "password": "x"})).send().await.unwrap(), "POST", signin).await;

        let user = "/api/v1/auth/user/";
        check(app.get_user_bearer(&tokens.access).await, "GET", user).await;
        check(app.client.get(app.url(user)).send().await.unwrap(), "GET", user).await;
        check(app.get_user_bearer("bad").await, "GET", user).await;

        let refresh = "/api/v1/auth/custom-refresh/";
        check(app.refresh(&tokens.refresh).await, "POST", refresh).await;
        check(app.refresh("bad").await, "POST", refresh).await;
        let logout = "/api/v1/auth/custom-logout/";
        check(app.client.post(app.url(logout)).send().await.unwrap(), "POST", logout).await;

        let token = "/api/v1/auth/token/";
        let body = check(app.post_json(token, &json!({"grant_type": "password", "login": email, "password": "correct horse battery"})).await, "POST", token).await.unwrap();
        check(app.post_json(token, &json!({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})).await, "POST", token).await;
        check(app.post_json(token, &json!({"grant_type": "refresh_token", "refresh_token": "bad"})).await, "POST", token).await;
        check(app.post_json(token, &json!({"grant_type": "nope"})).await, "POST", token).await;
        let revoke = "/api/v1/auth/token/revoke/";
        check(app.post_json(revoke, &json!({"token": "whatever"})).await, "POST", revoke).await;
        let verify = "/api/v1/auth/verify/";
        let access = body["access_token"].as_str().unwrap();
        check(app.client.get(app.url(verify)).bearer_auth(access).send().await.unwrap(), "GET", verify).await;
        check(app.client.post(app.url(verify)).bearer_auth(access).send().await.unwrap(), "POST", verify).await;
        check(app.client.get(app.url(verify)).send().await.unwrap(), "GET", verify).await;

        for path in ["/", "/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/openid-configuration"] {
            check(app.client.get(app.url(path)).send().await.unwrap(), "GET", path).await;
        }
    }
}

both_backends! {
    async fn captcha_refusals_match_the_spec_on_every_protected_route(backend) {
        use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
        let url = format!("{}/turnstile/v0/siteverify", server.uri());
        let app = TestApp::spawn_with(backend, move |s| {
            s.captcha_provider = authgate::settings::CaptchaProvider::Turnstile;
            s.captcha_secret = Some(authgate::settings::Secret::new("test-secret"));
            s.captcha_verify_url = Some(url);
        })
        .await;
        let spec = spec();
        let protected = CAPTCHA_GUARDED;
        let mut gated: Vec<&str> = authgate::startup::routes()
            .into_iter()
            .filter(|(m, p)| authgate::startup::requires_captcha(m, p))
            .map(|(_, p)| p)
            .collect();
        gated.sort_unstable();
        let mut expected = protected;
        expected.sort_unstable();
        assert_eq!(gated, expected, "the captcha gate covers exactly these routes");
        for path in protected {
            let params: Vec<String> = spec["paths"][path]["post"]["parameters"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p["$ref"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            for p in ["#/components/parameters/CaptchaQuery", "#/components/parameters/CaptchaHeader"] {
                assert!(params.iter().any(|x| x == p), "{path} does not document {p}");
            }
            let body = check(app.post_json(path, &json!({})).await, "POST", path).await.unwrap();
            assert_eq!(body["error"], "captcha_invalid", "{path}");
            let body = check(app.post_json(path, &json!({"captcha": "tok"})).await, "POST", path).await.unwrap();
            assert_eq!(body["error"], "captcha_unavailable", "{path}");
        }
    }

    async fn mail_responses_match_the_spec(backend) {
        let smtp = crate::smtp::SmtpServer::start().await;
        let url = smtp.url();
        let app = TestApp::spawn_with(backend, move |s| {
            s.smtp_url = Some(authgate::settings::SmtpUrl::parse(&url).unwrap());
            s.frontend_url = Some(s.public_url.clone());
            s.mail_per_ip_per_hour = 5;
        }).await;
        let email = unique_email();
        let resp = app.signup(&email, "correct horse battery").await;
        let tokens = Tokens::from_response(&resp);
        let code = smtp.wait_for(&email).await.code();
        let bearer = |m: reqwest::Method, p: &str| app.client.request(m, app.url(p)).bearer_auth(&tokens.access);

        let verify = "/api/v1/auth/verify-email/";
        check(bearer(reqwest::Method::POST, verify).json(&json!({"verification_code": "000000x"})).send().await.unwrap(), "POST", verify).await;
        check(app.post_json(verify, &json!({"verification_code": code})).await, "POST", verify).await;
        check(bearer(reqwest::Method::POST, verify).json(&json!({"verification_code": code})).send().await.unwrap(), "POST", verify).await;

        let user = "/api/v1/auth/user/";
        check(bearer(reqwest::Method::PATCH, user).json(&json!({"name": "N", "avatar": null})).send().await.unwrap(), "PATCH", user).await;
        check(bearer(reqwest::Method::PATCH, user).json(&json!({"avatar": "ftp://x"})).send().await.unwrap(), "PATCH", user).await;
        check(bearer(reqwest::Method::PATCH, user).json(&json!({"email": email})).send().await.unwrap(), "PATCH", user).await;
        check(app.client.patch(app.url(user)).json(&json!({"name": "N"})).send().await.unwrap(), "PATCH", user).await;

        let change = "/api/v1/auth/user/password/";
        check(bearer(reqwest::Method::POST, change).json(&json!({"old_password": "nope nope", "password": "brand new password"})).send().await.unwrap(), "POST", change).await;
        check(bearer(reqwest::Method::POST, change).json(&json!({"old_password": "correct horse battery", "password": "brand new password"})).send().await.unwrap(), "POST", change).await;

        let reset = "/api/v1/auth/password/reset/";
        check(app.post_json(reset, &json!({"email": email, "code": "123456", "password": "brand new password"})).await, "POST", reset).await;
        check(app.post_json(reset, &json!({"email": email})).await, "POST", reset).await;

        let resend = "/api/v1/auth/verify-email/resend/";
        let forgot = "/api/v1/auth/password/forgot/";
        check(app.post_json(resend, &json!({})).await, "POST", resend).await;
        check(app.post_json(forgot, &json!({"email": "not an email"})).await, "POST", forgot).await;
        for _ in 0..4 {
            check(app.post_json(forgot, &json!({"email": unique_email()})).await, "POST", forgot).await;
        }
        check(app.post_json(resend, &json!({"email": email})).await, "POST", resend).await;
        let limited = app.post_json(forgot, &json!({"email": email})).await;
        assert_eq!(limited.status(), 429);
        check(limited, "POST", forgot).await;
    }
}
