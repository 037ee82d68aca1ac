//! `/`, `/healthz`, `/readyz`, `/openapi.yml`.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};
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

/// Ready to serve: the database answers within a bound and signing keys are loaded.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let bound = state.settings.database_timeout + Duration::from_secs(1);
    let probe = crate::routes::blocking(&state, |_, conn| {
        crate::db::ping(conn).map_err(ApiError::from)
    });
    let db_ok = matches!(tokio::time::timeout(bound, probe).await, Ok(Ok(())));
    let keys_ok = state.keys.is_loaded();
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        let mut resp = envelope(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "shutting down: finishing in-flight requests",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return resp;
    }
    if db_ok && keys_ok {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        let mut resp = envelope(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            if db_ok {
                "signing keys are not loaded"
            } else {
                "the database is unreachable"
            },
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        resp
    }
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
    let pool = state.pool.state();
    let m = &state.metrics;
    m.db_pool
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle_connections));
    m.db_pool.with_label_values(&["in_use"]).set(i64::from(
        pool.connections.saturating_sub(pool.idle_connections),
    ));
    m.keys_published
        .set(i64::try_from(state.keys.snapshot().by_kid.len()).unwrap_or(0));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render())
}
