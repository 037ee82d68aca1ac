//! Bad input always gets a 4xx with the error envelope, never a 5xx.

use serde_json::json;

use crate::helpers::*;

struct Case {
    what: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn case(
    what: &'static str,
    path: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        what,
        path,
        content_type: Some("application/json"),
        body: body.into(),
        status,
        code,
    }
}

const SIGNUP: &str = "/api/v1/auth/signup/";
const SIGNIN: &str = "/api/v1/auth/signin/";

fn signup(email: &str, password: &str, name: &str) -> Vec<u8> {
    json!({"email": email, "password": password, "name": name})
        .to_string()
        .into_bytes()
}

fn cases() -> Vec<Case> {
    let deep = format!(
        r#"{{"email": "a@example.com", "password": "correct horse", "name": {}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    vec![
        case("malformed json", SIGNUP, r#"{"email": "a@example.com","#, 400, "malformed_json"),
        case("not json at all", SIGNIN, "hello", 400, "malformed_json"),
        case("empty body", SIGNUP, "", 400, "malformed_json"),
        case("json null", SIGNUP, "null", 400, "invalid_request"),
        case("json array", SIGNUP, "[]", 400, "invalid_request"),
        case("wrong types", SIGNUP, r#"{"email": 1, "password": true, "name": []}"#, 400, "invalid_request"),
        case("missing fields", SIGNUP, "{}", 400, "invalid_request"),
        case("missing password", SIGNIN, r#"{"login": "a@example.com"}"#, 400, "invalid_request"),
        case("remember_me not a bool", SIGNIN, r#"{"login": "a@example.com", "password": "x", "remember_me": "yes"}"#, 400, "invalid_request"),
        case("huge number", SIGNIN, r#"{"login": "a@example.com", "password": "x", "remember_me": 1e999}"#, 400, "malformed_json"),
        case("duplicate keys", SIGNUP, r#"{"email": "a@example.com", "email": "b@example.com", "password": "correct horse", "name": "n"}"#, 400, "invalid_request"),
        case("deep nesting", SIGNUP, deep, 400, "invalid_request"),
        case("invalid utf-8", SIGNUP, b"{\"email\": \"\xff\xfe@example.com\", \"password\": \"correct horse\", \"name\": \"n\"}".to_vec(), 400, "malformed_json"),
        case("empty email", SIGNUP, signup("", "correct horse", "n"), 400, "invalid_email"),
        case("empty password", SIGNUP, signup("a@example.com", "", "n"), 400, "weak_password"),
        case("empty name", SIGNUP, signup("a@example.com", "correct horse", ""), 400, "invalid_name"),
        case("short password", SIGNUP, signup("a@example.com", "1234567", "n"), 400, "weak_password"),
        case("10 KB name", SIGNUP, signup("a@example.com", "correct horse", &"n".repeat(10_000)), 400, "invalid_name"),
        case("2 KB password", SIGNUP, signup("a@example.com", &"p".repeat(2048), "n"), 400, "invalid_password"),
        case("2 KB password at signin", SIGNIN, json!({"login": "a@example.com", "password": "p".repeat(2048)}).to_string(), 400, "invalid_password"),
        case("empty password at signin", SIGNIN, json!({"login": "a@example.com", "password": ""}).to_string(), 400, "invalid_password"),
        case("email without @", SIGNUP, signup("example.com", "correct horse", "n"), 400, "invalid_email"),
        case("zero-width space in email", SIGNUP, signup("a\u{200b}b@example.com", "correct horse", "n"), 400, "invalid_email"),
        case("right-to-left override in email", SIGNUP, signup("a\u{202e}b@example.com", "correct horse", "n"), 400, "invalid_email"),
        case("NUL in email", SIGNUP, signup("a\u{0}b@example.com", "correct horse", "n"), 400, "invalid_email"),
        case("300-byte email", SIGNUP, signup(&format!("{}@example.com", "a".repeat(300)), "correct horse", "n"), 400, "invalid_email"),
        case("control character in name", SIGNUP, signup("a@example.com", "correct horse", "a\u{7}b"), 400, "invalid_name"),
        case("bad contact type", SIGNUP, json!({"email": "a@example.com", "password": "correct horse", "name": "n", "contact": {"type": "icq", "value": "1"}}).to_string(), 400, "invalid_contact"),
        case("oversize body", SIGNUP, json!({"email": "a@example.com", "password": "correct horse", "name": "n".repeat(20_000)}).to_string(), 413, "payload_too_large"),
        Case { what: "text/plain", path: SIGNUP, content_type: Some("text/plain"), body: signup("a@example.com", "correct horse", "n"), status: 415, code: "unsupported_media_type" },
        Case { what: "form body", path: SIGNIN, content_type: Some("application/x-www-form-urlencoded"), body: b"login=a%40example.com&password=x".to_vec(), status: 415, code: "unsupported_media_type" },
        Case { what: "no content type", path: SIGNUP, content_type: None, body: signup("a@example.com", "correct horse", "n"), status: 415, code: "unsupported_media_type" },
        Case { what: "json-looking vendor type", path: SIGNUP, content_type: Some("application/jsonp"), body: signup("a@example.com", "correct horse", "n"), status: 415, code: "unsupported_media_type" },
    ]
}

both_backends! {
    async fn bad_inputs_get_a_4xx_envelope_never_a_5xx(backend) {
        let app = TestApp::spawn(backend).await;
        for c in cases() {
            let mut req = app.client.post(app.url(c.path)).body(c.body.clone());
            if let Some(ct) = c.content_type {
                req = req.header("content-type", ct);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            assert!(!resp.status().is_server_error(), "{}: 5xx", c.what);
            assert_eq!(status, c.status, "{}", c.what);
            assert_eq!(error_code(resp).await, c.code, "{}", c.what);
        }
        // Deep nesting inside an ignored field is skipped without recursion: accepted, no crash.
        let deep = format!(r#"{{"x": {}{}, "email": "deep@example.com", "password": "correct horse", "name": "n"}}"#, "[".repeat(7_000), "]".repeat(7_000));
        let resp = app.client.post(app.url(SIGNUP)).header("content-type", "application/json").body(deep).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        // Nothing above created an account.
        let resp = app.signup("a@example.com", "correct horse", ).await;
        assert_eq!(resp.status(), 201);
    }

    async fn unknown_paths_and_methods_get_the_envelope(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.client.get(app.url("/api/v1/auth/nope/")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(error_code(resp).await, "not_found");
        let resp = app.client.get(app.url("/api/v1/auth/signin/")).send().await.unwrap();
        assert_eq!(resp.status(), 405);
        assert_eq!(error_code(resp).await, "method_not_allowed");
        let resp = app.client.put(app.url("/api/v1/auth/user/")).send().await.unwrap();
        assert_eq!(resp.status(), 405);
    }

    async fn unknown_fields_are_ignored_not_assigned(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.post_json(SIGNUP, &json!({
            "email": unique_email(), "password": "correct horse battery", "name": "Mallory",
            "email_verified": true, "id": "00000000-0000-0000-0000-000000000000", "role": "admin", "disabled": false
        })).await;
        assert_eq!(resp.status(), 201);
        let user: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(user["email_verified"], false);
        assert_ne!(user["id"], "00000000-0000-0000-0000-000000000000");
        assert!(user.get("role").is_none());
    }
}
