//! In-memory per-IP limits (DESIGN §7). Per-account state lives in the database; these guard
//! the endpoints that send mail from one address flooding many inboxes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

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
