//! Where work runs, apart from the request workers: the password hashing threads, the blocking
//! pool with the caller's tracing span, and the answer-time padding that keeps unknown accounts
//! from answering faster. No HTTP framework here; tokio's blocking pool is actix's too.

pub mod answer_time;
pub mod blocking;
pub mod hashing;

pub use hashing::HashingPool;
