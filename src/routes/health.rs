//! `/`, `/healthz`, `/readyz`, `/openapi.yml`.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::http::error::envelope;
use crate::http::ClientInfo;
use crate::state::AppState;

pub const OPENAPI: &str = include_str!("../../openapi.yml");

pub async fn root(client: ClientInfo) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "authgate",
        "version": env!("CARGO_PKG_VERSION"),
        "now": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "ip": client.ip_string(),
    }))
}

/// The process is alive; says nothing about dependencies.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to serve. Every check by default: the database answers within a bound and signing
/// keys are loaded. `?exclude=database` (repeatable, as Kubernetes' own `/readyz` takes it)
/// leaves the database out and never touches it: token checks (`verify/`, the proxy, JWKS) keep
/// working through a database outage, so an instance that serves them is ready while the
/// database is down, and a probe must not wait on the database timeout to say so.
pub async fn readyz(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let skip_database = excluded_checks(req.query_string())?;
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(not_ready(
            "draining",
            "shutting down: finishing in-flight requests",
        ));
    }
    let db_ok = if skip_database {
        None
    } else {
        let bound = state.settings.database_timeout + Duration::from_secs(1);
        let probe = crate::routes::blocking(&state, |_, conn| {
            crate::db::ping(conn).map_err(ApiError::from)
        });
        Some(matches!(
            tokio::time::timeout(bound, probe).await,
            Ok(Ok(()))
        ))
    };
    let keys_ok = state.keys.is_loaded();
    Ok(match (db_ok, keys_ok) {
        (Some(false), _) => not_ready("not_ready", "the database is unreachable"),
        (_, false) => not_ready("not_ready", "signing keys are not loaded"),
        (Some(true), true) => HttpResponse::Ok()
            .json(json!({ "status": "ready", "checks": { "database": "ok", "keys": "ok" } })),
        (None, true) => {
            HttpResponse::Ok().json(json!({ "status": "ready", "checks": { "keys": "ok" } }))
        }
    })
}

/// Reads `exclude=<check>` parameters: whether the database check is left out. An unknown
/// check is refused rather than ignored, so a typo in a probe cannot pass silently.
fn excluded_checks(query: &str) -> Result<bool, ApiError> {
    let mut database = false;
    for (name, value) in query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
    {
        match (name, value) {
            ("exclude", "database") => database = true,
            ("exclude", _) => {
                return Err(ApiError::Validation {
                    code: "invalid_request",
                    message: "unknown readiness check: the one that can be excluded is `database`"
                        .into(),
                })
            }
            _ => {}
        }
    }
    Ok(database)
}

fn not_ready(code: &'static str, message: &'static str) -> HttpResponse {
    let mut resp = envelope(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        code,
        message,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    resp
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI)
}

/// Prometheus exposition. With `AUTHGATE_METRICS_LISTEN` set it is served only there, not on the
/// public listener.
pub async fn metrics(state: web::Data<AppState>, req: actix_web::HttpRequest) -> HttpResponse {
    if let Some(private) = state.metrics_port {
        if req.app_config().local_addr().port() != private {
            return envelope(
                actix_web::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint",
            );
        }
    }
    // The backlog needs the database: bounded, and left at its last value when unavailable.
    let probe = crate::routes::blocking(&state, |_, conn| {
        crate::db::outbox::backlog(conn).map_err(ApiError::from)
    });
    if let Ok(Ok(n)) = tokio::time::timeout(std::time::Duration::from_secs(1), probe).await {
        state.metrics.outbox_backlog.set(n);
    }
    metrics_text(&state)
}

pub fn metrics_text(state: &AppState) -> HttpResponse {
    let (mut connections, mut idle) = (0, 0);
    for pool in std::iter::once(&state.pool).chain(&state.refresh_pool) {
        let s = pool.state();
        connections += i64::from(s.connections);
        idle += i64::from(s.idle_connections);
    }
    let m = &state.metrics;
    m.db_pool.with_label_values(&["idle"]).set(idle);
    m.db_pool
        .with_label_values(&["in_use"])
        .set(connections - idle);
    m.keys_published
        .set(i64::try_from(state.keys.snapshot().by_kid.len()).unwrap_or(0));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render())
}
