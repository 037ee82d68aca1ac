//! Real third-party peers: an independent JWT implementation (PyJWT) reading our JWKS, and a real
//! nginx protecting an upstream with `auth_request` to `verify/`.
//!
//! Each needs a program outside Rust. Missing, the test is skipped with one loud line; with
//! `AUTHGATE_TEST_REQUIRE_PEERS` set (CI sets it) a missing peer is a failure.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

pub(crate) fn peer_available(what: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("AUTHGATE_TEST_REQUIRE_PEERS").is_none(),
            "{what} is required (AUTHGATE_TEST_REQUIRE_PEERS is set) but missing"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\n*** {what} not found: test SKIPPED ***\n"
        );
    }
    ok
}

fn pyjwt_verify(app: &TestApp, tokens: &[&str]) -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/verify_jwt.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(app.url("/.well-known/jwks.json"))
        .arg(&app.settings.public_url)
        .arg(&app.settings.audience)
        .args(tokens)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

both_backends! {
    async fn an_independent_jwt_library_verifies_through_the_jwks_across_a_rotation(backend) {
        if !peer_available("python3 with PyJWT (pip install 'pyjwt[crypto]')", Command::new("python3").args(["-c", "import jwt, cryptography"])) {
            return;
        }
        for alg in [authgate::settings::JwtAlgorithm::EdDsa, authgate::settings::JwtAlgorithm::Es256, authgate::settings::JwtAlgorithm::Rs256] {
            let app = TestApp::spawn_with(backend, |s| {
                s.jwt_algorithm = alg;
                s.key_reload_interval = Duration::from_millis(200);
            }).await;
            let before = app.signed_in_user().await.access;
            // A long-lived token of the first key, to see it refused once that key leaves the JWKS.
            let url = authgate::settings::DatabaseUrl::parse(&app.db.url).unwrap();
            let pool = authgate::db::build_pool(&url, 1, Duration::from_secs(5));
            let sealer = authgate::crypto::sealing::Sealer::new(None).unwrap();
            let old_keys = authgate::tokens::KeyStore::new(alg, None, sealer.clone());
            old_keys.load(&mut pool.get().unwrap()).unwrap();
            let long_lived = authgate::tokens::access::TokenIssuer::new(
                app.settings.public_url.clone(),
                app.settings.audience.clone(),
                Duration::from_secs(3600),
                0,
            );
            let (old_long, _) = long_lived.sign(&old_keys, authgate::tokens::access::Issue {
                user_id: "00000000-0000-4000-8000-000000000000", session_id: "s", email: "x@example.com",
                email_verified: false, amr: vec!["pwd".into()], aal: "aal1", roles: vec![],
            }).unwrap();

            // The old key signs no more after 500 ms and stays published 20 s more: ample time
            // for the first check even on a loaded machine.
            let old_kid = old_keys.snapshot().signing_key(authgate::db::now()).unwrap().kid.clone();
            authgate::tokens::keys::rotate(&mut pool.get().unwrap(), alg, &sealer, Duration::from_millis(500), Duration::from_secs(20)).unwrap();
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let after = app.signed_in_user().await.access;
            assert_ne!(before.split('.').next(), after.split('.').next(), "signed with another key");

            let verdicts = pyjwt_verify(&app, &[&before, &after, &old_long]);
            assert!(verdicts.iter().all(|v| v.starts_with("ok ")), "{alg:?} before retirement: {verdicts:?}");

            // Retire the old key now (as if its time had come) instead of waiting 20 s.
            retire_now(&app, &old_kid);
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().text().await.unwrap();
                if !jwks.contains(&old_kid) {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "the retired key never left the JWKS");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let verdicts = pyjwt_verify(&app, &[&after, &old_long]);
            assert!(verdicts[0].starts_with("ok "), "{alg:?}: {verdicts:?}");
            assert!(verdicts[1].starts_with("fail "), "{alg:?}: the retired key left the JWKS, its tokens must fail: {verdicts:?}");
        }
    }

    async fn nginx_auth_request_protects_an_upstream(backend) {
        if !peer_available("nginx (apt-get install nginx)", Command::new("nginx").arg("-v")) {
            return;
        }
        let app = TestApp::spawn(backend).await;
        let upstream = echo_upstream().await;
        let nginx = Nginx::start(app.port, upstream).await;
        let client = client();

        let anonymous = client.get(format!("{}/app/page", nginx.base)).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "no token, no upstream");

        let tokens = app.signed_in_user().await;
        let me: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        let seen: Value = client.get(format!("{}/app/page?q=1", nginx.base))
            .bearer_auth(&tokens.access)
            .header("x-auth-user-id", "spoofed-admin")
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(seen["path"], "/app/page?q=1");
        assert_eq!(seen["x-auth-user-id"], me["id"], "the upstream sees the real identity, not the spoofed one");
        assert_eq!(seen["x-auth-user-email"], me["email"]);
        assert_eq!(seen["x-auth-email-verified"], "false");
        assert_eq!(seen["x-auth-aal"], "aal1");

        let by_cookie = client.post(format!("{}/app/form", nginx.base))
            .header("cookie", format!("access_token={}", tokens.access))
            .body("a=b").send().await.unwrap();
        assert_eq!(by_cookie.status(), 200, "cookie-authenticated POST passes through nginx");

        let forged = client.get(format!("{}/app/page", nginx.base)).bearer_auth("x.y.z").send().await.unwrap();
        assert_eq!(forged.status(), 401);
    }
}

