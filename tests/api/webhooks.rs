//! Webhooks: events about accounts, signed as Standard Webhooks says (checked by the reference
//! library from PyPI, an implementation independent of ours), delivered through the outbox in
//! order per user, resumed after the receiver was down, filtered per endpoint, and carrying no
//! secret.

use std::io::{BufRead as _, BufReader};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authgate::settings::{Secret, WebhookEndpoint, WebhookEventType};
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::contract::assert_webhook_conforms;
use crate::erasure::tables_holding;
use crate::helpers::*;
use crate::peers::peer_available;

/// The example secret of the Standard Webhooks reference libraries.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PW: &str = "correct horse battery";
const NEW_PW: &str = "a different horse battery";
const WAIT: Duration = Duration::from_secs(30);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    json: Value,
}

impl Delivery {
    fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap_or_default()
    }
}

fn endpoint(id: &str, server: &MockServer, events: &[WebhookEventType]) -> WebhookEndpoint {
    WebhookEndpoint {
        id: id.to_owned(),
        url: format!("{}/{id}", server.uri()),
        secret: Secret::new(SECRET),
        events: events.to_vec(),
    }
}

/// A receiver that accepts every event (204).
async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

/// A receiver that answers `status` to the first `times` events (at `only` when given, anywhere
/// otherwise), then 204.
async fn receiver_failing_first(status: u16, times: u64, only: Option<&str>) -> MockServer {
    let server = MockServer::start().await;
    let failing = Mock::given(method("POST"));
    let failing = match only {
        Some(p) => failing.and(path(p)),
        None => failing,
    };
    failing
        .respond_with(ResponseTemplate::new(status))
        .up_to_n_times(times)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

async fn webhook_app(backend: Backend, endpoints: Vec<WebhookEndpoint>) -> TestApp {
    TestApp::spawn_with(backend, move |s| {
        s.webhooks = endpoints;
        s.outbox_poll_interval = Duration::from_millis(50);
    })
    .await
}

/// What `endpoint` received, in order (failed attempts included).
async fn deliveries(server: &MockServer, endpoint: &str) -> Vec<Delivery> {
    let wanted = format!("/{endpoint}");
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == wanted)
        .map(|r| {
            let h = |n: &str| {
                r.headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let body = String::from_utf8(r.body.clone()).expect("utf-8 body");
            Delivery {
                id: h("webhook-id"),
                timestamp: h("webhook-timestamp"),
                signature: h("webhook-signature"),
                json: serde_json::from_str(&body).expect("JSON body"),
                body,
            }
        })
        .collect()
}

/// The event types `endpoint` received about `user_id`, in order.
fn types_for(d: &[Delivery], user_id: &str) -> Vec<String> {
    d.iter()
        .filter(|d| d.json["data"]["user_id"] == user_id)
        .map(|d| d.kind().to_owned())
        .collect()
}

/// Waits until what `endpoint` received satisfies `done`.
async fn wait_until(
    server: &MockServer,
    endpoint: &str,
    done: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let deadline = Instant::now() + WAIT;
    loop {
        let d = deliveries(server, endpoint).await;
        if done(&d) {
            // Every body as openapi.yml documents it, with no field beyond it.
            for delivery in &d {
                assert_webhook_conforms(&delivery.json);
            }
            return d;
        }
        let kinds: Vec<&str> = d.iter().map(Delivery::kind).collect();
        assert!(Instant::now() < deadline, "{endpoint} got only {kinds:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each delivery checked by the `standardwebhooks` package: `ok <type>` or `invalid ...` per
/// delivery; `None` when the package is missing (skipped loudly, or a failure in CI).
fn verify_independently(deliveries: &[Delivery]) -> Option<Vec<String>> {
    if !peer_available(
        "python3 with standardwebhooks (pip install standardwebhooks)",
        Command::new("python3").args(["-c", "import standardwebhooks"]),
    ) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deliveries.json");
    let list: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            json!({
                "headers": {
                    "webhook-id": d.id,
                    "webhook-timestamp": d.timestamp,
                    "webhook-signature": d.signature,
                },
                "body": d.body,
            })
        })
        .collect();
    std::fs::write(&file, serde_json::to_vec(&list).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/verify_webhooks.py"
        ))
        .arg(SECRET)
        .arg(&file)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

async fn user_id(app: &TestApp, access: &str) -> String {
    let user: Value = app.get_user_bearer(access).await.json().await.unwrap();
    user["id"].as_str().unwrap().to_owned()
}

fn password_hash(app: &TestApp, user_id: &str) -> String {
    let mut conn = app.state.pool.get().unwrap();
    authgate::db::users::find_by_id(&mut conn, user_id)
        .unwrap()
        .unwrap()
        .password_hash
}

async fn logout(app: &TestApp, tokens: &Tokens) {
    let r = app
        .client
        .post(app.url("/api/v1/auth/custom-logout/"))
        .header(
            "cookie",
            format!(
                "access_token={}; refresh_token={}",
                tokens.access, tokens.refresh
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

both_backends! {
    async fn signup_password_change_and_logout_are_signed_events_without_secrets(backend) {
        let server = receiver().await;
        let app = webhook_app(backend, vec![endpoint("crm", &server, &[])]).await;
        let email = unique_email();
        let r = app.signup(&email, PW).await;
        assert_eq!(r.status(), 201);
        let tokens = Tokens::from_response(&r);
        let id = user_id(&app, &tokens.access).await;
        let first_hash = password_hash(&app, &id);
        let r = app.send(Method::POST, "/api/v1/auth/user/password/", &tokens.access,
            Some(json!({"old_password": PW, "password": NEW_PW}))).await;
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        let second_hash = password_hash(&app, &id);
        logout(&app, &tokens).await;

        let expected = ["user.created", "session.created", "password.changed", "session.revoked"];
        let got = wait_until(&server, "crm", |d| types_for(d, &id).len() >= expected.len()).await;
        assert_eq!(types_for(&got, &id), expected, "in the order they happened");
        let created = &got[0].json;
        assert_eq!(created["data"]["email"], email.as_str());
        assert_eq!(created["data"]["email_verified"], false);
        assert_eq!(created["data"]["method"], "password");
        assert!(chrono::DateTime::parse_from_rfc3339(created["timestamp"].as_str().unwrap()).is_ok());
        let session = &got[1].json["data"];
        assert_eq!(session["aal"], "aal1");
        assert_eq!(got[2].json["data"]["how"], "changed");
        assert_eq!(got[3].json["data"]["session_id"], session["session_id"]);
        assert_eq!(got[3].json["data"]["reason"], "logout");
        // A UUID v7 per event, as `webhook-id`.
        for d in &got {
            let uuid = uuid::Uuid::parse_str(&d.id).expect("webhook-id is a UUID");
            assert_eq!(uuid.get_version_num(), 7);
        }
        let mut ids: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), got.len(), "one id per event");

        // Never a secret, code, token or password hash in a body.
        for d in &got {
            for secret in [PW, NEW_PW, &tokens.access, &tokens.refresh, &first_hash, &second_hash, "$2"] {
                assert!(!d.body.contains(secret), "{} carries a secret: {}", d.kind(), d.body);
            }
        }

        // The reference library accepts every signature, and refuses a tampered body.
        let mut tampered = got[0].clone();
        tampered.body = tampered.body.replace(&email, "someone-else@example.com");
        let mut all = got.clone();
        all.push(tampered);
        if let Some(verdicts) = verify_independently(&all) {
            let want: Vec<String> = expected.iter().map(|t| format!("ok {t}")).collect();
            assert_eq!(verdicts[..expected.len()], want[..], "{verdicts:?}");
            assert!(verdicts[expected.len()].starts_with("invalid"), "{verdicts:?}");
        }
    }

    async fn an_endpoint_gets_only_the_events_it_asked_for(backend) {
        let server = receiver().await;
        let app = webhook_app(backend, vec![
            endpoint("all", &server, &[]),
            endpoint("roles", &server, &[WebhookEventType::RoleChanged]),
        ]).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, PW).await);
        let id = user_id(&app, &tokens.access).await;
        {
            let mut conn = app.state.pool.get().unwrap();
            let user = authgate::db::users::find_by_email(&mut conn, &email).unwrap().unwrap();
            let role = authgate::domain::Role::parse("admin").unwrap();
            authgate::service::roles::change(&app.state, &mut conn, &Default::default(), &user, &role, true, false).unwrap();
        }
        let all = wait_until(&server, "all", |d| types_for(d, &id).contains(&"role.changed".to_owned())).await;
        assert_eq!(types_for(&all, &id), ["user.created", "session.created", "role.changed"]);
        let roles = wait_until(&server, "roles", |d| !d.is_empty()).await;
        assert_eq!(types_for(&roles, &id), ["role.changed"]);
        let (a, r) = (&all[2], &roles[0]);
        assert_eq!(r.json["data"], json!({"user_id": id, "role": "admin", "granted": true}));
        assert_eq!(a.id, r.id, "one event, one id on every endpoint");
        assert_eq!(a.body, r.body);
        if let Some(verdicts) = verify_independently(&roles) {
            assert_eq!(verdicts, ["ok role.changed"]);
        }
        // Nothing else arrives at the filtered endpoint.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(deliveries(&server, "roles").await.len(), 1);
    }

    async fn the_data_export_lists_the_events_sent_about_the_account(backend) {
        let server = receiver().await;
        let app = webhook_app(backend, vec![endpoint("crm", &server, &[])]).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, PW).await);
        let id = user_id(&app, &tokens.access).await;
        let got = wait_until(&server, "crm", |d| types_for(d, &id).len() == 2).await;
        // The export says so once the sender has recorded the delivery.
        let deadline = Instant::now() + WAIT;
        let export = loop {
            let r = app.client.post(app.url("/api/v1/auth/user/export/")).bearer_auth(&tokens.access)
                .json(&json!({"password": PW})).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            let sent = body["webhooks"].as_array().unwrap().iter().all(|w| w["status"] == "sent");
            if sent || Instant::now() > deadline {
                break body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        crate::contract::assert_conforms("POST", "/api/v1/auth/user/export/", 200, Some(&export));
        let listed: Vec<(&str, &str, &str, &str)> = export["webhooks"].as_array().unwrap().iter()
            .map(|w| (w["event_id"].as_str().unwrap(), w["type"].as_str().unwrap(), w["endpoint"].as_str().unwrap(), w["status"].as_str().unwrap()))
            .collect();
        let expected: Vec<(&str, &str, &str, &str)> = got.iter().map(|d| (d.id.as_str(), d.kind(), "crm", "sent")).collect();
        assert_eq!(listed, expected);
        assert!(!export.to_string().contains(&server.uri()), "an endpoint is named by its id, never its URL");
    }

    async fn a_deleted_user_is_one_last_event_carrying_only_the_id(backend) {
        let server = receiver().await;
        let app = webhook_app(backend, vec![endpoint("crm", &server, &[])]).await;
        let email = unique_email();
        let tokens = Tokens::from_response(&app.signup(&email, PW).await);
        let id = user_id(&app, &tokens.access).await;
        wait_until(&server, "crm", |d| types_for(d, &id).len() >= 2).await;
        // Control: the delivered events are kept (as sent) while the account exists.
        assert!(tables_holding(&app, &email).contains(&"outbox".to_owned()));
        let r = app.send(Method::DELETE, "/api/v1/auth/user/", &tokens.access, Some(json!({"password": PW}))).await;
        assert_eq!(r.status(), 204);
        let got = wait_until(&server, "crm", |d| types_for(d, &id).contains(&"user.deleted".to_owned())).await;
        let deleted = got.iter().find(|d| d.kind() == "user.deleted").unwrap();
        assert_eq!(deleted.json["data"], json!({"user_id": id}), "the id only");
        if let Some(verdicts) = verify_independently(std::slice::from_ref(deleted)) {
            assert_eq!(verdicts, ["ok user.deleted"]);
        }
        // Once delivered, the last event leaves the outbox too: nothing names the person.
        let deadline = Instant::now() + WAIT;
        loop {
            let holding: Vec<String> = [email.as_str(), id.as_str()].iter().flat_map(|n| tables_holding(&app, n)).collect();
            if holding.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "still held in {holding:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn events_stay_in_order_and_resume_after_the_receiver_was_down(backend) {
        // Down for the first two attempts.
        let server = receiver_failing_first(503, 2, Some("/crm")).await;
        let app = webhook_app(backend, vec![endpoint("crm", &server, &[]), endpoint("other", &server, &[])]).await;
        let tokens = Tokens::from_response(&app.signup(&unique_email(), PW).await);
        let id = user_id(&app, &tokens.access).await;
        let r = app.send(Method::PATCH, "/api/v1/auth/user/", &tokens.access, Some(json!({"name": "Ada"}))).await;
        assert_eq!(r.status(), 200);
        logout(&app, &tokens).await;

        let expected = ["user.created", "session.created", "user.updated", "session.revoked"];
        // The other endpoint is not held back by the one that is down.
        let other = wait_until(&server, "other", |d| types_for(d, &id).len() >= 4).await;
        assert_eq!(types_for(&other, &id), expected);
        let got = wait_until(&server, "crm", |d| types_for(d, &id).len() >= 6).await;
        // Two refused attempts of the first event, then the same event again, then the rest
        // in order: nothing later overtook it while it was being retried.
        assert_eq!(types_for(&got, &id), ["user.created", "user.created", "user.created", "session.created", "user.updated", "session.revoked"]);
        assert_eq!(got[0].id, got[2].id, "a retry carries the same webhook-id");
        assert_eq!(got[1].id, got[2].id);
        assert_eq!(got[0].body, got[2].body);
        assert_eq!(got[3].json["data"]["user_id"], id.as_str());
        assert_eq!(got[4].json["data"]["changed"], json!(["name"]));
        if let Some(verdicts) = verify_independently(&got[2..]) {
            assert!(verdicts.iter().all(|v| v.starts_with("ok ")), "{verdicts:?}");
        }
        let count = |outcome: &str| app.state.metrics.webhook_deliveries.with_label_values(&["crm", outcome]).get();
        // The last delivery is counted just after the receiver got it.
        let deadline = Instant::now() + WAIT;
        while count("delivered") < 4 {
            assert!(Instant::now() < deadline, "delivered: {}", count("delivered"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(count("delivered"), 4);
        assert_eq!(count("retried"), 2);
        assert_eq!(count("failed"), 0);
    }

    async fn the_secret_never_reaches_the_logs(backend) {
        let server = receiver_failing_first(500, 1, None).await;
        let db = TestDb::create(backend);
        // The secret from a file, as Kubernetes hands it over.
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("crm-secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
        // A token in the query, as some receivers take one: not logged either.
        let url = format!("{}/crm?token=query-token-not-for-logs", server.uri());
        let mut p = Proc::start(&db.url, &[
            ("AUTHGATE_WEBHOOKS", "crm"),
            ("AUTHGATE_WEBHOOK_CRM_URL", url.as_str()),
            ("AUTHGATE_WEBHOOK_CRM_SECRET_FILE", secret_file.to_str().unwrap()),
            ("AUTHGATE_WEBHOOK_CRM_EVENTS", "user.created"),
            ("AUTHGATE_OUTBOX_POLL_INTERVAL", "50ms"),
            ("AUTHGATE_LOG", "debug"),
        ], true).await;
        let logs = Arc::new(Mutex::new(String::new()));
        let reader = {
            let (stdout, logs) = (p.child.stdout.take().unwrap(), logs.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let mut l = logs.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            })
        };
        let r = client().post(p.url("/api/v1/auth/signup/"))
            .json(&json!({"email": unique_email(), "password": PW, "name": "Test User"}))
            .send().await.unwrap();
        assert_eq!(r.status(), 201);
        let got = wait_until(&server, "crm", |d| d.len() >= 2).await;
        assert_eq!(got.iter().map(Delivery::kind).collect::<Vec<_>>(), ["user.created", "user.created"]);
        if let Some(verdicts) = verify_independently(&got[1..]) {
            assert_eq!(verdicts, ["ok user.created"], "signed with the key read from the file");
        }
        p.signal("-TERM");
        let _ = p.child.wait();
        reader.join().unwrap();
        let logs = logs.lock().unwrap().clone();
        assert!(logs.contains("will retry") && logs.contains("webhook event delivered"), "{logs}");
        let key = SECRET.trim_start_matches("whsec_");
        assert!(!logs.contains(key), "the webhook secret is in the log");
        assert!(!logs.contains("query-token-not-for-logs"), "the token in the endpoint's URL is in the log");
    }
}

both_backends! {
    async fn sent_and_failed_events_leave_with_the_outbox_retention(backend) {
        use authgate::db::schema::outbox;
        use diesel::prelude::*;
        let server = receiver().await;
        let app = webhook_app(backend, vec![endpoint("crm", &server, &[])]).await;
        let tokens = Tokens::from_response(&app.signup(&unique_email(), PW).await);
        let id = user_id(&app, &tokens.access).await;
        wait_until(&server, "crm", |d| types_for(d, &id).len() >= 2).await;
        let mut conn = app.state.pool.get().unwrap();
        let sent = || outbox::table.filter(outbox::kind.eq("webhook")).filter(outbox::status.eq("sent"));
        // Received is not yet recorded: wait for both to be marked sent.
        let deadline = Instant::now() + WAIT;
        let rows = loop {
            let rows: Vec<String> = sent().select(outbox::id).order(outbox::id).load(&mut conn).unwrap();
            if rows.len() == 2 {
                break rows;
            }
            assert!(Instant::now() < deadline, "delivered events are kept as sent: {rows:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let ago = |h: i64| authgate::db::now() - chrono::Duration::hours(h);
        // One past AUTHGATE_OUTBOX_RETENTION (24h); the other given up and past the failed
        // retention (7d).
        diesel::update(outbox::table.find(&rows[0])).set(outbox::created_at.eq(ago(25))).execute(&mut conn).unwrap();
        diesel::update(outbox::table.find(&rows[1]))
            .set((outbox::status.eq("failed"), outbox::created_at.eq(ago(8 * 24))))
            .execute(&mut conn)
            .unwrap();
        let removed = authgate::service::retention::run_once(&app.state, &mut conn).unwrap().expect("not locked");
        assert_eq!(removed["outbox"], 2);
        let left: i64 = outbox::table.filter(outbox::kind.eq("webhook")).count().get_result(&mut conn).unwrap();
        assert_eq!(left, 0);
    }
}

both_backends! {
    async fn admin_api_changes_send_the_same_events(backend) {
        let server = receiver().await;
        let app = webhook_app(backend, vec![endpoint("crm", &server, &[])]).await;
        let (key, _) = crate::admin::create_key(&app, "write");
        // An account an operator creates.
        let r = crate::admin::call(&app, Method::POST, "/api/v1/admin/users/", &key,
            Some(json!({"email": unique_email(), "password": PW, "name": "Grace"}))).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let made = wait_until(&server, "crm", |d| d.iter().any(|d| d.kind() == "user.created")).await;
        assert_eq!(made[0].json["data"]["method"], "operator");

        let tokens = Tokens::from_response(&app.signup(&unique_email(), PW).await);
        let id = user_id(&app, &tokens.access).await;
        let path = format!("/api/v1/admin/users/{id}/");
        let r = crate::admin::call(&app, Method::PATCH, &path, &key,
            Some(json!({"name": "Ada L.", "email_verified": true, "disabled": true, "roles": ["admin"]}))).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let expected = ["user.created", "session.created", "user.updated", "user.disabled", "session.revoked", "role.changed"];
        let got = wait_until(&server, "crm", |d| types_for(d, &id).len() >= expected.len()).await;
        let mine: Vec<&Delivery> = got.iter().filter(|d| d.json["data"]["user_id"] == id.as_str()).collect();
        assert_eq!(types_for(&got, &id), expected);
        assert_eq!(mine[2].json["data"]["changed"], json!(["name", "email_verified"]));
        assert_eq!(mine[3].json["data"]["disabled"], true);
        assert_eq!(mine[4].json["data"]["reason"], "user_disabled");
        assert_eq!(mine[5].json["data"], json!({"user_id": id, "role": "admin", "granted": true}));

        let r = crate::admin::call(&app, Method::DELETE, &path, &key, None).await;
        assert_eq!(r.status(), 204);
        let got = wait_until(&server, "crm", |d| types_for(d, &id).contains(&"user.deleted".to_owned())).await;
        assert_eq!(types_for(&got, &id).last().map(String::as_str), Some("user.deleted"));
    }
}

/// An unknown event type in an endpoint's filter stops startup with one line naming it.
#[test]
fn an_unknown_event_type_refuses_to_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .env_clear()
        .env("AUTHGATE_WEBHOOKS", "crm")
        .env("AUTHGATE_WEBHOOK_CRM_URL", "https://crm.example.com/hooks")
        .env("AUTHGATE_WEBHOOK_CRM_SECRET", SECRET)
        .env("AUTHGATE_WEBHOOK_CRM_EVENTS", "user.created,user.signed_in")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: invalid value 'crm' for AUTHGATE_WEBHOOKS: AUTHGATE_WEBHOOK_CRM_EVENTS: unknown event type `user.signed_in`"),
        "{err}"
    );
}
