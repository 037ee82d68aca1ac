//! In-memory per-IP limits, one process each, with no HTTP framework: the keyed GCRA limiter
//! behind the request rates (`crate::http::rate_limit` picks the budget per route) and the
//! hourly cap on mail-sending requests ([`IpWindowLimit`], checked where a send is requested).
//! Per-account state (the sign-in lockout, code attempts) lives in the database instead, so
//! replicas share it; see `crate::service::lockout`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::settings::{Rate, Settings};

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

/// Whole seconds to wait, rounded up and at least 1: a `Retry-After` never says "now" early.
pub fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The per-IP request limiters, built once from the settings.
#[derive(Debug)]
pub struct IpLimits {
    pub auth: Option<Limiter<(usize, IpAddr)>>,
    pub refresh: Option<Limiter<IpAddr>>,
    pub api: Option<Limiter<IpAddr>>,
    pub signin_failures: Option<Limiter<IpAddr>>,
}

impl IpLimits {
    pub fn new(s: &Settings) -> Self {
        Self {
            auth: Limiter::new(s.rate_limit_auth),
            refresh: Limiter::new(s.rate_limit_refresh),
            api: Limiter::new(s.rate_limit_api),
            signin_failures: Limiter::new(s.rate_limit_signin_failures),
        }
    }
}

/// Whom a budget belongs to: an IPv4 address, or the /64 of an IPv6 one (one subscriber's
/// network gets a whole /64, so its addresses are not separate clients).
pub fn subject(ip: IpAddr) -> IpAddr {
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
    fn waits_round_up_to_whole_seconds_and_never_to_zero() {
        assert_eq!(ceil_secs(Duration::from_millis(29_001)), 30);
        assert_eq!(ceil_secs(Duration::from_secs(30)), 30);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::ZERO), 1);
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
    fn a_full_map_sweeps_the_keys_that_owe_nothing_and_keeps_the_ones_that_do() {
        let l = Limiter::new(Rate::parse("1/1h").unwrap()).unwrap();
        let hour = Duration::from_secs(3600);
        let t0 = Instant::now();
        let len = |l: &Limiter<usize>| l.tat.lock().unwrap().len();
        // Below the threshold nothing is swept, however long a key has been idle.
        l.check_at(0, t0, true).unwrap();
        l.check_at(1, t0 + 2 * hour, true).unwrap();
        assert_eq!(len(&l), 2, "key 0 is idle, but the map is small");
        for k in 2..SWEEP_AT - 1 {
            l.check_at(k, t0 + 2 * hour, true).unwrap();
        }
        let owing = SWEEP_AT - 1;
        l.check_at(owing, t0 + 2 * hour + hour / 2, true).unwrap();
        assert_eq!(len(&l), SWEEP_AT);
        // At t0 + 3 h every key but `owing` has paid off its request: the sweep drops them,
        // and `owing` keeps its debt.
        assert_eq!(l.check_at(owing, t0 + 3 * hour, true), Err(1800));
        assert_eq!(len(&l), 1);
    }

    #[test]
    fn a_full_window_map_sweeps_ended_windows_only() {
        let l = IpWindowLimit::new(1, Duration::from_secs(3600));
        let hour = Duration::from_secs(3600);
        let t0 = Instant::now();
        let ip = |n: usize| Some(IpAddr::from(std::net::Ipv4Addr::from(n as u32)));
        let len = |l: &IpWindowLimit| l.seen.lock().unwrap().len();
        l.check_at(ip(0), t0).unwrap();
        l.check_at(ip(1), t0 + 2 * hour).unwrap();
        assert_eq!(len(&l), 2, "ip 0's window is over, but the map is small");
        for n in 2..SWEEP_AT - 1 {
            l.check_at(ip(n), t0 + 2 * hour).unwrap();
        }
        let busy = SWEEP_AT - 1;
        l.check_at(ip(busy), t0 + 2 * hour + hour / 2).unwrap();
        assert_eq!(len(&l), SWEEP_AT);
        // At t0 + 3 h only `busy`'s window is still open: the sweep keeps it, and its count.
        match l.check_at(ip(busy), t0 + 3 * hour) {
            Err(ApiError::TooManyRequests { retry_after }) => assert_eq!(retry_after, 1800),
            other => panic!("expected 429, got {other:?}"),
        }
        assert_eq!(len(&l), 1);
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
