//! `verify/`: forward-auth for reverse proxies (nginx `auth_request`, Traefik ForwardAuth, Envoy
//! `ext_authz`). CPU only: it answers while the database is down.
//!
//! How each proxy calls it: nginx sends a GET subrequest with the client's headers; Traefik sends
//! a GET with the client's headers plus `X-Forwarded-Method`/`-Uri`; Envoy's HTTP ext_authz sends
//! the client's method with the client's path appended to its `path_prefix`, so any method on any
//! path below `verify/` is answered the same way.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use crate::domain::Role;
use crate::error::ApiError;
use crate::http::auth::Checked;
use crate::http::identity::each_identity_header;

/// Roles a location requires, from `?role=` (repeated or comma-separated) and the
/// `X-Auth-Require-Role` header (comma-separated): what an nginx `auth_request` location, a
/// Traefik middleware or an Envoy route asks for. All are required. A client adding its own can
/// only refuse itself.
fn required_roles(req: &HttpRequest) -> Result<Vec<Role>, ApiError> {
    let from_query = form_urlencoded_pairs(req.query_string())
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v);
    let from_header = req
        .headers()
        .get_all(crate::http::identity::REQUIRE_ROLE)
        .filter_map(|v| v.to_str().ok().map(str::to_owned));
    let mut roles = Vec::new();
    for list in from_query.chain(from_header) {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            roles.push(Role::parse(name)?);
        }
    }
    Ok(roles)
}

fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(actix_web::web::Query::into_inner)
        .unwrap_or_default()
        .into_iter()
}

/// 204 with the identity headers; 403 `forbidden` when the location requires a role the token
/// does not carry. `Cache-Control: no-store` comes from `crate::http::hygiene`, like every
/// answer under `/api/`.
pub async fn verify(req: HttpRequest, Checked(claims): Checked) -> Result<HttpResponse, ApiError> {
    let required = required_roles(&req)?;
    if required
        .iter()
        .any(|r| !claims.roles.iter().any(|held| held == r.as_str()))
    {
        return Err(ApiError::Forbidden(
            "this location requires a role the session does not have",
        ));
    }
    let mut resp = HttpResponse::new(StatusCode::NO_CONTENT);
    let headers = resp.headers_mut();
    each_identity_header(&claims, |name, value| {
        headers.insert(name, value);
    });
    Ok(resp)
}
