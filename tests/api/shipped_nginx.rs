//! `deploy/nginx/authgate.conf` as shipped, in a real nginx over HTTPS in front of the real
//! authgate binary (started with the settings the file's header documents) and an app.
//!
//! Only the literal ports, upstream addresses and certificate paths of the file are replaced, each
//! replacement asserted to have matched: a changed file fails here rather than silently testing
//! something else. A browser is played by reqwest with a cookie jar (authgate's cookies are
//! `Secure`: kept over https only) bound to its own loopback address, so what authgate records
//! as the client address can be told apart from nginx's 127.0.0.1.

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::CookieStore as _;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::peers::peer_available;

const SHIPPED: &str = include_str!("../../deploy/nginx/authgate.conf");

/// The header comment's `#   AUTHGATE_NAME=value` lines: the settings authgate needs behind
/// this file.
fn documented_settings(conf: &str) -> Vec<(String, String)> {
    conf.lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .filter_map(|l| l.strip_prefix('#'))
        .map(str::trim)
        .filter(|l| l.starts_with("AUTHGATE_"))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, v)| {
            k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                && !v.contains(char::is_whitespace)
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `conf` with `from` replaced by `to`, asserting `from` occurs exactly `times` times.
fn replace(conf: &str, from: &str, to: &str, times: usize) -> String {
    assert_eq!(
        conf.matches(from).count(),
        times,
        "deploy/nginx/authgate.conf no longer contains `{from}` {times} time(s): update this test"
    );
    conf.replace(from, to)
}

/// Comments removed.
fn uncommented(conf: &str) -> String {
    conf.lines()
        .map(|l| l.split_once('#').map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `location … { … }` block: its header and its body (nested blocks included).
fn locations(conf: &str) -> Vec<(String, String)> {
    let code = uncommented(conf);
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("location ") {
        let after = &rest[at..];
        let open = after.find('{').expect("location block opens");
        let header = after[..open].trim().to_owned();
        let mut depth = 0usize;
        let mut end = open;
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((header, after[open + 1..end].to_owned()));
        rest = &after[end..];
    }
    out
}

/// A directive's arguments, whitespace collapsed: `proxy_set_header Host $host`.
fn has_directive(body: &str, directive: &str) -> bool {
    body.split(';')
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .any(|d| d == directive)
}

#[test]
fn every_shipped_nginx_location_that_proxies_sets_the_forwarding_headers() {
    let locs = locations(SHIPPED);
    let proxying: Vec<_> = locs
        .iter()
        .filter(|(_, body)| body.contains("proxy_pass "))
        .collect();
    assert!(proxying.len() >= 5, "{locs:#?}");
    for (header, body) in &proxying {
        for directive in [
            "proxy_set_header Host $host",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
            "proxy_set_header X-Forwarded-Proto $scheme",
            "proxy_set_header X-Forwarded-Host $host",
            // Keep-alive to the upstream: without it each request opens a connection.
            "proxy_set_header Connection \"\"",
        ] {
            assert!(
                has_directive(body, directive),
                "`{header}` proxies without `{directive}`"
            );
        }
    }
    // Only the catch-all is behind the check; what it forwards to the app is signed in.
    for (header, body) in &proxying {
        let behind_auth = body.contains("auth_request ");
        let to_app = body.contains("proxy_pass http://app");
        let public_page = !behind_auth && to_app;
        if public_page {
            for name in [
                "X-Auth-User-Id",
                "X-Auth-User-Email",
                "X-Auth-Email-Verified",
                "X-Auth-Session-Id",
                "X-Auth-Aal",
            ] {
                assert!(
                    has_directive(body, &format!("proxy_set_header {name} \"\"")),
                    "the public app location `{header}` passes a client-sent {name} on"
                );
            }
        }
    }
    let settings = documented_settings(SHIPPED);
    let documented = |name: &str| {
        settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        documented("AUTHGATE_TRUSTED_PROXIES"),
        Some("127.0.0.1/32"),
        "{settings:?}"
    );
    assert_eq!(
        documented("AUTHGATE_LISTEN"),
        Some("127.0.0.1:8080"),
        "the documented listen address is the `upstream authgate` server"
    );
    assert!(SHIPPED.contains("upstream authgate { server 127.0.0.1:8080;"));
    assert!(documented("AUTHGATE_PUBLIC_URL").is_some_and(|u| u.starts_with("https://")));
    let known = crate::manifests::setting_names();
    for (name, _) in &settings {
        assert!(known.contains(name), "{name} is not a setting of authgate");
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it, with `openssl`.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, reqwest::Certificate) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let with_key = |head: &[&'static str], tail: &[&'static str]| -> Vec<&'static str> {
        head.iter().chain(&ec).chain(tail).copied().collect()
    };
    run(&with_key(
        &["req", "-x509"],
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=authgate test CA",
        ],
    ));
    run(&with_key(
        &["req"],
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ));
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    (dir.join("server.pem"), dir.join("server.key"), ca)
}

/// The app: answers every request with its path and the headers nginx passed on.
async fn app_upstream() -> u16 {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    async fn echo(req: HttpRequest) -> HttpResponse {
        let mut seen = serde_json::Map::new();
        seen.insert("path".into(), json!(req.uri().to_string()));
        for (name, value) in req.headers() {
            let name = name.as_str();
            if name.starts_with("x-auth-") || name.starts_with("x-forwarded-") {
                seen.insert(name.into(), json!(value.to_str().unwrap_or_default()));
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

struct ShippedNginx {
    child: std::process::Child,
    https: String,
    http: String,
    ca: reqwest::Certificate,
    _dir: tempfile::TempDir,
}

impl ShippedNginx {
    async fn start(authgate_port: u16, app_port: u16, https_port: u16, http_port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca) = certificate(dir.path());
        let mut conf = SHIPPED.to_owned();
        conf = replace(
            &conf,
            "listen 443 ssl;",
            &format!("listen 127.0.0.1:{https_port} ssl;"),
            1,
        );
        conf = replace(
            &conf,
            "listen 80;",
            &format!("listen 127.0.0.1:{http_port};"),
            1,
        );
        conf = replace(
            &conf,
            "server 127.0.0.1:8080;",
            &format!("server 127.0.0.1:{authgate_port};"),
            1,
        );
        conf = replace(
            &conf,
            "server 127.0.0.1:3000;",
            &format!("server 127.0.0.1:{app_port};"),
            1,
        );
        conf = replace(
            &conf,
            "/etc/letsencrypt/live/app.example.com/fullchain.pem",
            &cert.display().to_string(),
            1,
        );
        conf = replace(
            &conf,
            "/etc/letsencrypt/live/app.example.com/privkey.pem",
            &key.display().to_string(),
            1,
        );
        std::fs::write(dir.path().join("authgate.conf"), conf).unwrap();
        // What /etc/nginx/nginx.conf provides around conf.d/, on test paths.
        let main = format!(
            r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    include {d}/authgate.conf;
}}
"#,
            d = dir.path().display()
        );
        let main_path = dir.path().join("nginx.conf");
        std::fs::write(&main_path, main).unwrap();
        let test = Command::new("nginx")
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&main_path)
            .output()
            .expect("nginx -t");
        assert!(
            test.status.success(),
            "nginx -t refuses the shipped file: {}",
            String::from_utf8_lossy(&test.stderr)
        );
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&main_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let https = format!("https://127.0.0.1:{https_port}");
        let http = format!("http://127.0.0.1:{http_port}");
        let probe = browser(&ca, "127.0.0.1".parse().unwrap());
        for _ in 0..100 {
            if probe.get(format!("{https}/signin")).send().await.is_ok() {
                return Self {
                    child,
                    https,
                    http,
                    ca,
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

impl Drop for ShippedNginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser: its own cookie jar, the test CA trusted, connecting from `from` (any 127/8
/// address is the loopback interface on Linux), redirects not followed (each hop is checked).
fn browser(ca: &reqwest::Certificate, from: IpAddr) -> reqwest::Client {
    browser_with_jar(ca, from, Arc::new(reqwest::cookie::Jar::default()))
}

fn browser_with_jar(
    ca: &reqwest::Certificate,
    from: IpAddr,
    jar: Arc<reqwest::cookie::Jar>,
) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_merge([ca.clone()])
        .cookie_provider(jar)
        .local_address(from)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Follows redirects by hand (at most 5) and returns every `Location` and the final answer.
async fn follow(client: &reqwest::Client, url: &str) -> (Vec<String>, reqwest::Response) {
    let mut hops = Vec::new();
    let mut url = url.to_owned();
    for _ in 0..5 {
        let resp = client
            .get(&url)
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        if !resp.status().is_redirection() {
            return (hops, resp);
        }
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        hops.push(location.clone());
        url = location;
    }
    panic!("redirect loop: {hops:?}");
}

both_backends! {
    async fn shipped_nginx_config_walks_signup_to_logout_over_https(backend) {
        if !peer_available("nginx (apt-get install nginx)", Command::new("nginx").arg("-v"))
            || !peer_available("openssl (apt-get install openssl)", Command::new("openssl").arg("version"))
        {
            return;
        }
        let (https_port, http_port) = (free_port(), free_port());
        let origin = format!("https://127.0.0.1:{https_port}");

        // authgate on the settings the file documents, its public URL being nginx's origin; the
        // helper chooses authgate's port and nginx's upstream is pointed at it.
        let settings = documented_settings(SHIPPED);
        assert!(settings.iter().any(|(k, v)| k == "AUTHGATE_TRUSTED_PROXIES" && v == "127.0.0.1/32"), "{settings:?}");
        let env: Vec<(String, String)> = settings
            .iter()
            .filter(|(name, _)| name != "AUTHGATE_LISTEN")
            .map(|(name, value)| (name.clone(), value.replace("https://app.example.com", &origin)))
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let db = TestDb::create(backend);
        let authgate = Proc::start(&db.url, &env, false).await;
        let authgate_port: u16 = authgate.base.rsplit(':').next().unwrap().parse().unwrap();
        let app_port = app_upstream().await;
        let nginx = ShippedNginx::start(authgate_port, app_port, https_port, http_port).await;
        let base = &nginx.https;

        // Plain http only leads to https.
        let plain = client().get(format!("{}/private?page=2", nginx.http)).send().await.unwrap();
        assert_eq!(plain.status(), 301);
        assert_eq!(plain.headers()["location"], "https://127.0.0.1/private?page=2");
        let plain_api = client()
            .post(format!("{}/api/v1/auth/signin/", nginx.http))
            .json(&json!({"login": "x@example.com", "password": "x"}))
            .send().await.unwrap();
        assert_eq!(plain_api.status(), 301, "no API over plain http either");

        let ada_jar = Arc::new(reqwest::cookie::Jar::default());
        let ada = browser_with_jar(&nginx.ca, "127.0.0.2".parse().unwrap(), ada_jar.clone());

        // Signed out: a page request goes to the sign-in page, once, and the sign-in page is
        // served (not itself behind the check, so return_to does not nest).
        let (hops, page) = follow(&ada, &format!("{base}/private")).await;
        assert_eq!(hops, [format!("{base}/signin?return_to=/private")], "one redirect, to the sign-in page");
        assert_eq!(page.status(), 200);
        let signin_page: Value = page.json().await.unwrap();
        assert_eq!(signin_page["path"], "/signin?return_to=/private");
        let query = signin_page["path"].as_str().unwrap().split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        assert_eq!(pairs, [("return_to".to_owned(), "/private".to_owned())], "a single, un-nested return_to");
        // An API call gets the 401, not a page.
        let api = ada.get(format!("{base}/private")).header("accept", "application/json").send().await.unwrap();
        assert_eq!(api.status(), 401);
        // The public pages get no identity, whatever the client claims.
        let spoofed: Value = ada.get(format!("{base}/signin"))
            .header("x-auth-user-id", "spoofed-admin")
            .send().await.unwrap().json().await.unwrap();
        assert!(spoofed.get("x-auth-user-id").is_none(), "{spoofed}");
        assert_eq!(spoofed["x-forwarded-proto"], "https");

        // Sign-up, as a browser on this origin would post it.
        let email = unique_email();
        let signup = ada.post(format!("{base}/api/v1/auth/signup/"))
            .header("origin", base)
            .json(&json!({"email": email, "password": "correct horse battery", "name": "Ada"}))
            .send().await.unwrap();
        assert_eq!(signup.status(), 201);
        let access = cookie(signup.headers(), "access_token").expect("access cookie");
        assert_eq!(access.secure(), Some(true), "authgate's cookies are Secure: the reason for https");
        let url: reqwest::Url = format!("{base}/private").parse().unwrap();
        assert!(ada_jar.cookies(&url).is_some_and(|c| c.to_str().unwrap().contains("access_token=")), "the jar kept the Secure cookie over https");
        let user: Value = signup.json().await.unwrap();
        let user_id = user["user"]["id"].as_str().or(user["id"].as_str()).expect("user id").to_owned();

        // Sign-in from a second browser on another address, with a forged X-Forwarded-For.
        let bob = browser(&nginx.ca, "127.0.0.3".parse().unwrap());
        let signin = bob.post(format!("{base}/api/v1/auth/signin/"))
            .header("origin", base)
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"login": email, "password": "correct horse battery", "remember_me": false}))
            .send().await.unwrap();
        assert_eq!(signin.status(), 204);

        // The protected page reaches the app with the identity, whatever the client sent.
        for who in [&ada, &bob] {
            let (hops, page) = follow(who, &format!("{base}/private?page=2")).await;
            assert!(hops.is_empty(), "{hops:?}");
            assert_eq!(page.status(), 200);
            let seen: Value = page.json().await.unwrap();
            assert_eq!(seen["path"], "/private?page=2");
            assert_eq!(seen["x-auth-user-id"], user_id.as_str());
            assert_eq!(seen["x-auth-user-email"], email.as_str());
            assert_eq!(seen["x-auth-email-verified"], "false");
            assert_eq!(seen["x-auth-aal"], "aal1");
            assert!(seen["x-auth-session-id"].as_str().is_some_and(|s| !s.is_empty()));
            assert_eq!(seen["x-forwarded-proto"], "https");
        }
        let spoofed: Value = ada.get(format!("{base}/private"))
            .header("x-auth-user-id", "spoofed-admin")
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(spoofed["x-auth-user-id"], user_id.as_str());

        // authgate saw each browser's own address (nginx is trusted, the forged hop is not).
        let sessions: Value = ada.get(format!("{base}/api/v1/auth/sessions/")).send().await.unwrap().json().await.unwrap();
        let mut ips: Vec<&str> = sessions["sessions"].as_array().unwrap().iter().map(|s| s["ip"].as_str().unwrap_or("none")).collect();
        ips.sort_unstable();
        assert_eq!(ips, ["127.0.0.2", "127.0.0.3"], "{sessions}");

        // Refresh rotates the cookies through nginx.
        let before = ada_jar.cookies(&url).unwrap().to_str().unwrap().to_owned();
        let refreshed = ada.post(format!("{base}/api/v1/auth/custom-refresh/")).header("origin", base).send().await.unwrap();
        assert!(refreshed.status().is_success(), "{}", refreshed.status());
        let after = ada_jar.cookies(&url).unwrap().to_str().unwrap().to_owned();
        assert_ne!(before, after, "new cookies");
        let (_, page) = follow(&ada, &format!("{base}/private")).await;
        assert_eq!(page.status(), 200);

        // Logout: the private page is refused again.
        let logout = ada.post(format!("{base}/api/v1/auth/custom-logout/")).header("origin", base).send().await.unwrap();
        assert!(logout.status().is_success(), "{}", logout.status());
        let (hops, page) = follow(&ada, &format!("{base}/private")).await;
        assert_eq!(hops, [format!("{base}/signin?return_to=/private")]);
        assert_eq!(page.status(), 200);
        let api = ada.get(format!("{base}/private")).header("accept", "application/json").send().await.unwrap();
        assert_eq!(api.status(), 401);
        drop(authgate);
    }
}
