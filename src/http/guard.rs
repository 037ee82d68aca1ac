//! One middleware for the browser rules (CSRF, CORS, JSON-only bodies).
//!
//! - CSRF: bodies are JSON (so a plain HTML form cannot post), and an unsafe request carrying our
//!   cookies is refused when it comes from another site (fetch metadata, else `Origin`, else
//!   `Referer`). Requests with none of those headers are not a browser's (curl, server-side
//!   clients) and pass; so do Bearer requests.
//! - CORS: origins on `AUTHGATE_ALLOWED_ORIGINS` (exact match) get credentialed CORS headers and
//!   answered preflights; any other origin gets no CORS headers but is not refused here (the
//!   browser enforces CORS; the CSRF rule refuses what must be refused).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::http::error::envelope;
use crate::state::AppState;

pub async fn request_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if state.settings.is_proxied(req.path()) {
        // Proxied requests stream any body of any type to the upstream, which answers its own
        // preflights and sets its own CORS headers; only the cookie CSRF rule applies here.
        if is_unsafe(req.method()) {
            if let Some((status, code, message)) = csrf_check(&req, &state) {
                let resp = envelope(status, code, message);
                return Ok(req.into_response(resp).map_into_right_body());
            }
        }
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin
        .as_ref()
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| state.settings.allowed_origins.iter().any(|a| a == o));
    if req.method() == Method::OPTIONS
        && origin.is_some()
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut resp = HttpResponse::NoContent().finish();
        if allowed {
            preflight_headers(resp.headers_mut(), req.headers());
        }
        finish_cors(resp.headers_mut(), origin.as_ref(), allowed);
        return Ok(req.into_response(resp).map_into_right_body());
    }
    if is_unsafe(req.method()) {
        if let Some((status, code, message)) = check(&req, &state) {
            let mut resp = envelope(status, code, message);
            finish_cors(resp.headers_mut(), origin.as_ref(), allowed);
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    let mut resp = next.call(req).await?;
    finish_cors(resp.headers_mut(), origin.as_ref(), allowed);
    Ok(resp.map_into_left_body())
}

const FORWARD_AUTH: &str = "/api/v1/auth/verify";
const FORWARD_AUTH_PREFIXED: &str = "/api/v1/auth/verify/";

/// Request headers a browser may send cross-origin.
const ALLOWED_REQUEST_HEADERS: &str = "content-type, authorization, x-request-id, x-captcha-token";
const EXPOSED_HEADERS: &str = "x-request-id, retry-after, www-authenticate";

fn preflight_headers(out: &mut HeaderMap, request: &HeaderMap) {
    let method_ok = request
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| matches!(m, "GET" | "POST" | "PATCH" | "DELETE" | "PUT"));
    if !method_ok {
        return;
    }
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PATCH, DELETE, PUT"),
    );
    out.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_REQUEST_HEADERS),
    );
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

/// CORS headers for an allowed origin, and `Vary: Origin` whenever an origin was presented, so a
/// shared cache never serves one origin's answer to another.
fn finish_cors(out: &mut HeaderMap, origin: Option<&HeaderValue>, allowed: bool) {
    let Some(origin) = origin else { return };
    out.append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        out.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn check(
    req: &ServiceRequest,
    state: &AppState,
) -> Option<(StatusCode, &'static str, &'static str)> {
    // Forward-auth checks change nothing and carry whatever method and headers the proxied
    // request had; they are not subject to the rules for state-changing requests.
    let path = req.path();
    if path == FORWARD_AUTH || path.starts_with(FORWARD_AUTH_PREFIXED) {
        return None;
    }
    // A provider's form POST (Apple) is a cross-site form by design; it is proven by its single-use
    // `state` and the browser's binding cookie, and sets cookies but acts on none.
    if is_provider_callback(path) {
        return None;
    }
    // The cross-site rule first: a cross-site form must be told 403, not 415.
    if let Some(refusal) = csrf_check(req, state) {
        return Some(refusal);
    }
    if has_body(req) && !is_json(req) {
        return Some((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request bodies must be application/json",
        ));
    }
    None
}

/// The cookie CSRF rule alone; proxied requests pass through this one only.
fn csrf_check(
    req: &ServiceRequest,
    state: &AppState,
) -> Option<(StatusCode, &'static str, &'static str)> {
    let path = req.path();
    let s = &state.settings;
    // Refresh and logout act on the cookies by nature: a cross-site request to them is refused
    // even when the browser withheld the cookies (SameSite), or its failure answer, which
    // clears the cookies, would let any site sign the user out.
    let carries_cookie = req.cookie(&s.access_cookie_name).is_some()
        || req.cookie(&s.refresh_cookie_name).is_some()
        || COOKIE_ENDPOINTS.contains(&path.trim_end_matches('/'));
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
    if carries_cookie && !bearer && is_cross_site(req, &s.public_url, &s.allowed_origins) {
        return Some((
            StatusCode::FORBIDDEN,
            "csrf_rejected",
            "cross-site request refused",
        ));
    }
    None
}

/// `/api/v1/auth/oauth/<provider>/callback` (the trailing slash trimmed or not).
fn is_provider_callback(path: &str) -> bool {
    path.strip_prefix("/api/v1/auth/oauth/")
        .and_then(|rest| rest.trim_end_matches('/').strip_suffix("/callback"))
        // Any one segment: an unknown provider is the route's 404, not a JSON-only 415.
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// The endpoints that read or clear the session cookies whatever the request carries.
const COOKIE_ENDPOINTS: &[&str] = &["/api/v1/auth/custom-refresh", "/api/v1/auth/custom-logout"];

fn has_body(req: &ServiceRequest) -> bool {
    let h = req.headers();
    let length = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => h.contains_key(header::TRANSFER_ENCODING),
    }
}

fn is_json(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
        })
}

