//! The threads that run password hashing (sign-in, sign-up, `token/` password grant, password
//! change and reset, re-authentication before account changes): one per core, at a lower CPU
//! priority (nice +10) than the async workers. A sign-in storm then uses every idle cycle, yet the
//! kernel hands a core back to token checks the moment they have work, so a storm cannot slow them
//! (DESIGN §8). A fixed pool of (cores − 1) at normal priority, the earlier design, left a core
//! idle whenever no checks came in; measured in `bench/RESULTS.md`.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

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
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("authgate-hash-{i}"))
                .spawn(move || {
                    lower_priority();
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
fn lower_priority() {
    // On Linux `setpriority(PRIO_PROCESS, 0, ..)` sets the calling thread's nice value only.
    if let Err(e) = rustix::process::setpriority_process(None, NICENESS) {
        tracing::warn!(error = %e, "could not lower the password hashing threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_answer_and_a_panic_neither_hangs_the_caller_nor_shrinks_the_pool() {
        let pool = HashingPool::new(1).unwrap();
        assert_eq!(pool.run(|| 6 * 7).await.unwrap(), 42);
        assert!(pool.run(|| -> u8 { panic!("boom") }).await.is_err());
        assert_eq!(pool.run(|| "still here").await.unwrap(), "still here");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_workers_priority() {
        let pool = HashingPool::new(1).unwrap();
        let mine = rustix::process::getpriority_process(None).unwrap();
        let theirs = pool
            .run(|| rustix::process::getpriority_process(None).unwrap())
            .await
            .unwrap();
        assert_eq!(theirs, (mine + NICENESS).min(19));
    }
}
