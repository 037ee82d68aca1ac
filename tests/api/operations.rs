//! Operations: metrics, logs, graceful shutdown, several replicas, database outages.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

/// `name{a="x",b="y"} value` lines → map from `name{a="x",b="y"}` (labels sorted) to value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("metric line");
        let key = match series.split_once('{') {
            Some((name, labels)) => {
                let mut pairs: Vec<&str> = labels
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .collect();
                pairs.sort_unstable();
                format!("{name}{{{}}}", pairs.join(","))
            }
            None => series.to_owned(),
        };
        out.insert(key, value.parse().expect("metric value"));
    }
    out
}

async fn metrics(app: &TestApp) -> BTreeMap<String, f64> {
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    parse_metrics(&resp.text().await.unwrap())
}

both_backends! {
    async fn metrics_count_requests_and_outcomes(backend) {
        let app = TestApp::spawn_with(backend, |s| s.refresh_reuse_grace = Duration::ZERO).await;
        let email = unique_email();
        app.signup(&email, "correct horse battery").await;
        app.signin(&email, "wrong password!", false).await;
        let t0 = Tokens::from_response(&app.signin(&email, "correct horse battery", false).await);
        let r1 = app.refresh(&t0.refresh).await;
        assert_eq!(r1.status(), 204);
        assert_eq!(app.refresh(&t0.refresh).await.status(), 401);

        let m = metrics(&app).await;
        let get = |k: &str| m.get(k).copied().unwrap_or_else(|| panic!("{k} missing; have {:?}", m.keys().filter(|k| k.starts_with("authgate_")).collect::<Vec<_>>()));
        assert_eq!(get(r#"authgate_signin_total{outcome="success"}"#), 1.0);
        assert_eq!(get(r#"authgate_signin_total{outcome="invalid_credentials"}"#), 1.0);
        assert_eq!(get(r#"authgate_signup_total{outcome="success"}"#), 1.0);
        assert_eq!(get(r#"authgate_refresh_total{outcome="rotated"}"#), 1.0);
        assert_eq!(get(r#"authgate_refresh_total{outcome="reused"}"#), 1.0);
        assert_eq!(get(r#"authgate_sessions_created_total{method="pwd"}"#), 2.0);
        assert_eq!(get(r#"authgate_sessions_revoked_total{reason="refresh_token_reused"}"#), 1.0);
        assert_eq!(get(r#"authgate_http_requests_total{method="POST",route="/api/v1/auth/signin",status="204"}"#), 1.0);
        assert_eq!(get(r#"authgate_http_requests_total{method="POST",route="/api/v1/auth/signin",status="401"}"#), 1.0);
        assert_eq!(get(r#"authgate_http_request_duration_seconds_count{method="POST",route="/api/v1/auth/signup"}"#), 1.0);
        assert!(get(r#"authgate_db_pool_connections{state="idle"}"#) >= 0.0);
        assert_eq!(get("authgate_signing_keys_published"), 1.0);
        assert!(get("process_resident_memory_bytes") > 0.0);

        // The sign-up's verification mail drains from the outbox; with no SMTP server it was only
        // written to the log, and is counted so, never as sent.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = metrics(&app).await;
            let logged = m.get(r#"authgate_outbox_deliveries_total{kind="mail",outcome="logged"}"#).copied().unwrap_or(0.0);
            if logged >= 1.0 && m["authgate_outbox_backlog"] == 0.0 {
                assert_eq!(m.get(r#"authgate_outbox_deliveries_total{kind="mail",outcome="sent"}"#), None);
                break;
            }
            assert!(Instant::now() < deadline, "outbox metrics did not move");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Unknown paths are one label value, whatever the path: no cardinality explosion.
        app.client.get(app.url("/nope/1")).send().await.unwrap();
        app.client.get(app.url("/nope/2")).send().await.unwrap();
        let m = metrics(&app).await;
        assert_eq!(m[r#"authgate_http_requests_total{method="GET",route="unmatched",status="404"}"#], 2.0);
    }

    async fn http_metrics_count_every_repeat_of_a_route_method_and_status(backend) {
        let app = TestApp::spawn(backend).await;
        for _ in 0..3 {
            app.client.get(app.url("/healthz")).send().await.unwrap();
            app.client.get(app.url("/api/v1/auth/verify/")).send().await.unwrap();
        }
        app.client.post(app.url("/healthz")).send().await.unwrap();
        let m = metrics(&app).await;
        assert_eq!(m[r#"authgate_http_requests_total{method="GET",route="/healthz",status="200"}"#], 3.0);
        assert_eq!(m[r#"authgate_http_request_duration_seconds_count{method="GET",route="/healthz"}"#], 3.0);
        assert_eq!(m[r#"authgate_http_requests_total{method="GET",route="/api/v1/auth/verify",status="401"}"#], 3.0);
        assert_eq!(m[r#"authgate_http_requests_total{method="POST",route="/healthz",status="405"}"#], 1.0);
    }

    async fn invented_http_methods_share_one_metric_label(backend) {
        let app = TestApp::spawn(backend).await;
        for name in ["BREW", "WHEN", "XYZZY"] {
            let method = reqwest::Method::from_bytes(name.as_bytes()).unwrap();
            app.client.request(method, app.url("/healthz")).send().await.unwrap();
        }
        let m = metrics(&app).await;
        assert_eq!(m[r#"authgate_http_requests_total{method="other",route="/healthz",status="405"}"#], 3.0);
        assert!(!m.keys().any(|k| k.contains("BREW") || k.contains("XYZZY")), "no series per invented method");
    }

    async fn metrics_can_be_kept_off_the_public_listener(backend) {
        let app = TestApp::spawn_with(backend, |s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
        let public = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(public.status(), 404);
        let port = app.state.metrics_port.unwrap();
        let private = app.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap();
        assert_eq!(private.status(), 200);
        assert!(private.text().await.unwrap().contains("authgate_http_requests_total"));
    }
}

both_backends! {
    async fn sigterm_drains_in_flight_requests_and_exits_0(backend) {
        let db = TestDb::create(backend);
        // Sign-ups at bcrypt cost 12 take long enough (over a second in a debug build) to be in
        // flight when the signal arrives.
        let mut p = Proc::start(&db.url, &[("AUTHGATE_BCRYPT_COST", "12"), ("AUTHGATE_SHUTDOWN_DELAY", "1s")], false).await;
        let client = client();
        let mut in_flight = Vec::new();
        for i in 0..4 {
            let (client, url) = (client.clone(), p.url("/api/v1/auth/signup/"));
            in_flight.push(tokio::spawn(async move {
                client.post(url).json(&json!({"email": format!("drain{i}@example.com"), "password": "correct horse battery", "name": "D"}))
                    .send().await.map(|r| r.status().as_u16())
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let signalled = Instant::now();
        p.signal("-TERM");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let ready = client.get(p.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 503, "readyz turns 503 as soon as draining starts");
        assert_eq!(error_code(ready).await, "draining");
        for t in in_flight {
            assert_eq!(t.await.unwrap().expect("in-flight request failed"), 201, "no in-flight request fails");
        }
        let status = p.exit_status(signalled).await;
        assert!(status.success(), "exit status {status:?}");
    }

    async fn logs_are_json_with_request_ids_and_never_hold_a_secret(backend) {
        let db = TestDb::create(backend);
        let pepper = "pepper-that-must-stay-secret-123";
        let enc_key = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M=";
        let mut p = Proc::start(&db.url, &[
            ("AUTHGATE_LOG", "debug"),
            ("AUTHGATE_PASSWORD_PEPPER", pepper),
            ("AUTHGATE_ENCRYPTION_KEY", enc_key),
        ], true).await;
        let client = client();
        let password = "Sup3r-Secret-Passw0rd!";
        let email = unique_email();
        let signup = client.post(p.url("/api/v1/auth/signup/")).json(&json!({"email": email, "password": password, "name": "L"})).send().await.unwrap();
        let t = Tokens::from_response(&signup);
        let wrong = "Wr0ng-Secret-Passw0rd!";
        client.post(p.url("/api/v1/auth/signin/")).json(&json!({"login": email, "password": wrong})).send().await.unwrap();
        let signin = client.post(p.url("/api/v1/auth/signin/")).json(&json!({"login": email, "password": password})).send().await.unwrap();
        let t2 = Tokens::from_response(&signin);
        client.get(p.url("/api/v1/auth/user/")).bearer_auth(&t2.access).send().await.unwrap();
        let r = client.post(p.url("/api/v1/auth/custom-refresh/")).header("cookie", format!("refresh_token={}", t2.refresh)).send().await.unwrap();
        let t3 = Tokens::from_response(&r);
        let grant: Value = client.post(p.url("/api/v1/auth/token/")).json(&json!({"grant_type": "password", "login": email, "password": password})).send().await.unwrap().json().await.unwrap();
        client.post(p.url("/api/v1/auth/custom-logout/")).header("cookie", format!("refresh_token={}", t3.refresh)).send().await.unwrap();
        client.get(p.url("/api/v1/auth/verify/")).bearer_auth("forged.tok.en").send().await.unwrap();

        p.signal("-TERM");
        let _ = p.child.wait();
        let mut out = String::new();
        std::io::Read::read_to_string(p.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert!(out.lines().count() > 10, "logs were captured");
        let mut secrets = vec![password.to_owned(), wrong.to_owned(), pepper.to_owned(), enc_key.to_owned()];
        for tok in [&t.access, &t.refresh, &t2.access, &t2.refresh, &t3.access, &t3.refresh] {
            secrets.push(tok.to_string());
            // A JWT's signature alone is enough to be a leak.
            if let Some(sig) = tok.rsplit('.').next() {
                secrets.push(sig.to_owned());
            }
        }
        secrets.push(grant["access_token"].as_str().unwrap().to_owned());
        secrets.push(grant["refresh_token"].as_str().unwrap().to_owned());
        for secret in &secrets {
            assert!(!out.contains(secret.as_str()), "a secret leaked into the logs: {}…", &secret[..8]);
        }
        let mut with_user = 0;
        for line in out.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            assert!(v["level"].is_string() && v["timestamp"].is_string());
            if v["message"] == "request done" {
                assert!(v["span"]["request_id"].is_string(), "request id on {line}");
                if v["span"]["user_id"].is_string() {
                    with_user += 1;
                }
            }
        }
        assert!(with_user >= 4, "user id recorded on authenticated requests ({with_user})");
        assert!(out.contains("\"kind\":\"signin\""), "audit events are log lines too");
        assert!(out.contains("starting") && out.contains("[redacted]"), "the effective settings are logged, secrets redacted");
    }
}

/// Three processes on one PostgreSQL database behave as one service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_postgresql_behave_as_one() {
    if !postgres_enabled() {
        return;
    }
    let db = TestDb::create(Backend::Postgres);
    let env = [
        ("AUTHGATE_KEY_RELOAD_INTERVAL", "200ms"),
        ("AUTHGATE_REFRESH_REUSE_GRACE", "0s"),
        ("AUTHGATE_KEY_PUBLISH_DELAY", "0s"),
    ];
    let a = Proc::start(&db.url, &env, false).await;
    let b = Proc::start(&db.url, &env, false).await;
    let c = Proc::start(&db.url, &env, false).await;
    let client = client();
    let email = unique_email();
    client
        .post(a.url("/api/v1/auth/signup/"))
        .json(&json!({"email": email, "password": "correct horse battery", "name": "R"}))
        .send()
        .await
        .unwrap();
    let t0 = Tokens::from_response(
        &client
            .post(a.url("/api/v1/auth/signin/"))
            .json(&json!({"login": email, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap(),
    );
    let refresh = |p: &Proc, token: &str| {
        client
            .post(p.url("/api/v1/auth/custom-refresh/"))
            .header("cookie", format!("refresh_token={token}"))
            .send()
    };
    let r1 = refresh(&b, &t0.refresh).await.unwrap();
    assert_eq!(r1.status(), 204, "signed in on A, refreshed on B");
    let t1 = Tokens::from_response(&r1);
    let replay = refresh(&c, &t0.refresh).await.unwrap();
    assert_eq!(replay.status(), 401);
    assert_eq!(
        error_code(replay).await,
        "refresh_token_reused",
        "replay on C is detected"
    );
    assert_eq!(
        refresh(&a, &t1.refresh).await.unwrap().status(),
        401,
        "the session is gone everywhere"
    );
    let ended = client
        .get(c.url("/api/v1/auth/user/"))
        .bearer_auth(&t0.access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ended.status(),
        401,
        "A's token verifies on C, its session is over"
    );
    assert_eq!(error_code(ended).await, "session_not_found");

    // A key rotation made with A's settings is served by B and C without a restart.
    let out = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["keys", "rotate"])
        .env("AUTHGATE_DATABASE_URL", &db.url)
        .env("AUTHGATE_KEY_PUBLISH_DELAY", "0s")
        .output()
        .unwrap();
    assert!(out.status.success());
    let new_kid = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(800)).await;
    for p in [&b, &c] {
        let jwks: Value = client
            .get(p.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            jwks.to_string().contains(&new_kid),
            "{} publishes the new key",
            p.base
        );
        let t = Tokens::from_response(
            &client
                .post(p.url("/api/v1/auth/signin/"))
                .json(&json!({"login": email, "password": "correct horse battery"}))
                .send()
                .await
                .unwrap(),
        );
        let header = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.access.split('.').next().unwrap())
                .unwrap()
        };
        let header: Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(
            header["kid"],
            new_kid.as_str(),
            "{} signs with the new key",
            p.base
        );
    }
}

/// A PostgreSQL cluster of the test's own, so it can be stopped and started without touching the
/// shared server other tests use.
struct OwnPostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl OwnPostgres {
    fn available() -> Option<std::path::PathBuf> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())?;
        let root = Command::new("id")
            .arg("-u")
            .output()
            .ok()
            .is_some_and(|o| o.stdout.starts_with(b"0"));
        (root
            && Command::new("runuser")
                .arg("--help")
                .stdout(Stdio::null())
                .status()
                .is_ok())
        .then_some(bin)
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) -> bool {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn init(bin: std::path::PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        assert!(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success());
        let pg = Self {
            port: free_port(),
            dir,
            bin,
        };
        let data = pg.dir.path().join("data");
        assert!(
            pg.as_postgres(
                "initdb",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-A",
                    "trust",
                    "-U",
                    "postgres"
                ]
            ),
            "initdb"
        );
        pg
    }

    fn start(&self) {
        let d = self.dir.path();
        let opts = format!(
            "-p {} -k {} -c fsync=off -c listen_addresses=127.0.0.1",
            self.port,
            d.display()
        );
        assert!(
            self.as_postgres(
                "pg_ctl",
                &[
                    "-D",
                    d.join("data").to_str().unwrap(),
                    "-w",
                    "-l",
                    d.join("log").to_str().unwrap(),
                    "-o",
                    &opts,
                    "start"
                ]
            ),
            "pg_ctl start"
        );
    }

    fn stop(&self) {
        assert!(
            self.as_postgres(
                "pg_ctl",
                &[
                    "-D",
                    self.dir.path().join("data").to_str().unwrap(),
                    "-w",
                    "-m",
                    "fast",
                    "stop"
                ]
            ),
            "pg_ctl stop"
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                self.dir.path().join("data").to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ],
        );
    }
}

/// PostgreSQL stops under load: database requests get 503 + Retry-After in bounded time, token
/// checks keep working, nothing hangs, and the service recovers by itself when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restart_under_load_gives_bounded_503s_and_recovers() {
    let Some(bin) = OwnPostgres::available() else {
        assert!(
            std::env::var_os("AUTHGATE_TEST_REQUIRE_PEERS").is_none(),
            "a PostgreSQL server installation is required"
        );
        eprintln!("*** no PostgreSQL installation to start a private cluster: test SKIPPED ***");
        return;
    };
    let pg = OwnPostgres::init(bin);
    pg.start();
    let url = pg.url();
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.database_url = authgate::settings::DatabaseUrl::parse(&url).unwrap();
        s.database_timeout = Duration::from_millis(800);
    })
    .await;
    let tokens = app.signed_in_user().await;
    assert_eq!(app.get_user_bearer(&tokens.access).await.status(), 200);

    pg.stop();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(3) {
        let started = Instant::now();
        let resp = app.get_user_bearer(&tokens.access).await;
        assert!(
            started.elapsed() < Duration::from_millis(3500),
            "a request hung for {:?}",
            started.elapsed()
        );
        assert_eq!(resp.status(), 503, "database down is 503, not 500");
        assert!(resp.headers().contains_key("retry-after"));
        assert_eq!(error_code(resp).await, "service_unavailable");
        let check = app
            .client
            .get(app.url("/api/v1/auth/verify/"))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap();
        assert_eq!(check.status(), 204, "token checks need no database");
    }
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );

    pg.start();
    let back = Instant::now();
    loop {
        let ready = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        let me = app.get_user_bearer(&tokens.access).await.status();
        if ready == 200 && me == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "did not recover: readyz {ready}, user {me}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.refresh(&tokens.refresh).await.status(),
        204,
        "sessions survived the outage"
    );
}

/// The raw answer to one request line: the status line and headers, and every byte after them
/// (read to the end: `Connection: close`).
async fn raw(app: &TestApp, method: &str, path: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block")
        + 4;
    (
        String::from_utf8_lossy(&answer[..end]).into_owned(),
        answer[end..].to_vec(),
    )
}

both_backends! {
    async fn head_is_answered_wherever_get_is_with_the_headers_and_no_body(backend) {
        let app = TestApp::spawn(backend).await;
        for path in ["/healthz", "/readyz", "/", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/openapi.yml", "/api/v1/auth/user/"] {
            let (get_head, get_body) = raw(&app, "GET", path).await;
            let (head, body) = raw(&app, "HEAD", path).await;
            let status = |h: &str| h.lines().next().unwrap_or_default().to_owned();
            assert_eq!(status(&head), status(&get_head), "{path}");
            let content_type = |h: &str| h.lines().find(|l| l.to_ascii_lowercase().starts_with("content-type:")).map(str::to_owned);
            assert_eq!(content_type(&head), content_type(&get_head), "{path}");
            assert!(body.is_empty(), "HEAD {path} sent a body: {:?}", String::from_utf8_lossy(&body));
            assert!(!get_body.is_empty(), "GET {path} has a body to leave out");
        }
        let (head, _) = raw(&app, "HEAD", "/api/v1/auth/user/").await;
        assert!(head.starts_with("HTTP/1.1 401"), "HEAD needs the same credentials as GET: {head}");
        let (head, _) = raw(&app, "HEAD", "/api/v1/auth/signin/").await;
        assert!(head.starts_with("HTTP/1.1 405"), "HEAD mirrors GET only, not POST: {head}");
    }
}

/// Kubernetes and Docker hand secrets over as files: `<VARIABLE>_FILE` works for the secret
/// settings, through the real binary, and setting both forms is refused naming them.
#[test]
fn secret_settings_can_be_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, format!("sqlite://{}\n", db.display())).unwrap();
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authgate"));
        cmd.arg("migrate")
            .env_clear()
            .env("AUTHGATE_DATABASE_URL_FILE", &url_file)
            .env("AUTHGATE_LOG_FORMAT", "json");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists(), "the database named in the file was migrated");
    let out = run(&[("AUTHGATE_DATABASE_URL", "sqlite://elsewhere.db")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("AUTHGATE_DATABASE_URL and AUTHGATE_DATABASE_URL_FILE are both set"),
        "{err}"
    );
}

/// Combinations that could never work refuse to start, in one line naming the variable to fix:
/// a provider without its endpoints or without anywhere to return to, a login page the proxy
/// itself guards (a redirect loop), and mails whose links would lead to authgate, which serves no
/// pages.
#[test]
fn serve_refuses_settings_that_could_never_work_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("refused.db").display());
    let port = free_port().to_string();
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[
                ("AUTHGATE_PROVIDERS", "corp"),
                ("AUTHGATE_PROVIDER_CORP_CLIENT_ID", "c"),
                ("AUTHGATE_PROVIDER_CORP_CLIENT_SECRET", "s"),
            ],
            "AUTHGATE_PROVIDER_CORP_ISSUER",
        ),
        (
            &[
                ("AUTHGATE_PROVIDERS", "google"),
                ("AUTHGATE_PROVIDER_GOOGLE_CLIENT_ID", "c"),
                ("AUTHGATE_PROVIDER_GOOGLE_CLIENT_SECRET", "s"),
            ],
            "AUTHGATE_REDIRECT_URLS",
        ),
        (
            &[
                ("AUTHGATE_PROVIDERS", "google"),
                ("AUTHGATE_PROVIDER_GOOGLE_CLIENT_ID", "c"),
                ("AUTHGATE_PROVIDER_GOOGLE_CLIENT_SECRET", "s"),
                ("AUTHGATE_REDIRECT_URLS", "/relative"),
            ],
            "AUTHGATE_REDIRECT_URLS",
        ),
        (
            &[
                ("AUTHGATE_UPSTREAM", "http://127.0.0.1:9"),
                ("AUTHGATE_LOGIN_URL", "/login"),
                ("AUTHGATE_PUBLIC_PATHS", "/assets/*"),
            ],
            "AUTHGATE_LOGIN_URL",
        ),
        (
            &[
                ("AUTHGATE_UPSTREAM", "http://127.0.0.1:9"),
                ("AUTHGATE_PUBLIC_URL", "https://app.example.com"),
                ("AUTHGATE_LOGIN_URL", "https://app.example.com/login"),
            ],
            "AUTHGATE_PUBLIC_PATHS",
        ),
        (
            &[("AUTHGATE_SMTP_URL", "smtp://127.0.0.1:25")],
            "AUTHGATE_FRONTEND_URL",
        ),
    ];
    for (env, names) in cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authgate"));
        cmd.arg("serve")
            .env_clear()
            .env("AUTHGATE_DATABASE_URL", &db)
            .env("AUTHGATE_LISTEN", format!("127.0.0.1:{port}"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{env:?} started");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(names), "{env:?}: {err}");
    }
}

both_backends! {
    async fn a_forwarding_proxy_that_is_not_trusted_is_warned_about_once(backend) {
        let db = TestDb::create(backend);
        let count = |out: &str| out.lines().filter(|l| l.contains("AUTHGATE_TRUSTED_PROXIES is empty")).count();
        let run = |trusted: &'static str| {
            let url = db.url.clone();
            async move {
                let mut p = Proc::start(&url, &[("AUTHGATE_TRUSTED_PROXIES", trusted)], true).await;
                let client = client();
                for _ in 0..3 {
                    let r = client.get(p.url("/")).header("x-forwarded-for", "203.0.113.7").send().await.unwrap();
                    assert_eq!(r.status(), 200);
                }
                p.signal("-TERM");
                let _ = p.child.wait();
                let mut out = String::new();
                std::io::Read::read_to_string(p.child.stdout.as_mut().unwrap(), &mut out).unwrap();
                out
            }
        };
        let untrusted = run("").await;
        assert_eq!(count(&untrusted), 1, "one warning for three forwarded requests");
        assert!(!untrusted.contains("203.0.113.7"), "the header's value is not logged");
        let trusted = run("127.0.0.1/32").await;
        assert_eq!(count(&trusted), 0, "a trusted proxy is not warned about");
    }
}

/// A value the service cannot parse is reported under the name the operator used: the
/// environment variable when it came from one, the flag when it came from the command line.
#[test]
fn a_bad_setting_is_reported_under_the_variable_or_flag_it_came_from() {
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authgate"));
        cmd.env_clear().args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&[("AUTHGATE_ACCESS_TOKEN_TTL", "soon")], &["migrate"]);
    assert!(
        err.starts_with("error: invalid value 'soon' for AUTHGATE_ACCESS_TOKEN_TTL: "),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let err = run(&[], &["--access-token-ttl", "soon", "migrate"]);
    assert!(
        err.contains("'--access-token-ttl <ACCESS_TOKEN_TTL>'"),
        "{err}"
    );
}
