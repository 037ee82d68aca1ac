//! How a flow's steps run, off the request workers: database work on the blocking pool with a
//! pooled connection, password hashing on the hashing threads holding no connection, and the
//! read → hash → write shape every password flow has. Each step keeps the caller's tracing span.
//!
//! Hashing runs apart from the connection on purpose: the hashing threads run below the
//! workers' priority, and a thread that held a pooled connection (or the SQLite writer lock)
//! while it waited for CPU would stall every request that needs one.

use std::sync::Arc;

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::state::AppState;

/// Runs database work on the blocking pool with a pooled connection.
pub async fn blocking<T, F>(state: &Arc<AppState>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&AppState, &mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let state = Arc::clone(state);
    crate::runtime::blocking::in_span(move || {
        let mut conn = state.pool.get()?;
        f(&state, &mut conn)
    })
    .await?
}

/// A refresh: `step` on the blocking pool with the connection refreshes run on (on SQLite one of
/// their own, so its page cache stays warm: see [`crate::db::build_refresh_pool`]), then
/// `finish` on the same thread with the connection given back. On SQLite every refresh queues
/// for that one connection, so what needs none (signing the tokens) must not hold it.
pub async fn refreshing<S, T, F, G>(
    state: &Arc<AppState>,
    step: F,
    finish: G,
) -> Result<T, ApiError>
where
    F: FnOnce(&AppState, &mut DbConnection) -> Result<S, ApiError> + Send + 'static,
    G: FnOnce(&AppState, S) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let state = Arc::clone(state);
    crate::runtime::blocking::in_span(move || {
        let stepped = step(&state, &mut *state.refresh_pool().get()?)?;
        finish(&state, stepped)
    })
    .await?
}

/// Runs password hashing alone on the hashing threads, holding no connection.
pub async fn hashing<T, F>(state: &Arc<AppState>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&AppState) -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = Arc::clone(state);
    let span = tracing::Span::current();
    state
        .hashing
        .run(move || {
            let _entered = span.enter();
            f(&shared)
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// The first two steps of a password flow: `read` what the hash needs on the blocking pool, then
/// `hash` on the hashing threads; `input` travels through and comes back with the hash's result.
pub async fn read_then_hash<I, R, H>(
    state: &Arc<AppState>,
    input: I,
    read: impl FnOnce(&AppState, &mut DbConnection, &I) -> Result<R, ApiError> + Send + 'static,
    hash: impl FnOnce(&AppState, &mut I, R) -> Result<H, ApiError> + Send + 'static,
) -> Result<(I, H), ApiError>
where
    I: Send + 'static,
    R: Send + 'static,
    H: Send + 'static,
{
    let (input, read) = blocking(state, move |state, conn| {
        let read = read(state, conn, &input)?;
        Ok((input, read))
    })
    .await?;
    let (input, hashed) = hashing(state, move |state| {
        let mut input = input;
        let hashed = hash(state, &mut input, read);
        (input, hashed)
    })
    .await?;
    Ok((input, hashed?))
}

/// A whole password flow: [`read_then_hash`], then `write` the outcome on the blocking pool.
pub async fn read_hash_write<I, R, H, T>(
    state: &Arc<AppState>,
    input: I,
    read: impl FnOnce(&AppState, &mut DbConnection, &I) -> Result<R, ApiError> + Send + 'static,
    hash: impl FnOnce(&AppState, &mut I, R) -> Result<H, ApiError> + Send + 'static,
    write: impl FnOnce(&AppState, &mut DbConnection, I, H) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError>
where
    I: Send + 'static,
    R: Send + 'static,
    H: Send + 'static,
    T: Send + 'static,
{
    let (input, hashed) = read_then_hash(state, input, read, hash).await?;
    blocking(state, move |state, conn| write(state, conn, input, hashed)).await
}

/// The password being set in `input` (sign-up, reset, an admin's new account) hashed on the
/// hashing threads before the flow takes a connection; `input` comes back with the hash.
pub async fn hash_new_password<I: Send + 'static>(
    state: &Arc<AppState>,
    input: I,
    password: fn(&I) -> &crate::domain::Password,
) -> Result<(I, String), ApiError> {
    let (input, hash) = hashing(state, move |state| {
        let hash = super::password::hash_new(state, password(&input));
        (input, hash)
    })
    .await?;
    Ok((input, hash?))
}
