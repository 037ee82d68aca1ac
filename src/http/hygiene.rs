//! Response hygiene: one middleware adds the headers every response of authgate's own
//! should carry. API answers under `/api/v1/auth/` carry tokens, cookies or codes, so they are
//! never stored (`Cache-Control: no-store`); every answer gets `nosniff`, `no-referrer` and a
//! Content-Security-Policy (a restrictive one unless the handler set its own, as the demo page
//! does). No `Server` header is ever sent. Responses proxied from the upstream are
//! left exactly as the upstream sent them.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::state::AppState;

/// For anything authgate answers itself: JSON needs no sources at all, and no page may frame it.
pub const CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub async fn response_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut resp = next.call(req).await?;
    // Read from the answered request: its path is the canonical one the router used, whichever
    // side of `crate::http::canonical` this middleware sits on.
    let path = resp.request().path();
    let api = path.starts_with("/api/");
    let proxied = resp
        .request()
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.settings.is_proxied(path));
    if proxied {
        return Ok(resp);
    }
    let h = resp.headers_mut();
    if api || !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.remove(header::SERVER);
    Ok(resp)
}
