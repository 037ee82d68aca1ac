//! The threads that run password hashing (sign-in, sign-up, `token/` password grant, password
//! change and reset, re-authentication before account changes): one per core, below the async
//! workers' priority. A sign-in storm then uses every idle cycle, yet the kernel hands a core back
//! to token checks the moment they have work, so a storm cannot slow them. Jobs here
//! hash and nothing else (`service::run::hashing`): every flow reads, hashes and writes in separate
//! steps, so a thread this far below the workers never holds a pooled connection or the SQLite
//! writer lock that they wait on (a priority inversion once the CPU is saturated).
//!
//! By default the threads are `SCHED_IDLE`: a waking worker preempts them at once. At nice +10
//! (`AUTHGATE_PASSWORD_HASH_PRIORITY=low`, the earlier default) the scheduler often let a bcrypt
//! round finish its slice first: the check's p99 during saturated sign-in rose from 0.13 to
//! 3.7 ms, against 0.21 ms with `SCHED_IDLE` (bench/README.md).

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

use crate::settings::HashPriority;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How much lower than the workers hashing runs: at nice +10 a busy thread gets about a tenth of
/// the CPU a nice-0 thread wants (CFS weights 110 against 1024).
const NICENESS: i32 = 10;

pub struct HashingPool {
    jobs: mpsc::Sender<Job>,
}

/// The job's thread went away before it answered (it panicked).
#[derive(Debug, thiserror::Error)]
#[error("the password hashing thread ended before answering")]
pub struct Lost;

impl HashingPool {
    pub fn new(threads: usize, priority: HashPriority) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("authgate-hash-{i}"))
                .spawn(move || {
                    lower_priority(priority);
                    loop {
                        // The lock is held only while waiting for the next job.
                        let next = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = next else { return };
                        // A panicking job must not shrink the pool; its caller sees `Lost`.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` on a hashing thread; jobs queue in arrival order while all are busy.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Lost>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = answer.send(f());
            }))
            .map_err(|_| Lost)?;
        answered.await.map_err(|_| Lost)
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(priority: HashPriority) {
    // Relative to the thread's nice value as the process started it (read first: setting the
    // policy below resets it): a service started at nice 15 must not see its hashing raised to
    // an absolute 10, above its workers (root may raise it).
    let target = (rustix::process::getpriority_process(None).unwrap_or(0) + NICENESS).min(19);
    if priority == HashPriority::Idle {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        // `Min` is the only priority SCHED_IDLE takes (0); the nice value below comes after.
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(e) = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            idle,
        ) {
            tracing::warn!(error = ?e, "SCHED_IDLE refused: password hashing runs at nice +10");
        }
    }
    // On Linux `setpriority(PRIO_PROCESS, 0, ..)` sets the calling thread's nice value only. It
    // applies in both modes: a thread whose SCHED_IDLE was refused still runs at nice +10.
    if let Err(e) = rustix::process::setpriority_process(None, target) {
        tracing::warn!(error = %e, "could not lower the password hashing threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_: HashPriority) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_answer_and_a_panic_neither_hangs_the_caller_nor_shrinks_the_pool() {
        let pool = HashingPool::new(1, HashPriority::Low).unwrap();
        assert_eq!(pool.run(|| 6 * 7).await.unwrap(), 42);
        assert!(pool.run(|| -> u8 { panic!("boom") }).await.is_err());
        assert_eq!(pool.run(|| "still here").await.unwrap(), "still here");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_workers_priority() {
        use thread_priority::unix::{
            thread_schedule_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
        };
        let mine = rustix::process::getpriority_process(None).unwrap();
        for (priority, policy) in [
            (HashPriority::Low, NormalThreadSchedulePolicy::Other),
            (HashPriority::Idle, NormalThreadSchedulePolicy::Idle),
        ] {
            let pool = HashingPool::new(1, priority).unwrap();
            let (nice, theirs) = pool
                .run(|| {
                    (
                        rustix::process::getpriority_process(None).unwrap(),
                        thread_schedule_policy().unwrap(),
                    )
                })
                .await
                .unwrap();
            assert_eq!(nice, (mine + NICENESS).min(19), "{priority:?}");
            assert_eq!(theirs, ThreadSchedulePolicy::Normal(policy), "{priority:?}");
        }
        assert_eq!(
            thread_schedule_policy().unwrap(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
            "the caller's own policy is untouched"
        );
    }
}
