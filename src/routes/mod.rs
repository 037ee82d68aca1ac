//! HTTP handlers: each turns the request into domain values, runs the service on the blocking
//! pool, and shapes the response. No SQL and no crypto here.

pub mod auth;
pub mod demo;
pub mod email;
pub mod health;
pub mod jwks;
pub mod mfa;
pub mod password;
pub mod phone;
pub mod sessions;
pub mod token;
pub mod user;
pub mod verify;

use actix_web::{web, HttpResponse};

use crate::db::DbConnection;
use crate::error::ApiError;
use crate::state::AppState;

/// Password hashing alone, on the hashing threads, holding no connection: every flow that
/// hashes reads, hashes and writes in separate steps, so work below the request workers'
/// priority never holds a pooled connection or the SQLite writer lock that they wait for.
pub async fn hashing<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&AppState) -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = state.clone().into_inner();
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

/// The password being set in `input` (sign-up, reset) hashed on the hashing threads, before the
/// flow takes a connection; `input` comes back with the hash.
pub async fn hash_new_password<I: Send + 'static>(
    state: &web::Data<AppState>,
    input: I,
    password: fn(&I) -> &crate::domain::Password,
) -> Result<(I, String), ApiError> {
    let (input, hash) = hashing(state, move |state| {
        let hash = crate::service::password::hash_new(state, password(&input));
        (input, hash)
    })
    .await?;
    Ok((input, hash?))
}

/// A re-authentication's password (ASVS V7.5.1: email, phone and TOTP changes) checked on the
/// hashing threads before the change runs on the blocking pool, where
/// [`crate::service::mfa::reauthenticate`] then only compares the verdict.
pub async fn check_reauth(
    state: &web::Data<AppState>,
    user_id: &str,
    proof: crate::service::mfa::Reauth,
) -> Result<crate::service::mfa::Reauth, ApiError> {
    use crate::service::mfa;
    let user_id = user_id.to_owned();
    let (proof, hash) = blocking(state, move |state, conn| {
        let hash = mfa::reauth_lookup(state, conn, &user_id, &proof)?;
        Ok((proof, hash))
    })
    .await?;
    let Some(hash) = hash else { return Ok(proof) };
    hashing(state, move |state| {
        let mut proof = proof;
        mfa::check_reauth_password(state, &mut proof, hash);
        proof
    })
    .await
}

/// The rules for a password being set, never one presented at sign-in: common passwords and
/// context words (ASVS 6.2.4, 6.2.11) for the account `email`, then, when enabled, the breached
/// password check (6.2.12). All refusals are 400 `weak_password` naming the rule.
pub async fn check_new_password(
    state: &AppState,
    password: &crate::domain::Password,
    email: &crate::domain::Email,
) -> Result<(), ApiError> {
    new_password_rules(
        &state.password_policy,
        state.breach.as_ref(),
        &state.http_client,
        &state.metrics,
        password,
        email,
    )
    .await
}

/// [`check_new_password`] from its parts, for `authgate users create`, which has no app state.
pub async fn new_password_rules(
    policy: &crate::domain::PasswordPolicy,
    breach: Option<&crate::clients::breach::BreachChecker>,
    http: &reqwest::Client,
    metrics: &crate::metrics::Metrics,
    password: &crate::domain::Password,
    email: &crate::domain::Email,
) -> Result<(), ApiError> {
    policy
        .check(password, email)
        .map_err(|w| ApiError::from(crate::domain::Invalid::from(w)))?;
    if let Some(breach) = breach {
        breach.check(http, metrics, password).await?;
    }
    Ok(())
}

/// Runs database work on the blocking pool with a pooled connection, inside the request's
/// tracing span (password hashing goes to [`hashing`], holding no connection).
pub async fn blocking<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&AppState, &mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    web::block(with_connection(state, f)).await?
}

/// `f` as a job for a thread pool: run with a pooled connection, inside the caller's span.
fn with_connection<T, F>(
    state: &web::Data<AppState>,
    f: F,
) -> impl FnOnce() -> Result<T, ApiError> + Send + 'static
where
    F: FnOnce(&AppState, &mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let state = state.clone().into_inner();
    let span = tracing::Span::current();
    move || {
        let _entered = span.enter();
        let mut conn = state.pool.get()?;
        f(&state, &mut conn)
    }
}

/// 202 for the endpoints that answer alike whether or not an account exists.
pub fn accepted() -> HttpResponse {
    HttpResponse::Accepted()
        .json(serde_json::json!({
            "message": "if an account matches, a mail with a code is on its way"
        }))
}

pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent()
        .finish()
}
