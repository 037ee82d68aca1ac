//! `verify-email/` and `verify-email/resend/`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::domain::{Email, OneTimeCode};
use crate::error::ApiError;
use crate::http::{ClientInfo, MaybeAuthenticated};
use crate::notify;
use crate::routes::{accepted, blocking};
use crate::service::email::{self, Subject};
use crate::service::users;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct VerifyBody {
    verification_code: String,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
pub struct ResendBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
}

/// The signed-in caller, else the address in the body, else 401.
fn subject(auth: MaybeAuthenticated, email: Option<String>) -> Result<Subject, ApiError> {
    match (auth.0, email) {
        (Some(auth), _) => Ok(Subject::User(auth.claims.sub)),
        (None, Some(raw)) => Ok(Subject::Email(Email::parse(&raw)?)),
        (None, None) => Err(ApiError::Unauthenticated),
    }
}

pub async fn verify(
    state: web::Data<AppState>,
    auth: MaybeAuthenticated,
    client: ClientInfo,
    body: crate::http::Json<VerifyBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let who = subject(auth, body.email)?;
    let code = OneTimeCode::parse(&body.verification_code)?;
    let (view, issued) = blocking(&state, move |state, conn| {
        let signed_out = matches!(who, Subject::Email(_));
        let (user, verified) = email::verify(state, conn, &client, who, code)?;
        let issued = if signed_out && verified == email::Verified::Address {
            email::sign_in_after_verification(state, conn, &client, &user)?
        } else {
            None
        };
        Ok((users::view(state, conn, user)?, issued))
    })
    .await?;
    // An email change queues a notice to the old address.
    notify::wake(&state);
    let mut resp = HttpResponse::Ok();
    if let Some(issued) = issued {
        crate::routes::auth::with_session_cookies(&mut resp, &state.settings, issued);
    }
    Ok(resp.json(view))
}

#[derive(Deserialize)]
pub struct RevertBody {
    email: String,
    code: String,
}

/// `DELETE user/email-change/`: the pending change is cancelled.
pub async fn cancel_change(
    state: web::Data<AppState>,
    auth: crate::http::Authenticated,
) -> Result<HttpResponse, ApiError> {
    let user_id = auth.claims.sub;
    blocking(&state, move |_, conn| email::cancel_change(conn, &user_id)).await?;
    Ok(crate::routes::no_content())
}

/// `POST email-change/revert/`: the old address undoes an applied change.
pub async fn revert_change(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<RevertBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let old_email = Email::parse(&body.email)?;
    let code = OneTimeCode::parse(&body.code)?;
    blocking(&state, move |state, conn| {
        email::revert_change(state, conn, &client, &old_email, code)
    })
    .await?;
    notify::wake(&state);
    Ok(crate::routes::no_content())
}

pub async fn resend(
    state: web::Data<AppState>,
    auth: MaybeAuthenticated,
    client: ClientInfo,
    body: crate::http::Json<ResendBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let who = subject(auth, body.email)?;
    state.mail_ip_limit.check(client.ip)?;
    let started = std::time::Instant::now();
    let queued = blocking(&state, move |state, conn| email::resend(state, conn, who)).await?;
    notify::wake(&state);
    state.answer_times.resend.settle(started, queued).await;
    Ok(accepted())
}
