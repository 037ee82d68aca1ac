//! In-memory per-IP limits, one process each: the request rates of
//! [`limit_requests`] (one middleware keyed by route, so no handler has to remember it) and the
//! hourly cap on mail-sending requests ([`IpWindowLimit`], checked where a send is requested).
//! Per-account state (the sign-in lockout, code attempts) lives in the database instead, so
//! replicas share it; see `crate::service::lockout`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::ApiError;
use crate::http::client_ip::client_ip;
use crate::startup::AppState;

/// `N/period` (e.g. `30/5m`): N requests per period, any N of them at once (the burst); `0`
/// turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw == "0" || raw.is_empty() {
            return Ok(Self {
                count: 0,
                period: Duration::from_secs(1),
            });
        }
        let (n, period) = raw
            .split_once('/')
            .ok_or("write a rate as N/period, e.g. 30/5m (0 turns it off)")?;
        let count = n
            .trim()
            .parse::<u32>()
            .map_err(|_| "the count of a rate must be a whole number")?;
        let period = humantime::parse_duration(period.trim())
            .map_err(|e| format!("{e} (write a rate as N/period, e.g. 30/5m)"))?;
        if period.is_zero() {
            return Err("the period of a rate must be positive".into());
        }
        Ok(Self { count, period })
    }

    pub fn is_off(&self) -> bool {
        self.count == 0
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_off() {
            return f.write_str("0");
        }
        write!(
            f,
            "{}/{}",
            self.count,
            humantime::format_duration(self.period)
        )
    }
}

