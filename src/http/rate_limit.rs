//! The per-IP request-rate middleware: one layer keyed by route, so no handler has to remember
//! its budget. The limiters themselves are in `crate::limits`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::ApiError;
use crate::http::client_ip::client_ip;
use crate::limits::subject;
use crate::state::AppState;

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Credential, code and mail endpoints: each endpoint has its own budget per IP.
    Auth,
    /// `custom-refresh/` and the `refresh_token` grant of `token/`, one budget per IP.
    Refresh,
    /// Every other endpoint under `/api/v1/auth/` except the forward-auth `verify/`.
    Api,
}

/// The endpoints of [`Class::Auth`], as `NormalizePath::trim` leaves them. A test checks that
/// each is a route of `crate::startup::route_table()`.
pub const AUTH_ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/api/v1/auth/signup"),
    (Method::POST, "/api/v1/auth/signin"),
    (Method::POST, "/api/v1/auth/token"),
    (Method::POST, "/api/v1/auth/verify-email"),
    (Method::POST, "/api/v1/auth/verify-email/resend"),
    (Method::POST, "/api/v1/auth/password/forgot"),
    (Method::POST, "/api/v1/auth/password/reset"),
    (Method::POST, "/api/v1/auth/user/password"),
    (Method::POST, "/api/v1/auth/sms/code"),
    (Method::POST, "/api/v1/auth/sms/signin"),
    (Method::POST, "/api/v1/auth/user/phone/code"),
    (Method::POST, "/api/v1/auth/user/phone"),
    (Method::DELETE, "/api/v1/auth/user/phone"),
    (Method::POST, "/api/v1/auth/mfa/totp/confirm"),
    (Method::DELETE, "/api/v1/auth/mfa/totp"),
];

/// Endpoints whose failures count toward the per-IP sign-in failure limit.
const SIGN_IN_ROUTES: &[&str] = &[
    "/api/v1/auth/signin",
    "/api/v1/auth/token",
    "/api/v1/auth/sms/signin",
];

const TOKEN: &str = "/api/v1/auth/token";
const REFRESH: &str = "/api/v1/auth/custom-refresh";
const API_PREFIX: &str = "/api/v1/auth/";
const FORWARD_AUTH: &str = "/api/v1/auth/verify";

fn classify(method: &Method, path: &str) -> Option<(Class, usize)> {
    if path == FORWARD_AUTH || path.starts_with("/api/v1/auth/verify/") {
        return None;
    }
    if let Some(i) = AUTH_ROUTES
        .iter()
        .position(|(m, p)| m == method && *p == path)
    {
        return Some((Class::Auth, i));
    }
    if path == REFRESH {
        return Some((Class::Refresh, 0));
    }
    (path.starts_with(API_PREFIX) || path == API_PREFIX.trim_end_matches('/'))
        .then_some((Class::Api, 0))
}

/// The one middleware for per-IP request rates: it picks the budget from the route
/// (and, for `token/`, from the grant type in the body), answers 429 with `Retry-After` and the
/// envelope when it is spent, and counts failed sign-ins per IP after the handler answered.
/// The IP comes from [`client_ip`], so `X-Forwarded-For` counts only from trusted proxies;
/// IPv6 clients are counted by their /64.
pub async fn limit_requests(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // Unlimited paths (`verify/`, JWKS, health) first: they are the hot ones.
    let classified = classify(req.method(), req.path());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some((mut class, index)), Some(state)) = (classified, state) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if state.settings.is_proxied(req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let Some(ip) = client_ip(req.request(), &state.settings.trusted_proxies).map(subject) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let path = req.path().to_owned();
    let limits = &state.ip_limits;
    if path == TOKEN && *req.method() == Method::POST {
        match crate::http::captcha::buffer_body(&mut req).await? {
            Ok(body) if crate::http::captcha::is_refresh_grant_body(&body) => {
                class = Class::Refresh;
            }
            Ok(_) => {}
            Err(resp) => return Ok(req.into_response(resp).map_into_right_body()),
        }
    }
    let sign_in = class == Class::Auth
        && *req.method() == Method::POST
        && SIGN_IN_ROUTES.contains(&path.as_str());
    let verdict = match class {
        Class::Auth => limits.auth.as_ref().map(|l| l.check((index, ip))),
        Class::Refresh => limits.refresh.as_ref().map(|l| l.check(ip)),
        Class::Api => limits.api.as_ref().map(|l| l.check(ip)),
    };
    let verdict = match (verdict, sign_in, &limits.signin_failures) {
        (Some(Err(wait)), _, _) => Err(wait),
        (_, true, Some(failures)) => failures.peek(ip),
        _ => Ok(()),
    };
    if let Err(retry_after) = verdict {
        tracing::info!(%ip, path, retry_after, "per-IP rate limit reached");
        state
            .metrics
            .rate_limited
            .with_label_values(&[match class {
                Class::Auth if sign_in => "signin",
                Class::Auth => "auth",
                Class::Refresh => "refresh",
                Class::Api => "api",
            }])
            .inc();
        let resp = req.error_response(ApiError::TooManyRequests { retry_after });
        return Ok(resp.map_into_right_body());
    }
    let resp = next.call(req).await?;
    if sign_in && is_failed_sign_in(&path, resp.status()) {
        if let Some(failures) = &limits.signin_failures {
            failures.add(ip);
        }
    }
    Ok(resp.map_into_left_body())
}

/// A refused credential: 401 from signin and token, or 400/401 from the SMS sign-in (a wrong
/// code is 400 `invalid_code` there).
fn is_failed_sign_in(path: &str, status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED
        || (path == "/api/v1/auth/sms/signin" && status == StatusCode::BAD_REQUEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_is_never_limited_and_classes_follow_the_path() {
        assert_eq!(classify(&Method::GET, "/api/v1/auth/verify"), None);
        assert_eq!(classify(&Method::POST, "/api/v1/auth/verify/x/y"), None);
        assert_eq!(classify(&Method::GET, "/.well-known/jwks.json"), None);
        assert_eq!(
            classify(&Method::POST, "/api/v1/auth/custom-refresh"),
            Some((Class::Refresh, 0))
        );
        assert_eq!(
            classify(&Method::GET, "/api/v1/auth/user"),
            Some((Class::Api, 0))
        );
        assert!(matches!(
            classify(&Method::POST, "/api/v1/auth/signin"),
            Some((Class::Auth, _))
        ));
    }
}
