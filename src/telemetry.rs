//! Logging: the subscriber, and one span per request carrying a request id that is echoed in
//! `X-Request-Id` and present on every log line of the request.

use std::io::IsTerminal as _;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;
use crate::startup::AppState;

pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client-supplied id is kept only when it is short and plain, so it cannot forge log lines.
fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then(|| s.to_owned())
}

/// Records who the request is for on its span, once known (every later log line carries it).
pub fn record_identity(user_id: &str, session_id: &str) {
    let span = tracing::Span::current();
    span.record("user_id", user_id);
    span.record("session_id", session_id);
}

/// One span per request (request id, method, path, then user and session ids), the closing log
/// line, the `X-Request-Id` echo, and the HTTP metrics by route template.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let state = req.app_data::<actix_web::web::Data<AppState>>().cloned();
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = %req.path(),
        user_id = tracing::field::Empty,
        session_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed = started.elapsed();
    match result {
        Ok(mut resp) => {
            let status = resp.status();
            tracing::info!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request done"
            );
            if let Some(state) = state {
                // The route template, never the raw path: label values stay few.
                // Proxied requests get one label without the walk over every route
                // `match_pattern` makes for a path no route matches.
                let route = if crate::proxy::is_proxied(&state, resp.request().path()) {
                    "proxied".to_owned()
                } else {
                    resp.request()
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_owned())
                };
                let m = &state.metrics;
                m.http_requests
                    .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
                    .inc();
                m.http_duration
                    .with_label_values(&[route.as_str(), method.as_str()])
                    .observe(elapsed.as_secs_f64());
            }
            if let Ok(v) = HeaderValue::from_str(&id) {
                resp.headers_mut().insert(REQUEST_ID, v);
            }
            Ok(resp)
        }
        Err(e) => {
            tracing::warn!(error = %e, "request failed");
            Err(e)
        }
    }
}
