//! The per-IP request-rate middleware: one layer keyed by route, so no handler has to remember
//! its budget. Which budget a route draws on is written in the route table
//! (`crate::startup::route_table`); the limiters themselves are in `crate::limits`.

use std::collections::HashMap;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::ApiError;
use crate::http::client_ip::client_ip;
use crate::limits::subject;
use crate::state::AppState;

/// Which per-IP budget a route draws on; the route table gives every route its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    /// Credential, code and mail endpoints: each endpoint has its own budget per IP.
    Auth,
    /// An `Auth` endpoint whose refused credentials also count toward the per-IP sign-in
    /// failure budget.
    SignIn,
    /// `token/`: `SignIn` for the password grant, `Refresh` for the `refresh_token` grant (read
    /// from the body).
    Token,
    /// `custom-refresh/` and the `refresh_token` grant: one budget per IP.
    Refresh,
    /// Every other endpoint under `/api/v1/auth/` and `/api/v1/admin/`, and unknown paths there.
    Api,
    /// Never limited: the forward-auth `verify/`, JWKS, health, metrics.
    Unlimited,
}

/// The budget a request draws on, once its route is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    /// The `Auth` budget of one endpoint (its index); `sign_in` also checks the failure budget.
    Auth {
        index: usize,
        sign_in: bool,
    },
    Refresh,
    Api,
}

/// The class of every route, keyed by method and path as the router sees it (no trailing
/// slash); built once from the route table by `crate::startup`.
#[derive(Debug, Default)]
pub struct RateRules {
    /// By path, then method: looked up with the request's `&str` path, no allocation per request.
    routes: HashMap<String, Vec<(Method, RateClass, usize)>>,
}

impl RateRules {
    pub fn new(routes: impl IntoIterator<Item = (Method, String, RateClass)>) -> Self {
        let mut by_path: HashMap<String, Vec<(Method, RateClass, usize)>> = HashMap::new();
        for (i, (method, path, class)) in routes.into_iter().enumerate() {
            by_path.entry(path).or_default().push((method, class, i));
        }
        Self { routes: by_path }
    }

    /// The budget of `(method, path)`, whether it is `token/` (the grant decides), or `None`
    /// when it is never limited.
    fn classify(&self, method: &Method, path: &str) -> Option<(Budget, bool)> {
        let found = self
            .routes
            .get(path)
            .and_then(|rows| rows.iter().find(|(m, ..)| m == method))
            .map(|&(_, class, index)| (class, index));
        let Some((class, index)) = found else {
            // Not a route: the forward-auth check with a path appended (Envoy) is unlimited,
            // anything else under the API prefix draws on the general budget.
            if path == FORWARD_AUTH || path.starts_with(FORWARD_AUTH_PREFIXED) {
                return None;
            }
            return API_PREFIXES
                .iter()
                .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
                .then_some((Budget::Api, false));
        };
        match class {
            RateClass::Auth => Some((
                Budget::Auth {
                    index,
                    sign_in: false,
                },
                false,
            )),
            RateClass::SignIn => Some((
                Budget::Auth {
                    index,
                    sign_in: true,
                },
                false,
            )),
            RateClass::Token => Some((
                Budget::Auth {
                    index,
                    sign_in: true,
                },
                true,
            )),
            RateClass::Refresh => Some((Budget::Refresh, false)),
            RateClass::Api => Some((Budget::Api, false)),
            RateClass::Unlimited => None,
        }
    }
}

/// Unknown paths under these, and routes with a path parameter, draw on the general budget.
const API_PREFIXES: [&str; 2] = ["/api/v1/auth/", "/api/v1/admin/"];
const FORWARD_AUTH: &str = "/api/v1/auth/verify";
const FORWARD_AUTH_PREFIXED: &str = "/api/v1/auth/verify/";

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
    let classified = req
        .app_data::<web::Data<RateRules>>()
        .and_then(|rules| rules.classify(req.method(), req.path()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some((mut budget, token)), Some(state)) = (classified, state) else {
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
    if token {
        match crate::http::captcha::buffer_body(&mut req).await? {
            Ok(body) if crate::http::captcha::is_refresh_grant_body(&body) => {
                budget = Budget::Refresh;
            }
            Ok(_) => {}
            Err(resp) => return Ok(req.into_response(resp).map_into_right_body()),
        }
    }
    let sign_in = matches!(budget, Budget::Auth { sign_in: true, .. });
    let verdict = match budget {
        Budget::Auth { index, .. } => limits.auth.as_ref().map(|l| l.check((index, ip))),
        Budget::Refresh => limits.refresh.as_ref().map(|l| l.check(ip)),
        Budget::Api => limits.api.as_ref().map(|l| l.check(ip)),
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
            .with_label_values(&[match budget {
                Budget::Auth { sign_in: true, .. } => "signin",
                Budget::Auth { .. } => "auth",
                Budget::Refresh => "refresh",
                Budget::Api => "api",
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

    fn rules() -> RateRules {
        RateRules::new([
            (Method::POST, "/api/v1/auth/signup".into(), RateClass::Auth),
            (
                Method::POST,
                "/api/v1/auth/signin".into(),
                RateClass::SignIn,
            ),
            (Method::POST, "/api/v1/auth/token".into(), RateClass::Token),
            (
                Method::POST,
                "/api/v1/auth/custom-refresh".into(),
                RateClass::Refresh,
            ),
            (Method::GET, "/api/v1/auth/user".into(), RateClass::Api),
            (
                Method::GET,
                "/api/v1/auth/verify".into(),
                RateClass::Unlimited,
            ),
        ])
    }

    #[test]
    fn each_route_draws_on_its_class_and_verify_is_never_limited() {
        let r = rules();
        assert_eq!(r.classify(&Method::GET, "/api/v1/auth/verify"), None);
        assert_eq!(r.classify(&Method::POST, "/api/v1/auth/verify/x/y"), None);
        assert_eq!(r.classify(&Method::PUT, "/api/v1/auth/verify"), None);
        assert_eq!(r.classify(&Method::GET, "/.well-known/jwks.json"), None);
        assert_eq!(
            r.classify(&Method::POST, "/api/v1/auth/signup"),
            Some((
                Budget::Auth {
                    index: 0,
                    sign_in: false
                },
                false
            ))
        );
        assert_eq!(
            r.classify(&Method::POST, "/api/v1/auth/signin"),
            Some((
                Budget::Auth {
                    index: 1,
                    sign_in: true
                },
                false
            ))
        );
        assert_eq!(
            r.classify(&Method::POST, "/api/v1/auth/token"),
            Some((
                Budget::Auth {
                    index: 2,
                    sign_in: true
                },
                true
            ))
        );
        assert_eq!(
            r.classify(&Method::POST, "/api/v1/auth/custom-refresh"),
            Some((Budget::Refresh, false))
        );
        assert_eq!(
            r.classify(&Method::GET, "/api/v1/auth/user"),
            Some((Budget::Api, false))
        );
        // Another method on a limited path, and unknown API paths: the general budget.
        assert_eq!(
            r.classify(&Method::GET, "/api/v1/auth/signin"),
            Some((Budget::Api, false))
        );
        assert_eq!(
            r.classify(&Method::GET, "/api/v1/auth/nope"),
            Some((Budget::Api, false))
        );
        assert_eq!(
            r.classify(&Method::GET, "/api/v1/auth"),
            Some((Budget::Api, false))
        );
    }
}
