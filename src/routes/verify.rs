//! `verify/`: forward-auth for reverse proxies (nginx `auth_request`, Traefik ForwardAuth, Envoy
//! `ext_authz`). CPU only: it answers while the database is down.
//!
//! How each proxy calls it: nginx sends a GET subrequest with the client's headers; Traefik sends
//! a GET with the client's headers plus `X-Forwarded-Method`/`-Uri`; Envoy's HTTP ext_authz sends
//! the client's method with the client's path appended to its `path_prefix`, so any method on any
//! path below `verify/` is answered the same way.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::error::ApiError;
use crate::http::auth::Checked;
use crate::http::identity::each_identity_header;

/// 204 with the identity headers. `Cache-Control: no-store` comes from
/// `crate::http::hygiene`, like every answer under `/api/`.
pub async fn verify(Checked(claims): Checked) -> Result<HttpResponse, ApiError> {
    let mut resp = HttpResponse::new(StatusCode::NO_CONTENT);
    let headers = resp.headers_mut();
    each_identity_header(&claims, |name, value| {
        headers.insert(name, value);
    });
    Ok(resp)
}
