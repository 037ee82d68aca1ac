//! Blocking work (database calls) on the runtime's blocking pool, inside the caller's tracing
//! span so its log lines keep the request id. Inside an actix worker this is the worker's own
//! pool, whose size the server caps (`startup`).

/// Runs `f` on the blocking pool in the current span.
pub async fn in_span<T, F>(f: F) -> Result<T, tokio::task::JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        f()
    })
    .await
}
