//! Sidecar proxy mode against a real upstream started by the test: an HTTP server
//! that echoes what it received, streams large bodies both ways, stalls on demand and echoes
//! WebSocket frames.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};

use crate::helpers::*;
use authgate::paths::PathPattern;

const CHUNK: usize = 64 * 1024;

/// The upstream app: counts the requests it saw.
pub struct Upstream {
    pub base: String,
    pub hits: Arc<AtomicUsize>,
}

async fn echo(
    req: HttpRequest,
    mut body: web::Payload,
    hits: web::Data<AtomicUsize>,
) -> HttpResponse {
    hits.fetch_add(1, Ordering::SeqCst);
    let mut received = 0usize;
    let mut head = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("body chunk");
        received += chunk.len();
        if head.len() < 1024 {
            head.extend_from_slice(&chunk[..chunk.len().min(1024 - head.len())]);
        }
    }
    let mut headers = serde_json::Map::new();
    for (name, value) in req.headers() {
        let entry = headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| json!([]));
        entry
            .as_array_mut()
            .expect("array")
            .push(json!(String::from_utf8_lossy(value.as_bytes())));
    }
    HttpResponse::Ok()
        .insert_header(("x-upstream", "echo"))
        .json(json!({
            "method": req.method().as_str(),
            "path": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""),
            "headers": headers,
            "received": received,
            "body": String::from_utf8_lossy(&head),
        }))
}

async fn download(req: HttpRequest) -> HttpResponse {
    let size: usize = req
        .query_string()
        .strip_prefix("bytes=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let chunks = futures_util::stream::iter((0..size).step_by(CHUNK).map(move |start| {
        Ok::<_, std::io::Error>(web::Bytes::from(vec![7u8; CHUNK.min(size - start)]))
    }));
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(actix_web::body::SizedStream::new(size as u64, chunks))
}

/// Answers with the status named in the path and a body, so status codes must pass unchanged.
async fn status(path: web::Path<u16>) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(path.into_inner())
        .unwrap_or(actix_web::http::StatusCode::IM_A_TEAPOT);
    HttpResponse::build(code).body(format!("status {}", code.as_u16()))
}

/// Answers with hop-by-hop headers of its own, which must not reach the client.
async fn hop() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("proxy-authenticate", "Basic realm=upstream"))
        .insert_header(("trailer", "x-checksum"))
        .insert_header(("keep-alive", "timeout=99"))
        .insert_header(("x-app", "kept"))
        .body("hop")
}

async fn slow() -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(5)).await;
    HttpResponse::Ok().body("late")
}

async fn ws_echo(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (resp, mut session, mut frames) = actix_ws::handle(&req, body)?;
    let user = req
        .headers()
        .get("x-auth-user-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = frames.next().await {
            match msg {
                actix_ws::Message::Text(t) => {
                    let _ = session.text(format!("{user}:{t}")).await;
                }
                actix_ws::Message::Binary(b) => {
                    let _ = session.binary(b).await;
                }
                actix_ws::Message::Ping(p) => {
                    let _ = session.pong(&p).await;
                }
                actix_ws::Message::Close(r) => {
                    let _ = session.close(r).await;
                    return;
                }
                _ => {}
            }
        }
    });
    Ok(resp)
}

pub async fn start_upstream() -> Upstream {
    let hits = web::Data::new(AtomicUsize::new(0));
    let counter = hits.clone().into_inner();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(hits.clone())
            .route("/download", web::get().to(download))
            .route("/slow", web::get().to(slow))
            .route("/status/{code}", web::to(status))
            .route("/hop", web::get().to(hop))
            .route("/ws", web::get().to(ws_echo))
            .default_service(web::to(echo))
    })
    .workers(2)
    .listen(listener)
    .expect("listen")
    .disable_signals()
    .run();
    tokio::spawn(server);
    Upstream {
        base: format!("http://127.0.0.1:{port}"),
        hits: counter,
    }
}

