//! `TestApp`: authgate on a random port over a database created for the test and dropped after.
//!
//! PostgreSQL tests need `AUTHGATE_TEST_POSTGRES_URL` (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`); without it they are skipped with one loud line.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use actix_web::cookie::Cookie;
use authgate::settings::{DatabaseUrl, Settings};
use authgate::startup::Application;
use diesel::{Connection as _, RunQueryDsl as _};
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{json, Value};

pub const PG_ENV: &str = "AUTHGATE_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether PostgreSQL tests can run; says so loudly, once, when they cannot. With
/// `AUTHGATE_TEST_REQUIRE_PEERS` set (CI sets it), a missing URL fails the test instead: a
/// PostgreSQL half that returns early would pass without testing anything.
pub fn postgres_enabled() -> bool {
    static WARN: Once = Once::new();
    let enabled = std::env::var(PG_ENV).is_ok_and(|v| !v.is_empty());
    assert!(
        enabled || std::env::var_os("AUTHGATE_TEST_REQUIRE_PEERS").is_none(),
        "{PG_ENV} is required (AUTHGATE_TEST_REQUIRE_PEERS is set) but missing"
    );
    if !enabled {
        WARN.call_once(|| {
            // Written past the test harness's output capture on purpose.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** PostgreSQL tests SKIPPED: set {PG_ENV}=postgres://postgres@127.0.0.1:5432/postgres to run them ***\n"
            );
        });
    }
    enabled
}

/// Runs each test body once per backend: `name::sqlite` and `name::postgres`.
macro_rules! both_backends {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $backend = $crate::helpers::Backend::Sqlite;
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::helpers::postgres_enabled() {
                    return;
                }
                let $backend = $crate::helpers::Backend::Postgres;
                $body
            }
        }
    )*};
}
pub(crate) use both_backends;

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("authgate.db").display());
                Self {
                    url,
                    admin_url: None,
                    name: String::new(),
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = std::env::var(PG_ENV).expect("postgres url");
                let name = format!("authgate_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn =
                    diesel::PgConnection::establish(&admin).expect("connect to PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .expect("create test database");
                let (base, _) = admin.rsplit_once('/').expect("postgres url has a database");
                Self {
                    // No TLS or GSS to the local server: the pools of finished tests keep
                    // reconnecting from r2d2's threads, and a handshake running in libpq's
                    // OpenSSL while the test process exits (and OpenSSL's atexit cleanup runs)
                    // is the suspected cause of a SIGSEGV seen once after all tests passed.
                    url: format!("{base}/{name}?sslmode=disable&gssencmode=disable"),
                    admin_url: Some(admin),
                    name,
                    _dir: None,
                }
            }
        }
    }
}

impl TestDb {
    /// Drops a PostgreSQL database now, cutting the connections of whoever uses it.
    pub fn drop_now(&self) {
        if let Some(admin) = &self.admin_url {
            let mut conn = diesel::PgConnection::establish(admin).expect("connect to PostgreSQL");
            diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .expect("drop database");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(admin) = &self.admin_url {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin) {
                let _ = diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .execute(&mut conn);
            }
        }
    }
}

/// Settings for a test: fast bcrypt, few workers, the given database.
pub fn test_settings(db_url: &str) -> Settings {
    let mut s = Settings::defaults();
    s.listen = "127.0.0.1:0".parse().expect("addr");
    s.database_url = DatabaseUrl::parse(db_url).expect("db url");
    s.bcrypt_cost = 4;
    s.workers = 2;
    s.database_pool_size = 4;
    // Tests sign in many times from 127.0.0.1: per-IP budgets generous enough never to matter
    // (the code path still runs); tests of the limits set small ones with `spawn_with`.
    let generous = authgate::settings::Rate::parse("100000/1m").expect("rate");
    s.rate_limit_auth = generous;
    s.rate_limit_refresh = generous;
    s.rate_limit_api = generous;
    s.rate_limit_signin_failures = generous;
    s.messages_per_recipient_per_hour = 100_000;
    s
}

pub struct TestApp {
    pub address: String,
    pub port: u16,

    pub client: reqwest::Client,
    pub settings: Settings,
    pub state: actix_web::web::Data<authgate::state::AppState>,
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        init_logs();
        let db = TestDb::create(backend);
        let mut settings = test_settings(&db.url);
        configure(&mut settings);
        let app = Application::build(settings.clone())
            .await
            .expect("build app");
        let port = app.port();
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        Self {
            address: format!("http://127.0.0.1:{port}"),
            port,

            client: client(),
            settings,
            state,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn signup(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/signup/",
            &json!({ "email": email, "password": password, "name": "Test User" }),
        )
        .await
    }

