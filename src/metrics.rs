//! Prometheus metrics, one registry per application (tests run several apps in one process, so a
//! global recorder would mix their counts). Names are prefixed `authgate_`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Distinguishes the `Metrics` of several apps in one process (tests) in [`HTTP_HANDLES`].
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The HTTP metric children of one (method, status) on one route.
type RouteHandles = Vec<(&'static str, u16, IntCounter, Histogram)>;

thread_local! {
    /// Per worker thread, by `Metrics` id and route: the metric children already looked up, so a
    /// request costs no label hashing, no lock and no route-template walk. Only routes without
    /// parameters (template = path) and the standard methods get in, so it stays bounded.
    static HTTP_HANDLES: RefCell<HashMap<u64, HashMap<Box<str>, RouteHandles>>> =
        RefCell::new(HashMap::new());
}

pub struct Metrics {
    id: u64,
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub signins: IntCounterVec,
    pub signups: IntCounterVec,
    pub refreshes: IntCounterVec,
    pub sessions_created: IntCounterVec,
    pub sessions_revoked: IntCounterVec,
    pub db_pool: IntGaugeVec,
    /// Connections handed out by the pool: flat while only database-free paths are served.
    pub db_checkouts: IntCounter,
    pub keys_published: IntGauge,
    pub outbox_deliveries: IntCounterVec,
    pub outbox_backlog: IntGauge,
    /// Webhook event deliveries by endpoint id (never the URL) and outcome.
    pub webhook_deliveries: IntCounterVec,
    pub captcha: IntCounterVec,
    /// Requests refused by a per-IP rate limit, by budget (auth, signin, refresh, api).
    pub rate_limited: IntCounterVec,
    /// Sign-in attempts refused because the account is locked, and locks imposed.
    pub lockouts: IntCounterVec,
    /// Breached-password checks of new passwords by outcome (clean, breached, unavailable).
    pub breach_checks: IntCounterVec,
    /// Recovery codes spent at sign-in, by first factor (password, sms): each is a user who
    /// had no authenticator at hand.
    pub recovery_codes_used: IntCounterVec,
    /// Rows deleted by the retention clean-up, by table.
    pub retention_removed: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "authgate_http_request_duration_seconds",
                "HTTP request latency by route template.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(http_duration.clone()))?;
        let db_pool = IntGaugeVec::new(
            Opts::new(
                "authgate_db_pool_connections",
                "Database pool connections by state (idle, in_use).",
            ),
            &["state"],
        )?;
        registry.register(Box::new(db_pool.clone()))?;
        let db_checkouts = IntCounter::new(
            "authgate_db_pool_checkouts_total",
            "Database connections checked out of the pool (every request or job that touches the database).",
        )?;
        registry.register(Box::new(db_checkouts.clone()))?;
        let keys_published = IntGauge::new(
            "authgate_signing_keys_published",
            "Signing keys in the JWKS.",
        )?;
        registry.register(Box::new(keys_published.clone()))?;
        let outbox_backlog = IntGauge::new(
            "authgate_outbox_backlog",
            "Mail and SMS waiting to be sent.",
        )?;
        registry.register(Box::new(outbox_backlog.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            http_requests: counter(
                &registry,
                "authgate_http_requests_total",
                "HTTP requests by route template, method and status.",
                &["route", "method", "status"],
            )?,
            signins: counter(
                &registry,
                "authgate_signin_total",
                "Sign-in attempts by outcome.",
                &["outcome"],
            )?,
            signups: counter(
                &registry,
                "authgate_signup_total",
                "Sign-ups by outcome.",
                &["outcome"],
            )?,
            refreshes: counter(
                &registry,
                "authgate_refresh_total",
                "Refresh-token exchanges by outcome (rotated, grace, reused, invalid).",
                &["outcome"],
            )?,
            sessions_created: counter(
                &registry,
                "authgate_sessions_created_total",
                "Sessions opened, by method.",
                &["method"],
            )?,
            sessions_revoked: counter(
                &registry,
                "authgate_sessions_revoked_total",
                "Sessions ended, by reason.",
                &["reason"],
            )?,
            outbox_deliveries: counter(
                &registry,
                "authgate_outbox_deliveries_total",
                "Outbox delivery attempts by kind and outcome (sent, logged: written to the log only, retry, failed).",
                &["kind", "outcome"],
            )?,
            webhook_deliveries: counter(
                &registry,
                "authgate_webhook_deliveries_total",
                "Webhook event delivery attempts by endpoint id and outcome (delivered, retried, failed: given up after the retry budget).",
                &["endpoint", "outcome"],
            )?,
            captcha: counter(
                &registry,
                "authgate_captcha_verifications_total",
                "Captcha verifications by outcome (success, rejected, unavailable).",
                &["outcome"],
            )?,
            rate_limited: counter(
                &registry,
                "authgate_rate_limited_total",
                "Requests refused by a per-IP rate limit, by budget.",
                &["limit"],
            )?,
            lockouts: counter(
                &registry,
                "authgate_lockout_total",
                "Account sign-in lockout events (locked: a lock imposed; refused: an attempt refused while locked).",
                &["event"],
            )?,
            breach_checks: counter(
                &registry,
                "authgate_password_breach_checks_total",
                "Breached-password checks of new passwords by outcome (clean, breached, unavailable).",
                &["outcome"],
            )?,
            recovery_codes_used: counter(
                &registry,
                "authgate_recovery_codes_used_total",
                "Recovery codes spent at sign-in instead of a TOTP code, by first factor.",
                &["method"],
            )?,
            retention_removed: counter(
                &registry,
                "authgate_retention_removed_total",
                "Rows deleted by the retention clean-up, by table.",
                &["table"],
            )?,
            outbox_backlog,
            http_duration,
            db_pool,
            db_checkouts,
            keys_published,
            registry,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Counts one answered request under its route template (never the raw path, so label
    /// values stay few; proxied requests share the label `proxied`, unmatched ones `unmatched`)
    /// and records its latency. `route` gives the matched template, asked only on the first
    /// request of a (path, method, status) on this thread.
    pub fn observe_http(
        &self,
        method: &str,
        path: &str,
        route: impl FnOnce() -> Option<String>,
        proxied: bool,
        status: u16,
        elapsed: Duration,
    ) {
        let (method, seconds) = (method_label(method), elapsed.as_secs_f64());
        if proxied {
            self.observe_labels("proxied", method, status, seconds);
            return;
        }
        let hit = HTTP_HANDLES.with(|cache| {
            let cache = cache.borrow();
            let found = cache
                .get(&self.id)
                .and_then(|routes| routes.get(path))
                .and_then(|h| h.iter().find(|(m, s, ..)| *m == method && *s == status));
            if let Some((_, _, requests, duration)) = found {
                requests.inc();
                duration.observe(seconds);
            }
            found.is_some()
        });
        if hit {
            return;
        }
        let route = route();
        let (requests, duration) = self.observe_labels(
            route.as_deref().unwrap_or("unmatched"),
            method,
            status,
            seconds,
        );
        let standard = !matches!(method, "CONNECT" | "TRACE" | "other");
        if standard && route.as_deref() == Some(path) {
            HTTP_HANDLES.with(|cache| {
                cache
                    .borrow_mut()
                    .entry(self.id)
                    .or_default()
                    .entry(path.into())
                    .or_default()
                    .push((method, status, requests, duration));
            });
        }
    }

    fn observe_labels(
        &self,
        route: &str,
        method: &'static str,
        status: u16,
        seconds: f64,
    ) -> (IntCounter, Histogram) {
        let status = status.to_string();
        let requests = self
            .http_requests
            .with_label_values(&[route, method, status.as_str()]);
        requests.inc();
        let duration = self.http_duration.with_label_values(&[route, method]);
        duration.observe(seconds);
        (requests, duration)
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// The method as a label: any token is a valid HTTP method, so label values outside the
/// standard nine would let clients grow the series without bound.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}