pub(crate) async fn proxied_app(
    backend: Backend,
    upstream: &Upstream,
    configure: impl FnOnce(&mut authgate::settings::Settings),
) -> TestApp {
    let base = upstream.base.clone();
    TestApp::spawn_with(backend, move |s| {
        s.upstream = Some(base);
        s.public_paths = vec![
            PathPattern::parse("/").unwrap(),
            PathPattern::parse("/assets/*").unwrap(),
            PathPattern::parse("/login").unwrap(),
        ];
        s.login_url = Some("https://app.example.com/login".into());
        s.public_url = "https://app.example.com".into();
        configure(s);
    })
    .await
}

fn pairs_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    serde_urlencoded::from_str(query).expect("query")
}

/// A request written byte for byte, so no client library normalises the path (or refuses an
/// oversized header) first.
async fn raw_get(port: u16, target: &str, extra: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: app.example.com\r\n{extra}Connection: close\r\n\r\n"
    );
    // A server refusing an oversized head may answer and close before reading it all.
    let _ = s.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = s.read(&mut buf).await {
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

both_backends! {
    async fn anonymous_requests_get_401_json_or_a_login_redirect_on_the_own_origin(backend) {
        let upstream = start_upstream().await;
        let app = proxied_app(backend, &upstream, |_| {}).await;

        let resp = app.client.get(app.url("/dashboard")).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_eq!(error_code(resp).await, "unauthenticated");

        let resp = app.client.get(app.url("/dashboard")).bearer_auth("not.a.token").send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "invalid_token");

        let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let resp = app.client.get(app.url("/dash/board/?tab=2&return_to=https://evil.example/x"))
            .header("accept", html).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("https://app.example.com/login?return_to="), "{location}");
        assert_eq!(pairs_of(&location), vec![(
            "return_to".to_owned(),
            "https://app.example.com/dash/board/?tab=2&return_to=https://evil.example/x".to_owned(),
        )], "the original URL is kept whole, trailing slash and query included");

        // A path that looks like a scheme-relative URL still lands on the own origin.
        let raw = raw_get(app.port, "//evil.example/steal", &format!("Accept: {html}\r\n")).await;
        assert!(raw.starts_with("HTTP/1.1 302"), "{raw}");
        let location = raw.lines().find_map(|l| l.strip_prefix("location: ")).expect("location").to_owned();
        let return_to = &pairs_of(&location)[0].1;
        assert_eq!(return_to, "https://app.example.com/evil.example/steal", "slashes merged: the path the decision was made on");

        // An absolute-form request target cannot smuggle another origin either.
        let raw = raw_get(app.port, "http://evil.example/phish?x=1", &format!("Accept: {html}\r\n")).await;
        let location = raw.lines().find_map(|l| l.strip_prefix("location: ")).expect("location").to_owned();
        assert_eq!(pairs_of(&location)[0].1, "https://app.example.com/phish?x=1");

        assert_eq!(upstream.hits.load(Ordering::SeqCst), 0, "nothing reached the upstream");

        // Without a login URL an HTML request gets the 401 too.
        let plain = proxied_app(backend, &upstream, |s| s.login_url = None).await;
        let resp = plain.client.get(plain.url("/dashboard")).header("accept", html).send().await.unwrap();
        assert_eq!(resp.status(), 401);
    }

    async fn signed_in_requests_reach_the_upstream_with_identity_and_never_spoofed_headers(backend) {
        let upstream = start_upstream().await;
        let app = proxied_app(backend, &upstream, |_| {}).await;
        let tokens = app.signed_in_user().await;
        let me: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        let user_id = me["id"].as_str().expect("user id").to_owned();

        let resp = app.client.post(app.url("/things/?a=1&b=%2F"))
            .bearer_auth(&tokens.access)
            .header("content-type", "text/plain")
            .header("X-Auth-User-Id", "attacker")
            .header("x-auth-aal", "aal2")
            .header("x-auth-custom", "spoof")
            .header("x-forwarded-for", "6.6.6.6")
            .header("x-app-header", "kept")
            .header("cookie", "theme=dark; refresh_token=secret")
            .body("not json at all, and longer than nothing")
            .send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-upstream"], "echo");
        let seen: Value = resp.json().await.unwrap();
        assert_eq!(seen["method"], "POST");
        assert_eq!(seen["path"], "/things/?a=1&b=%2F", "exact path and query, trailing slash kept");
        assert_eq!(seen["body"], "not json at all, and longer than nothing");
        let h = &seen["headers"];
        assert_eq!(h["x-auth-user-id"], json!([user_id]));
        assert_eq!(h["x-auth-aal"], json!(["aal1"]));
        assert_eq!(h["x-auth-email-verified"], json!(["false"]));
        assert_eq!(h["x-auth-user-email"].as_array().map(Vec::len), Some(1));
        assert_eq!(h["x-auth-session-id"].as_array().map(Vec::len), Some(1));
        assert!(h.get("x-auth-custom").is_none(), "{h}");
        assert_eq!(h["x-forwarded-for"], json!(["127.0.0.1"]), "a client's own XFF is not believed");
        assert_eq!(h["x-forwarded-proto"], json!(["http"]));
        assert_eq!(h["x-forwarded-host"], json!([format!("127.0.0.1:{}", app.port)]), "the Host the client used");
        assert_eq!(h["x-app-header"], json!(["kept"]));
        assert_eq!(h["cookie"], json!(["theme=dark"]), "authgate's cookies stay with authgate");
        assert!(h.get("authorization").is_none(), "the token is not passed on by default");

        // The access-token cookie works the same way.
        let resp = app.client.get(app.url("/profile"))
            .header("cookie", format!("access_token={}", tokens.access))
            .send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let seen: Value = resp.json().await.unwrap();
        assert_eq!(seen["headers"]["x-auth-user-id"], json!([user_id]));
        assert!(seen["headers"].get("cookie").is_none());

        // The upstream's status and body come back unchanged, whatever the method.
        for (method, code) in [(reqwest::Method::GET, 418u16), (reqwest::Method::DELETE, 404), (reqwest::Method::PUT, 201), (reqwest::Method::PATCH, 503)] {
            let resp = app.client.request(method.clone(), app.url(&format!("/status/{code}"))).bearer_auth(&tokens.access).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), code, "{method}");
            assert_eq!(resp.text().await.unwrap(), format!("status {code}"), "{method}: the upstream's body, not an envelope");
        }

        // authgate's own endpoints stay its own.
        let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "ok"}));
        let resp = app.client.get(app.url("/api/v1/auth/nothing-here")).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(error_code(resp).await, "not_found");

        // With AUTHGATE_PROXY_PASS_TOKEN the upstream gets the token as a Bearer header.
        let passing = proxied_app(backend, &upstream, |s| s.proxy_pass_token = true).await;
        let tokens = passing.signed_in_user().await;
        let seen: Value = passing.client.get(passing.url("/x"))
            .header("cookie", format!("access_token={}", tokens.access))
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(seen["headers"]["authorization"], json!([format!("Bearer {}", tokens.access)]));
    }

    async fn public_paths_pass_without_a_token_and_lose_spoofed_identity(backend) {
        let upstream = start_upstream().await;
        let app = proxied_app(backend, &upstream, |_| {}).await;
        for path in ["/", "/assets/app.js?v=3"] {
            let resp = app.client.get(app.url(path)).header("x-auth-user-id", "attacker").send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let seen: Value = resp.json().await.unwrap();
            assert_eq!(seen["path"], path);
            let headers = seen["headers"].as_object().unwrap();
            assert!(!headers.keys().any(|k| k.starts_with("x-auth-")), "{path}: {headers:?}");
        }
        // Control: other paths, and paths that only look public, still need a token.
        for target in ["/index.html", "/assets", "/assets/../admin", "/assets/%2e%2e/admin"] {
            let raw = raw_get(app.port, target, "").await;
            assert!(raw.starts_with("HTTP/1.1 401"), "{target}: {raw}");
        }
        let raw = raw_get(app.port, "/assets/..%2fadmin", "").await;
        assert!(raw.starts_with("HTTP/1.1 400"), "an encoded slash has no safe reading: {raw}");
        assert_eq!(upstream.hits.load(Ordering::SeqCst), 2);
    }

    async fn path_rules_require_a_verified_email_or_a_second_factor(backend) {
        let upstream = start_upstream().await;
        let app = proxied_app(backend, &upstream, |s| {
            s.proxy_require_verified_email = vec![PathPattern::parse("/billing/*").unwrap()];
            s.proxy_require_aal2 = vec![PathPattern::parse("/admin/*").unwrap()];
        }).await;
        let tokens = app.signed_in_user().await;
        let get = |path: &'static str| app.client.get(app.url(path)).bearer_auth(&tokens.access).send();
        let resp = get("/billing/invoices").await.unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(error_code(resp).await, "email_not_verified");
        let resp = get("/admin/users").await.unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(error_code(resp).await, "mfa_required");
        assert_eq!(get("/reports").await.unwrap().status(), 200, "control: no rule there");
        assert_eq!(upstream.hits.load(Ordering::SeqCst), 1);
    }

    async fn upstream_down_is_502_and_slow_is_504_within_the_timeout(backend) {
        let upstream = start_upstream().await;
        let app = proxied_app(backend, &upstream, |s| s.upstream_timeout = Duration::from_secs(1)).await;
        let tokens = app.signed_in_user().await;
        let started = Instant::now();
        let resp = app.client.get(app.url("/slow")).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(resp.status(), 504);
        assert_eq!(error_code(resp).await, "upstream_timeout");
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(2), "{took:?}");

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let down = TestApp::spawn_with(backend, |s| {
            s.upstream = Some(format!("http://127.0.0.1:{closed}"));
            s.upstream_timeout = Duration::from_secs(1);
        }).await;
        let tokens = down.signed_in_user().await;
        let started = Instant::now();
        let resp = down.client.get(down.url("/anything")).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(resp.status(), 502);
        assert_eq!(error_code(resp).await, "upstream_unavailable");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    async fn hop_by_hop_headers_stay_on_their_hop_both_ways(backend) {
        let upstream = start_upstream().await;
        let app = proxied_app(backend, &upstream, |_| {}).await;
        let tokens = app.signed_in_user().await;
        let extra = format!(
            "Authorization: Bearer {}\r\nConnection: x-secret-hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-App: kept\r\n",
            tokens.access
        );
        let raw = raw_get(app.port, "/echo", &extra).await;
        assert!(raw.starts_with("HTTP/1.1 200"), "{:.80}", raw);
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).expect("a body");
        let seen: Value = serde_json::from_str(body).expect("the echo");
        let h = seen["headers"].as_object().expect("headers");
        for gone in ["x-secret-hop", "keep-alive", "te", "proxy-authorization"] {
            assert!(!h.contains_key(gone), "{gone} reached the upstream: {h:?}");
        }
        assert_eq!(h["x-app"], json!(["kept"]), "control: end-to-end headers pass");

        let resp = app.client.get(app.url("/hop")).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        for gone in ["proxy-authenticate", "trailer", "keep-alive"] {
            assert!(resp.headers().get(gone).is_none(), "{gone} reached the client");
        }
        assert_eq!(resp.headers()["x-app"], "kept");
    }

    async fn oversized_request_heads_are_refused_before_the_upstream(backend) {
        let upstream = start_upstream().await;
        let app = proxied_app(backend, &upstream, |_| {}).await;
        let tokens = app.signed_in_user().await;
        let auth = format!("Authorization: Bearer {}\r\n", tokens.access);
        // A head past actix-http's 128 KiB limit, and more than its 96 headers.
        let huge = format!("{auth}X-Big: {}\r\n", "a".repeat(130 * 1024));
        let raw = raw_get(app.port, "/page", &huge).await;
        assert!(raw.starts_with("HTTP/1.1 431"), "{:.80}", raw);
        let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
        let raw = raw_get(app.port, "/page", &format!("{auth}{many}")).await;
        assert!(raw.starts_with("HTTP/1.1 431"), "{:.80}", raw);
        assert_eq!(upstream.hits.load(Ordering::SeqCst), 0, "nothing oversized reached the upstream");
        // Control: the same request with ordinary headers passes.
        let raw = raw_get(app.port, "/page", &auth).await;
        assert!(raw.starts_with("HTTP/1.1 200"), "{:.80}", raw);
    }

    async fn sigterm_lets_in_flight_proxied_requests_finish(backend) {
        let upstream = start_upstream().await;
        let db = TestDb::create(backend);
        let p = Proc::start(&db.url, &[("AUTHGATE_UPSTREAM", upstream.base.as_str()), ("AUTHGATE_PUBLIC_PATHS", "/slow")], false).await;
        let client = client();
        let in_flight: Vec<_> = (0..3).map(|_| {
            let (client, url) = (client.clone(), p.url("/slow"));
            tokio::spawn(async move {
                let resp = client.get(url).send().await?;
                Ok::<_, reqwest::Error>((resp.status().as_u16(), resp.text().await?))
            })
        }).collect();
        // The upstream holds each request for 5 s: they are all in flight when the signal comes.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let signalled = Instant::now();
        p.signal("-TERM");
        for t in in_flight {
            let (status, body) = t.await.unwrap().expect("in-flight proxied request failed");
            assert_eq!((status, body.as_str()), (200, "late"), "the upstream's answer arrives whole");
        }
        let mut p = p;
        let status = p.exit_status(signalled).await;
        assert!(status.success(), "exit status {status:?}");
    }

    async fn websocket_upgrades_pass_through_and_frames_flow_both_ways(backend) {
        let upstream = start_upstream().await;
        let app = proxied_app(backend, &upstream, |_| {}).await;
        let tokens = app.signed_in_user().await;
        let me: Value = app.get_user_bearer(&tokens.access).await.json().await.unwrap();
        let user_id = me["id"].as_str().unwrap().to_owned();
        let url = format!("ws://127.0.0.1:{}/ws", app.port);
        tokio::task::LocalSet::new().run_until(async move {
            let client = awc::Client::default();
            let refused = client.ws(url.as_str()).connect().await;
            assert!(matches!(refused, Err(awc::error::WsClientError::InvalidResponseStatus(s)) if s == 401));

            let (resp, mut conn) = client.ws(url.as_str())
                .bearer_auth(&tokens.access)
                .connect().await.expect("upgrade through the proxy");
            assert_eq!(resp.status(), 101);
            for i in 0..3 {
                conn.send(awc::ws::Message::Text(format!("hello {i}").into())).await.unwrap();
                match conn.next().await {
                    Some(Ok(awc::ws::Frame::Text(t))) => assert_eq!(t, format!("{user_id}:hello {i}").as_bytes()),
                    other => panic!("unexpected frame {other:?}"),
                }
            }
            conn.send(awc::ws::Message::Binary(vec![1u8, 2, 3].into())).await.unwrap();
            match conn.next().await {
                Some(Ok(awc::ws::Frame::Binary(b))) => assert_eq!(&b[..], &[1, 2, 3]),
                other => panic!("unexpected frame {other:?}"),
            }
            conn.send(awc::ws::Message::Close(None)).await.unwrap();
        }).await;
    }

    async fn large_bodies_stream_through_the_real_binary_with_flat_memory(backend) {
        let upstream = start_upstream().await;
        let db = TestDb::create(backend);
        let server = Binary::start(&db.url, &upstream.base).await;
        let client = client();
        let resp = client.post(format!("{}/api/v1/auth/signup/", server.base))
            .json(&json!({"email": unique_email(), "password": "correct horse battery", "name": "P"}))
            .send().await.unwrap();
        assert_eq!(resp.status(), 201);
        let tokens = Tokens::from_response(&resp);
        // Warm up the path, then measure.
        let warm = client.get(format!("{}/download?bytes=1000000", server.base)).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(warm.bytes().await.unwrap().len(), 1_000_000);
        let before = server.rss_kib("VmRSS");
        const SIZE: usize = 50 * 1024 * 1024;

        let chunks = futures_util::stream::iter((0..SIZE / CHUNK).map(|_| Ok::<_, std::io::Error>(vec![1u8; CHUNK])));
        let resp = client.put(format!("{}/upload", server.base))
            .bearer_auth(&tokens.access)
            .header("content-type", "application/octet-stream")
            .header("content-length", SIZE.to_string())
            .body(reqwest::Body::wrap_stream(chunks))
            .send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let seen: Value = resp.json().await.unwrap();
        assert_eq!(seen["received"], SIZE, "every byte of the upload arrived");

        let resp = client.get(format!("{}/download?bytes={SIZE}", server.base)).bearer_auth(&tokens.access).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-length"], SIZE.to_string().as_str());
        let mut got = 0usize;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            got += chunk.unwrap().len();
        }
        assert_eq!(got, SIZE);

        let peak = server.rss_kib("VmHWM");
        let growth_mib = peak.saturating_sub(before) / 1024;
        eprintln!("authgate RSS before {before} KiB, peak after 2 x 50 MiB {peak} KiB");
        assert!(growth_mib < 15, "memory grew by {growth_mib} MiB while streaming 2 x 50 MiB");
    }
}

