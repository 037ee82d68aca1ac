//! The ceiling for `bench/proxy.sh`: the least a streaming reverse proxy built from the same
//! crates as authgate's proxy mode does per request. actix-web in front, one awc client per worker
//! (`authgate::proxy::upstream_client`, the same as proxy mode), request and response bodies
//! streamed, hop-by-hop headers dropped; no token check, no identity or `X-Forwarded-*` headers.
//! Authgate's proxied throughput is reported as a share of this as well as of the upstream alone.
//!
//! Usage: `proxy_ceiling PORT WORKERS UPSTREAM_URL`.

use std::time::Duration;

use actix_web::body::SizedStream;
use actix_web::http::header::{HeaderName, CONTENT_LENGTH};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

#[derive(Clone)]
struct Upstream {
    client: awc::Client,
    base: String,
}

fn end_to_end(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn content_length(headers: &actix_web::http::header::HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

async fn forward(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Some(up) = req.app_data::<Upstream>() else {
        return HttpResponse::InternalServerError().finish();
    };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = up
        .client
        .request(req.method().clone(), format!("{}{pq}", up.base))
        .no_decompress();
    for (name, value) in req.headers().iter().filter(|(n, _)| end_to_end(n)) {
        out = out.append_header((name.clone(), value.clone()));
    }
    let sent = match content_length(req.headers()) {
        Some(0) | None if !req.headers().contains_key("transfer-encoding") => out.send_body(()),
        Some(len) => out.send_body(SizedStream::new(len, payload)),
        None => out.send_stream(payload),
    };
    let response = match sent.await {
        Ok(r) => r,
        Err(_) => return HttpResponse::BadGateway().finish(),
    };
    let mut builder = HttpResponse::build(response.status());
    for (name, value) in response.headers().iter().filter(|(n, _)| end_to_end(n)) {
        builder.append_header((name.clone(), value.clone()));
    }
    match content_length(response.headers()) {
        Some(len) => builder.body(SizedStream::new(len, response)),
        None => builder.streaming(response),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(3001);
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    HttpServer::new(move || {
        let client = authgate::proxy::upstream_client(Duration::from_secs(30));
        App::new()
            .app_data(Upstream {
                client,
                base: base.clone(),
            })
            .default_service(web::to(forward))
    })
    .workers(workers)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
