//! The canonical-path middleware: every request's URI is rewritten to its one canonical path
//! (`crate::paths::canonical`) before any other layer looks at it, so the router, the rate
//! limits, the CSRF rule, the response hygiene, the metrics labels and the proxy's path rules
//! all read the same spelling, and in proxy mode the upstream receives exactly the path the
//! decision was made on. Paths with no safe canonical form are refused with 400 `invalid_path`.
//! A `HEAD` to an own path is routed as the `GET` it mirrors.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::uri::{PathAndQuery, Uri};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;

use crate::http::error::envelope;
use crate::paths::canonical::decide;
use crate::paths::is_own_path;

/// The middleware: every request's URI is rewritten to its canonical path before any other
/// layer sees it, or the request is refused with 400 `invalid_path`. `proxy_mode`: whether
/// paths outside authgate's own are forwarded (they keep their trailing slash).
pub async fn canonical_path(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    proxy_mode: bool,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let rewritten = match decide(req.path(), proxy_mode) {
        Ok(None) => None,
        Ok(Some(path)) => Some(path),
        Err(refusal) => {
            tracing::info!(path = req.path(), reason = ?refusal, "path refused");
            let resp = envelope(StatusCode::BAD_REQUEST, "invalid_path", refusal.message());
            return Ok(req.into_response(resp).map_into_right_body());
        }
    };
    if let Some(path) = rewritten {
        let with_query = Bytes::from(match req.query_string() {
            "" => path,
            q => format!("{path}?{q}"),
        });
        let uri = if req.head().uri.scheme().is_none() {
            // The usual request line (origin form): the path and query are the whole URI.
            Uri::from_maybe_shared(with_query).ok()
        } else {
            let mut parts = req.head().uri.clone().into_parts();
            PathAndQuery::from_maybe_shared(with_query)
                .ok()
                .and_then(|pq| {
                    parts.path_and_query = Some(pq);
                    Uri::from_parts(parts).ok()
                })
        };
        let Some(uri) = uri else {
            let resp = envelope(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                "the path cannot be normalised",
            );
            return Ok(req.into_response(resp).map_into_right_body());
        };
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
    // HEAD wherever GET is served (RFC 9110, 9.3.2): a HEAD to one of authgate's own paths is
    // routed as the GET it mirrors; the server still knows the request line said HEAD and sends
    // the headers without the body. Proxied requests keep their method for the upstream.
    if req.method() == Method::HEAD && (!proxy_mode || is_own_path(req.path())) {
        req.head_mut().method = Method::GET;
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