/// A keyed GCRA limiter (the algorithm of the governor crate): each key earns one request every
/// `period / count` and may save up at most `count` of them, so `count` requests pass at once
/// and the rate then settles at `count` per `period`. Memory: one `Instant` per active key;
/// idle keys are swept once the map is large.
#[derive(Debug)]
pub struct Limiter<K> {
    interval: Duration,
    tolerance: Duration,
    tat: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Copy> Limiter<K> {
    /// `None` when the rate is off.
    pub fn new(rate: Rate) -> Option<Self> {
        if rate.is_off() {
            return None;
        }
        let interval = rate.period / rate.count;
        Some(Self {
            interval,
            tolerance: interval * rate.count,
            tat: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one request of `key`; `Err(seconds to wait)` when it is over the rate (and then
    /// nothing is counted).
    pub fn check(&self, key: K) -> Result<(), u64> {
        self.check_at(key, Instant::now(), true)
    }

    /// Whether one more request of `key` would pass, counting nothing.
    pub fn peek(&self, key: K) -> Result<(), u64> {
        self.check_at(key, Instant::now(), false)
    }

    /// Counts one event of `key` whether or not it fits (failures are counted after the fact).
    pub fn add(&self, key: K) {
        let now = Instant::now();
        let mut map = self.lock(now);
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        // Bounded: a key never owes more than one full bucket beyond its tolerance.
        let next = (tat + self.interval).min(now + self.tolerance + self.interval);
        map.insert(key, next);
    }

    fn lock(&self, now: Instant) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        let mut map = self
            .tat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= SWEEP_AT {
            map.retain(|_, tat| *tat > now);
        }
        map
    }

    fn check_at(&self, key: K, now: Instant, count: bool) -> Result<(), u64> {
        let mut map = self.lock(now);
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        let next = tat + self.interval;
        let ahead = next - now;
        if ahead > self.tolerance {
            let wait = ahead - self.tolerance;
            return Err(ceil_secs(wait));
        }
        if count {
            map.insert(key, next);
        }
        Ok(())
    }
}

fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

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

/// The per-IP request limiters, built once from the settings.
#[derive(Debug)]
pub struct IpLimits {
    auth: Option<Limiter<(usize, IpAddr)>>,
    refresh: Option<Limiter<IpAddr>>,
    api: Option<Limiter<IpAddr>>,
    signin_failures: Option<Limiter<IpAddr>>,
}

impl IpLimits {
    pub fn new(s: &crate::settings::Settings) -> Self {
        Self {
            auth: Limiter::new(s.rate_limit_auth),
            refresh: Limiter::new(s.rate_limit_refresh),
            api: Limiter::new(s.rate_limit_api),
            signin_failures: Limiter::new(s.rate_limit_signin_failures),
        }
    }
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
    if crate::proxy::is_proxied(&state, req.path()) {
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

/// Whom a budget belongs to: an IPv4 address, or the /64 of an IPv6 one (one subscriber's
/// network gets a whole /64, so its addresses are not separate clients).
fn subject(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// A refused credential: 401 from signin and token, or 400/401 from the SMS sign-in (a wrong
/// code is 400 `invalid_code` there).
fn is_failed_sign_in(path: &str, status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED
        || (path == "/api/v1/auth/sms/signin" && status == StatusCode::BAD_REQUEST)
}

/// At most `limit` requests per client IP in each fixed window.
#[derive(Debug)]
pub struct IpWindowLimit {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Entries kept before expired windows are swept.
const SWEEP_AT: usize = 10_000;

impl IpWindowLimit {
    /// `limit` 0 means no limit.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request; 429 with the seconds until the window ends when over the limit.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        self.check_at(ip, Instant::now())
    }

    fn check_at(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), ApiError> {
        let (Some(ip), true) = (ip, self.limit > 0) else {
            return Ok(());
        };
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= SWEEP_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(ApiError::TooManyRequests {
                retry_after: left.as_secs().max(1),
            });
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_zero_is_off() {
        let r = Rate::parse("30/5m").unwrap();
        assert_eq!((r.count, r.period), (30, Duration::from_secs(300)));
        assert!(Rate::parse("0").unwrap().is_off());
        assert!(Rate::parse("30").is_err());
        assert!(Rate::parse("x/5m").is_err());
        assert!(Rate::parse("3/0s").is_err());
        assert_eq!(Rate::parse("150/5m").unwrap().to_string(), "150/5m");
    }

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        let l = Limiter::new(Rate::parse("3/30s").unwrap()).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at(1, t0, true).is_ok());
        }
        assert_eq!(
            l.check_at(1, t0, true),
            Err(10),
            "one request is earned every 10 s"
        );
        assert!(
            l.check_at(2, t0, true).is_ok(),
            "another key has its own budget"
        );
        assert_eq!(l.check_at(1, t0 + Duration::from_secs(4), true), Err(6));
        assert!(l.check_at(1, t0 + Duration::from_secs(10), true).is_ok());
        assert!(l.check_at(1, t0 + Duration::from_secs(10), true).is_err());
        assert!(l.check_at(1, t0 + Duration::from_secs(40), false).is_ok());
        assert!(Limiter::<u8>::new(Rate::parse("0").unwrap()).is_none());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(subject(a), subject(b));
        assert_ne!(subject(a), subject(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(subject(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn auth_routes_are_routes_and_verify_is_never_limited() {
        let routes = crate::startup::routes();
        for (m, p) in AUTH_ROUTES {
            let with_slash = format!("{p}/");
            assert!(
                routes.iter().any(|(rm, rp)| rm == m && *rp == with_slash),
                "{m} {p} is not in the route table"
            );
        }
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

    #[test]
    fn counts_per_ip_and_resets_with_the_window() {
        let l = IpWindowLimit::new(2, Duration::from_secs(3600));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(l.check_at(Some(a), t0).is_ok());
        assert!(l.check_at(Some(a), t0).is_ok());
        match l.check_at(Some(a), t0 + Duration::from_secs(600)) {
            Err(ApiError::TooManyRequests { retry_after }) => assert_eq!(retry_after, 3000),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(
            l.check_at(Some(b), t0).is_ok(),
            "another IP has its own budget"
        );
        assert!(l.check_at(Some(a), t0 + Duration::from_secs(3600)).is_ok());
        assert!(IpWindowLimit::new(0, Duration::from_secs(1))
            .check_at(Some(a), t0)
            .is_ok());
    }
}