/// Ends a key's publication now, as the schedule would at its `expires_at`.
fn retire_now(app: &TestApp, kid: &str) {
    use authgate::db::schema::signing_keys;
    use diesel::{ExpressionMethods as _, QueryDsl as _, RunQueryDsl as _};
    let url = authgate::settings::DatabaseUrl::parse(&app.db.url).unwrap();
    let pool = authgate::db::build_pool(&url, 1, Duration::from_secs(5));
    let past = authgate::db::now() - chrono::Duration::seconds(1);
    diesel::update(signing_keys::table.filter(signing_keys::kid.eq(kid)))
        .set((
            signing_keys::retired_at.eq(Some(past)),
            signing_keys::expires_at.eq(Some(past)),
        ))
        .execute(&mut pool.get().unwrap())
        .unwrap();
}

/// An upstream that answers with the path and the identity headers it received.
async fn echo_upstream() -> u16 {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    async fn echo(req: HttpRequest) -> HttpResponse {
        let mut seen = serde_json::Map::new();
        seen.insert("path".into(), json!(req.uri().to_string()));
        for (name, value) in req.headers() {
            if name.as_str().starts_with("x-auth-") {
                seen.insert(
                    name.as_str().into(),
                    json!(value.to_str().unwrap_or_default()),
                );
            }
        }
        HttpResponse::Ok().json(seen)
    }
    let server = HttpServer::new(|| App::new().default_service(web::to(echo)))
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    port
}

struct Nginx {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(auth_port: u16, upstream_port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The auth_request core of deploy/nginx/authgate.conf, on plain http (the shipped file
        // itself, HTTPS and all, runs in shipped_nginx.rs).
        let conf = format!(
            r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /_authgate {{
            internal;
            proxy_pass http://127.0.0.1:{auth_port}/api/v1/auth/verify/;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }}
        location / {{
            auth_request /_authgate;
            auth_request_set $auth_user_id $upstream_http_x_auth_user_id;
            auth_request_set $auth_user_email $upstream_http_x_auth_user_email;
            auth_request_set $auth_email_verified $upstream_http_x_auth_email_verified;
            auth_request_set $auth_session_id $upstream_http_x_auth_session_id;
            auth_request_set $auth_aal $upstream_http_x_auth_aal;
            proxy_set_header X-Auth-User-Id $auth_user_id;
            proxy_set_header X-Auth-User-Email $auth_user_email;
            proxy_set_header X-Auth-Email-Verified $auth_email_verified;
            proxy_set_header X-Auth-Session-Id $auth_session_id;
            proxy_set_header X-Auth-Aal $auth_aal;
            proxy_pass http://127.0.0.1:{upstream_port};
        }}
    }}
}}
"#,
            d = dir.path().display()
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let base = format!("http://127.0.0.1:{port}");
        let client = client();
        for _ in 0..100 {
            if client.get(format!("{base}/")).send().await.is_ok() {
                return Self {
                    child,
                    base,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        panic!("nginx did not start: {log}");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
