//! The authenticated caller: `Authorization: Bearer <jwt>` first, then the access-token cookie.
//! Verification is CPU only (no database).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use crate::error::ApiError;
use crate::startup::AppState;
use crate::tokens::AccessClaims;

#[derive(Debug, Clone)]
pub struct Authenticated {
    pub claims: AccessClaims,
}

/// Where a presented access token came from; CSRF rules apply only to cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Bearer,
    Cookie,
}

/// The access token a request presents, if any.
pub fn presented_token(req: &HttpRequest, cookie_name: &str) -> Option<(String, TokenSource)> {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let mut parts = value.splitn(2, ' ');
        if let (Some(scheme), Some(token)) = (parts.next(), parts.next()) {
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some((token.trim().to_owned(), TokenSource::Bearer));
            }
        }
    }
    req.cookie(cookie_name)
        .map(|c| (c.value().to_owned(), TokenSource::Cookie))
        .filter(|(v, _)| !v.is_empty())
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req))
    }
}

/// The caller's claims as the verified-token cache holds them, without a copy: for the token
/// check hot paths (`verify/`), where a copy of every claim string would cost more than the
/// cache hit itself.
#[derive(Debug, Clone)]
pub struct Checked(pub std::sync::Arc<AccessClaims>);

impl FromRequest for Checked {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(check(req).map(Self))
    }
}

/// For endpoints that take either a signed-in caller or an address in the body: `None` when no
/// token is presented at all; a presented token must verify.
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let presented = req
            .app_data::<web::Data<AppState>>()
            .and_then(|s| presented_token(req, &s.settings.access_cookie_name))
            .is_some();
        std::future::ready(if presented {
            authenticate(req).map(|a| Self(Some(a)))
        } else {
            Ok(Self(None))
        })
    }
}

fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    check(req).map(|claims| Authenticated {
        claims: AccessClaims::clone(&claims),
    })
}

fn check(req: &HttpRequest) -> Result<std::sync::Arc<AccessClaims>, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
    let (token, _) = presented_token(req, &state.settings.access_cookie_name)
        .ok_or(ApiError::Unauthenticated)?;
    match state.tokens.verify(&state.keys, &token) {
        Ok(claims) => {
            crate::telemetry::record_identity(&claims.sub, &claims.sid);
            Ok(claims)
        }
        Err(e) => {
            tracing::debug!(reason = %e, "access token refused");
            Err(ApiError::InvalidToken)
        }
    }
}
