//! `verify/`: forward-auth for reverse proxies (nginx `auth_request`, Traefik ForwardAuth, Envoy
//! `ext_authz`). CPU only: it answers while the database is down.
//!
//! How each proxy calls it: nginx sends a GET subrequest with the client's headers; Traefik sends
//! a GET with the client's headers plus `X-Forwarded-Method`/`-Uri`; Envoy's HTTP ext_authz sends
//! the client's method with the client's path appended to its `path_prefix`, so any method on any
//! path below `verify/` is answered the same way.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::HttpResponse;

use crate::error::ApiError;
use crate::http::auth::Checked;
use crate::tokens::AccessClaims;

pub const USER_ID: &str = "x-auth-user-id";
pub const USER_EMAIL: &str = "x-auth-user-email";
pub const EMAIL_VERIFIED: &str = "x-auth-email-verified";
pub const SESSION_ID: &str = "x-auth-session-id";
pub const AAL: &str = "x-auth-aal";

/// The identity headers a proxy passes on to the upstream.
pub fn identity_headers(claims: &AccessClaims) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(5);
    let mut push = |name: &'static str, value: &str| {
        // UTF-8 e-mail addresses travel as obs-text bytes; a value that still cannot be a header
        // is left out rather than failing the check.
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    push(USER_ID, &claims.sub);
    push(USER_EMAIL, &claims.email);
    push(
        EMAIL_VERIFIED,
        if claims.email_verified {
            "true"
        } else {
            "false"
        },
    );
    push(SESSION_ID, &claims.sid);
    push(AAL, &claims.aal);
    out
}

pub async fn verify(Checked(claims): Checked) -> Result<HttpResponse, ApiError> {
    let mut resp = HttpResponse::NoContent();
    for (name, value) in identity_headers(&claims) {
        resp.insert_header((name, value));
    }
    resp.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    Ok(resp.finish())
}