    pub async fn signin(
        &self,
        login: &str,
        password: &str,
        remember_me: bool,
    ) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/signin/",
            &json!({ "login": login, "password": password, "remember_me": remember_me }),
        )
        .await
    }

    /// Signs up a fresh user and returns its cookies.
    pub async fn signed_in_user(&self) -> Tokens {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let resp = self.signup(&email, "correct horse battery").await;
        assert_eq!(resp.status(), 201, "signup failed");
        Tokens::from_response(&resp)
    }

    /// `POST custom-refresh/` with a refresh cookie.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/custom-refresh/"))
            .header("cookie", format!("refresh_token={refresh_token}"))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_user_bearer(&self, access_token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/v1/auth/user/"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_user_cookie(&self, access_token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/v1/auth/user/"))
            .header("cookie", format!("access_token={access_token}"))
            .send()
            .await
            .expect("request")
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        // Below the server's 5 s keep-alive: a test that sleeps about that long would otherwise
        // reuse a connection the server is closing at that moment (IncompleteMessage).
        .pool_idle_timeout(std::time::Duration::from_secs(3))
        .build()
        .expect("client")
}

/// Logs of the app under test, shown when `TEST_LOG` is set.
fn init_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            authgate::telemetry::init(authgate::settings::LogFormat::Pretty, "info");
        }
    });
}

/// The `Set-Cookie` headers of a response, parsed.
pub fn set_cookies(headers: &HeaderMap) -> Vec<Cookie<'static>> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| Cookie::parse(v.to_owned()).ok())
        .collect()
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<Cookie<'static>> {
    set_cookies(headers).into_iter().find(|c| c.name() == name)
}

/// The two tokens a browser would hold after a response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub fn from_response(resp: &reqwest::Response) -> Self {
        let h = resp.headers();
        Self {
            access: cookie(h, "access_token")
                .expect("access cookie")
                .value()
                .to_owned(),
            refresh: cookie(h, "refresh_token")
                .expect("refresh cookie")
                .value()
                .to_owned(),
        }
    }
}

/// Asserts the error envelope and returns its code.
pub async fn error_code(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .unwrap_or_else(|e| panic!("{status}: body is not JSON: {e}"));
    let code = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"));
    assert!(body["message"].is_string(), "no message in {body}");
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "error code {code:?} is not snake_case"
    );
    code.to_owned()
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// The real binary as a child process.
pub struct Proc {
    pub child: Child,
    pub base: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Proc {
    /// Waits for the process to exit by itself; fails the test past the shutdown timeout.
    pub async fn exit_status(&mut self, signalled: std::time::Instant) -> std::process::ExitStatus {
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                signalled.elapsed() < Duration::from_secs(25),
                "did not exit within the shutdown timeout"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn start(db_url: &str, env: &[(&str, &str)], capture_stdout: bool) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authgate"));
        cmd.arg("serve")
            .env("AUTHGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("AUTHGATE_DATABASE_URL", db_url)
            .env("AUTHGATE_BCRYPT_COST", "4")
            .env("AUTHGATE_WORKERS", "2")
            .env("AUTHGATE_RATE_LIMIT_AUTH", "100000/1m")
            .env("AUTHGATE_RATE_LIMIT_REFRESH", "100000/1m")
            .env("AUTHGATE_RATE_LIMIT_API", "100000/1m")
            .env("AUTHGATE_RATE_LIMIT_SIGNIN_FAILURES", "100000/1m")
            .env("AUTHGATE_LOG_FORMAT", "json")
            .stdout(if capture_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start authgate");
        let p = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(client.get(format!("{}/readyz", p.base)).send().await, Ok(r) if r.status() == 200)
        {
            assert!(Instant::now() < deadline, "authgate did not become ready");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        p
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// SIGKILL: no graceful shutdown, no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer read off the wire by [`raw_request`].
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap_or("<none>").to_owned()
    }
}

/// A request written byte for byte: the request target goes out exactly as given (client
/// libraries re-encode paths and resolve dot segments, which would test nothing). `headers` are
/// full lines without the line ending; a JSON `body` gets its content type and length.
pub async fn raw_request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[&str],
    body: Option<&Value>,
) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("Connection: close\r\n\r\n");
    head.push_str(&body);
    let _ = s.write_all(head.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// The `kid` in a JWT's header.
pub fn kid_of(jwt: &str) -> String {
    use base64::Engine as _;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The routes a configured captcha provider guards, written out here rather than read from the
/// implementation: a route dropped from the gate must fail the tests that use this list.
pub const CAPTCHA_GUARDED: [&str; 7] = [
    "/api/v1/auth/signup/",
    "/api/v1/auth/signup/passkey/options/",
    "/api/v1/auth/signin/",
    "/api/v1/auth/token/",
    "/api/v1/auth/password/forgot/",
    "/api/v1/auth/verify-email/resend/",
    "/api/v1/auth/sms/code/",
];
