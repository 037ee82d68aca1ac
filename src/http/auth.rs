//! The authenticated caller: `Authorization: Bearer <jwt>` first, then the access-token cookie.
//!
//! Two strengths. [`Checked`] (`verify/`, and the proxy through [`verify_access`]) is CPU only:
//! the signature, the claims and the in-memory revocation list. [`Authenticated`] and
//! [`MaybeAuthenticated`], taken by every endpoint that reads the database anyway, also ask the
//! database whether the token's session still stands, so an ended session's token is refused
//! there at once and no handler can forget to check.

use std::borrow::Cow;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::error::ApiError;
use crate::state::AppState;
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
    presented(req, cookie_name).map(|(token, source)| (token.into_owned(), source))
}

/// [`presented_token`] without copying a Bearer token: the check runs on every request, and a
/// token is several hundred bytes.
fn presented<'a>(req: &'a HttpRequest, cookie_name: &str) -> Option<(Cow<'a, str>, TokenSource)> {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| header_str(v.as_bytes()))
    {
        let mut parts = value.splitn(2, ' ');
        if let (Some(scheme), Some(token)) = (parts.next(), parts.next()) {
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some((Cow::Borrowed(token.trim()), TokenSource::Bearer));
            }
        }
    }
    req.cookie(cookie_name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
        .map(|v| (Cow::Owned(v), TokenSource::Cookie))
}

/// `HeaderValue::to_str` (visible ASCII and tab only) in a form the compiler vectorises: the
/// byte-at-a-time original cost about 6,000 instructions for a Bearer token, 15 % of a cached
/// token check.
fn header_str(bytes: &[u8]) -> Option<&str> {
    let visible = bytes.iter().fold(true, |ok, &b| {
        ok & (((0x20..0x7f).contains(&b)) | (b == b'\t'))
    });
    if visible {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked =
            state(req).and_then(|state| Ok((state, check(req, Strength::BeforeDatabase)?)));
        Box::pin(async move {
            let (state, claims) = checked?;
            live(state, claims).await
        })
    }
}

/// The session check on the blocking pool: 401 `session_not_found` when it has ended, 503 when
/// the database cannot say.
async fn live(
    state: web::Data<AppState>,
    claims: std::sync::Arc<AccessClaims>,
) -> Result<Authenticated, ApiError> {
    let claims = AccessClaims::clone(&claims);
    let span = tracing::Span::current();
    web::block(move || {
        let _entered = span.enter();
        let mut conn = state.pool.get()?;
        crate::service::sessions::ensure_live(&state, &mut conn, &claims.sub, &claims.sid)?;
        Ok(Authenticated { claims })
    })
    .await?
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
        std::future::ready(check(req, Strength::Stateless).map(Self))
    }
}

/// For endpoints that take either a signed-in caller or an address in the body: `None` when no
/// token is presented at all; a presented token must verify.
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let has_token = req
            .app_data::<web::Data<AppState>>()
            .and_then(|s| presented(req, &s.settings.access_cookie_name))
            .is_some();
        if !has_token {
            return Box::pin(std::future::ready(Ok(Self(None))));
        }
        let checked =
            state(req).and_then(|state| Ok((state, check(req, Strength::BeforeDatabase)?)));
        Box::pin(async move {
            let (state, claims) = checked?;
            live(state, claims).await.map(|a| Self(Some(a)))
        })
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))
}

/// Which check a presented token gets before the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strength {
    /// Stateless: [`verify_access`], the revocation list included.
    Stateless,
    /// The signature and claims only: the database check that follows has the last word (and
    /// names an ended session `session_not_found`).
    BeforeDatabase,
}

fn check(req: &HttpRequest, strength: Strength) -> Result<std::sync::Arc<AccessClaims>, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
    let (token, _) =
        presented(req, &state.settings.access_cookie_name).ok_or(ApiError::Unauthenticated)?;
    let claims = match strength {
        Strength::Stateless => verify_access(state, &token)?,
        Strength::BeforeDatabase => state.tokens.verify(&state.keys, &token).map_err(|e| {
            tracing::debug!(reason = %e, "access token refused");
            ApiError::InvalidToken
        })?,
    };
    crate::telemetry::record_identity(&claims.sub, &claims.sid);
    Ok(claims)
}

/// The stateless token check, the one both `verify/` (through [`Checked`]) and the proxy use:
/// signature and claims, then the revocation list. Refusals are all `invalid_token`, as a
/// forward-auth caller needs no more.
pub fn verify_access(
    state: &AppState,
    token: &str,
) -> Result<std::sync::Arc<AccessClaims>, ApiError> {
    match state.tokens.verify(&state.keys, token) {
        Ok(claims) if state.revocations.contains(&claims.sid) => {
            tracing::debug!(session_id = %claims.sid, "access token of an ended session refused");
            Err(ApiError::InvalidToken)
        }
        Ok(claims) => Ok(claims),
        Err(e) => {
            tracing::debug!(reason = %e, "access token refused");
            Err(ApiError::InvalidToken)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::header_str;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn header_str_accepts_exactly_what_header_value_to_str_accepts() {
        for b in 0..=255u8 {
            let bytes = [b'a', b, b'z'];
            let Ok(v) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            assert_eq!(header_str(v.as_bytes()), v.to_str().ok(), "byte {b:#x}");
        }
        assert_eq!(header_str(b"Bearer a.b-c_d"), Some("Bearer a.b-c_d"));
        assert_eq!(header_str("Bearer ü".as_bytes()), None);
    }
}
