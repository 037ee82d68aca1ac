//! Answer-time equalising for the endpoints that must not tell whether an account exists
//! (`password/forgot/`, `verify-email/resend/`, `sms/code/`).
//!
//! A known account gets a code queued in a committed transaction; on PostgreSQL that commit waits
//! for a WAL flush which the unknown-account path (nothing to write) never does: measured 4–6 ms
//! against 1.6–2.5 ms, enough to enumerate accounts. Faking a durable write would cost a flush per
//! probe, so instead an answer that skipped the work waits until the recent typical duration of
//! the full work has passed. The estimate follows load because it is fed by real answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One endpoint's running estimate of how long the full work takes.
#[derive(Debug, Default)]
pub struct AnswerTime {
    /// Exponentially weighted mean of the full-work durations, in microseconds; 0 until the
    /// first one.
    typical_micros: AtomicU64,
    /// Mean of how much longer than asked the timer sleeps (its wheel ticks in milliseconds), so
    /// padded answers do not end up slower than real ones.
    overshoot_micros: AtomicU64,
}

/// A single stall (a checkpoint, a paused VM) must not make every later answer slow.
const LONGEST_COUNTED: Duration = Duration::from_secs(1);

impl AnswerTime {
    /// Folds one full-work duration into the estimate.
    pub fn record(&self, took: Duration) {
        fold(&self.typical_micros, took.min(LONGEST_COUNTED));
    }

    /// How much longer an answer that skipped the work, and has taken `took` so far, must wait.
    pub fn pad(&self, took: Duration) -> Duration {
        Duration::from_micros(self.typical_micros.load(Ordering::Relaxed)).saturating_sub(took)
    }

    /// Call when the answer is ready: records the duration when the work was done, otherwise
    /// waits out the difference.
    pub async fn settle(&self, started: Instant, did_work: bool) {
        let took = started.elapsed();
        if did_work {
            self.record(took);
        } else {
            let overshoot = Duration::from_micros(self.overshoot_micros.load(Ordering::Relaxed));
            let pad = self.pad(took).saturating_sub(overshoot);
            if !pad.is_zero() {
                let asleep = Instant::now();
                // A thread's sleep, not the runtime's timer: the timer wheel ticks in whole
                // milliseconds, while on SQLite the full work takes well under one, so a timer
                // either doubles the answer or (once the overshoot estimate exceeds the pad)
                // never sleeps at all. A blocking thread is what the full work holds too.
                let _ = tokio::task::spawn_blocking(move || std::thread::sleep(pad)).await;
                fold(&self.overshoot_micros, asleep.elapsed().saturating_sub(pad));
            }
        }
    }
}

/// Exponentially weighted mean with weight 1/4: recent enough to follow load within a few
/// answers; the first sample seeds it.
fn fold(mean: &AtomicU64, sample: Duration) {
    let sample = sample.as_micros() as u64;
    let _ = mean.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(if old == 0 {
            sample.max(1)
        } else {
            old - old / 4 + sample / 4
        })
    });
}

/// The endpoints whose answers are equalised, one estimate each.
#[derive(Debug, Default)]
pub struct AnswerTimes {
    pub forgot: AnswerTime,
    pub resend: AnswerTime,
    pub sms_code: AnswerTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_padded_before_the_first_full_answer() {
        assert_eq!(AnswerTime::default().pad(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn skipped_work_is_padded_to_the_typical_full_work() {
        let t = AnswerTime::default();
        t.record(Duration::from_millis(4));
        assert_eq!(t.pad(Duration::from_millis(1)), Duration::from_millis(3));
        assert_eq!(t.pad(Duration::from_millis(9)), Duration::ZERO);
    }

    #[test]
    fn the_estimate_follows_load_and_ignores_one_long_stall() {
        let t = AnswerTime::default();
        t.record(Duration::from_millis(2));
        for _ in 0..64 {
            t.record(Duration::from_millis(6));
        }
        let typical = t.pad(Duration::ZERO);
        assert!(typical > Duration::from_micros(5_900) && typical <= Duration::from_millis(6));
        t.record(Duration::from_secs(30));
        assert!(t.pad(Duration::ZERO) < Duration::from_millis(260));
    }
}