/// An `Origin` that is exactly the own origin or an allowed one is accepted whatever
/// `Sec-Fetch-Site` says (a SPA on another site, with `SameSite=None` cookies, is allowlisted
/// for exactly this). Otherwise `Sec-Fetch-Site: cross-site` is refused; without fetch metadata
/// the `Origin` (or else the `Referer`'s origin) must be our own or an allowed one; with none of
/// the three, it is not a browser.
pub fn is_cross_site(req: &ServiceRequest, own: &str, allowed: &[String]) -> bool {
    let h = req.headers();
    let listed = |o: &str| o == own || allowed.iter().any(|a| a == o);
    if h.get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(listed)
    {
        return false;
    }
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site.eq_ignore_ascii_case("cross-site");
    }
    let origin = match h.get(header::ORIGIN) {
        Some(v) => v.to_str().map(str::to_owned).ok(),
        None => match h.get(header::REFERER) {
            Some(v) => Some(v.to_str().ok().and_then(origin_of).unwrap_or_default()),
            None => return false,
        },
    };
    match origin {
        Some(o) => !(o == own || allowed.contains(&o)),
        None => true,
    }
}

/// `https://host:port/path?q` → `https://host:port`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn cross(headers: &[(&str, &str)]) -> bool {
        let mut r = TestRequest::post();
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        is_cross_site(
            &r.to_srv_request(),
            "https://auth.example.com",
            &["https://app.example.com".into()],
        )
    }

    #[test]
    fn an_allowlisted_origin_is_accepted_whatever_fetch_metadata_says() {
        for site in ["cross-site", "same-site", "same-origin", "none"] {
            assert!(!cross(&[
                ("sec-fetch-site", site),
                ("origin", "https://app.example.com")
            ]));
            assert!(!cross(&[
                ("sec-fetch-site", site),
                ("origin", "https://auth.example.com")
            ]));
        }
    }

    #[test]
    fn otherwise_fetch_metadata_decides() {
        assert!(cross(&[("sec-fetch-site", "cross-site")]));
        assert!(cross(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example")
        ]));
        assert!(cross(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.example.com.evil.tld")
        ]));
        assert!(cross(&[
            ("sec-fetch-site", "cross-site"),
            ("referer", "https://app.example.com/page")
        ]));
        assert!(!cross(&[("sec-fetch-site", "same-origin")]));
        assert!(!cross(&[("sec-fetch-site", "same-site")]));
    }

    #[test]
    fn origin_must_match_exactly() {
        assert!(!cross(&[("origin", "https://auth.example.com")]));
        assert!(!cross(&[("origin", "https://app.example.com")]));
        assert!(cross(&[("origin", "https://app.example.com.evil.tld")]));
        assert!(cross(&[("origin", "http://app.example.com")]));
        assert!(cross(&[("origin", "null")]));
    }

    #[test]
    fn referer_is_the_fallback_and_nothing_means_not_a_browser() {
        assert!(!cross(&[("referer", "https://app.example.com/page?x=1")]));
        assert!(cross(&[(
            "referer",
            "https://evil.example/app.example.com"
        )]));
        assert!(!cross(&[]));
    }
}