/// The real binary in proxy mode, for memory measurements.
struct Binary {
    child: std::process::Child,
    base: String,
}

impl Binary {
    async fn start(db_url: &str, upstream: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
            .arg("serve")
            .env("AUTHGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("AUTHGATE_DATABASE_URL", db_url)
            .env("AUTHGATE_BCRYPT_COST", "4")
            .env("AUTHGATE_WORKERS", "2")
            .env("AUTHGATE_UPSTREAM", upstream)
            .env("AUTHGATE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start authgate");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client().get(format!("{}/readyz", server.base)).send().await {
                if r.status() == 200 {
                    return server;
                }
            }
            assert!(Instant::now() < deadline, "authgate did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("field in /proc status")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Proxy checks read no database: with PostgreSQL's database gone, valid tokens still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_requests_pass_while_the_database_is_down() {
    if !postgres_enabled() {
        return;
    }
    let upstream = start_upstream().await;
    let app = proxied_app(Backend::Postgres, &upstream, |s| {
        s.database_timeout = Duration::from_millis(500)
    })
    .await;
    let tokens = app.signed_in_user().await;
    app.db.drop_now();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "the outage is real");
    let started = std::time::Instant::now();
    let resp = app
        .client
        .get(app.url("/orders/7"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "no wait for a connection: {:?}",
        started.elapsed()
    );
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["path"], "/orders/7");
    let anonymous = app.client.get(app.url("/orders/7")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "control: still checked");
}

/// The proxy-sidecar example deploys what docs/sidecar.md describes: the pod's
/// Service reaches only authgate's port, the app is bound to loopback and is authgate's upstream.
#[test]
fn the_sidecar_manifest_exposes_only_authgate_in_front_of_a_loopback_app() {
    use serde::Deserialize as _;
    let text = include_str!("../../deploy/kubernetes/proxy-sidecar.yaml");
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("a {k}"))
    };
    let containers = kind("Deployment")["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .clone();
    let named = |n: &str| {
        containers
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("container {n}"))
            .clone()
    };
    let env = |c: &Value, k: &str| {
        c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == k)
            .and_then(|e| e["value"].as_str())
            .map(str::to_owned)
    };
    let (app, gate) = (named("app"), named("authgate"));
    assert_eq!(
        env(&app, "HOST").as_deref(),
        Some("127.0.0.1"),
        "the app listens on loopback only"
    );
    assert!(
        app.get("ports").is_none(),
        "the app exposes no container port"
    );
    let app_port = env(&app, "PORT").expect("app port");
    assert_eq!(
        env(&gate, "AUTHGATE_UPSTREAM"),
        Some(format!("http://127.0.0.1:{app_port}"))
    );
    for setting in ["AUTHGATE_PUBLIC_PATHS", "AUTHGATE_LOGIN_URL"] {
        assert!(env(&gate, setting).is_some(), "{setting} set");
    }
    let gate_port = &gate["ports"][0];
    let ports = kind("Service")["spec"]["ports"]
        .as_array()
        .expect("service ports")
        .clone();
    assert_eq!(ports.len(), 1, "one port: authgate's");
    assert!(
        ports[0]["targetPort"] == gate_port["name"]
            || ports[0]["targetPort"] == gate_port["containerPort"]
    );

    let page = include_str!("../../docs/sidecar.md");
    assert!(
        page.starts_with("# Sidecar proxy"),
        "docs/sidecar.md is the sidecar proxy page"
    );
    for setting in [
        "AUTHGATE_UPSTREAM",
        "AUTHGATE_PUBLIC_PATHS",
        "AUTHGATE_LOGIN_URL",
        "proxy-sidecar.yaml",
    ] {
        assert!(page.contains(setting), "docs/sidecar.md names {setting}");
    }
}
