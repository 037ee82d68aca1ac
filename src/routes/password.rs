//! `password/forgot/`, `password/reset/` and `user/password/`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::domain::{Email, OneTimeCode, Password};
use crate::error::ApiError;
use crate::http::{Authenticated, ClientInfo};
use crate::notify;
use crate::routes::{accepted, blocking, no_content};
use crate::service::password::{self, Change, Reset};
use crate::service::run::hash_new_password;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ForgotBody {
    email: String,
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
}

#[derive(Deserialize)]
pub struct ResetBody {
    email: String,
    code: String,
    password: String,
}

#[derive(Deserialize)]
pub struct ChangeBody {
    old_password: String,
    password: String,
}

pub async fn forgot(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<ForgotBody>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email)?;
    state.mail_ip_limit.check(client.ip)?;
    let started = std::time::Instant::now();
    let queued = blocking(&state, move |state, conn| {
        password::forgot(state, conn, &email)
    })
    .await?;
    notify::wake(&state);
    state.answer_times.forgot.settle(started, queued).await;
    Ok(accepted())
}

pub async fn reset(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = Reset {
        email: Email::parse(&body.email),
        code: OneTimeCode::parse(&body.code)?,
        password: Password::parse(body.password)?,
    };
    // Before the code is checked, so a refused password does not spend the code. The rules see
    // only the address typed here, so the answer says nothing about the account.
    if let Ok(email) = &input.email {
        password::check_new(&state, &input.password, email).await?;
    }
    let (input, hash) = hash_new_password(&state, input, |i| &i.password).await?;
    blocking(&state, move |state, conn| {
        password::reset(state, conn, &client, input, &hash)
    })
    .await?;
    notify::wake(&state);
    Ok(no_content())
}

pub async fn change(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<ChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    // The token's address is the account's (an address change applies only once verified).
    let email = Email::parse(&auth.claims.email)?;
    let new_password = Password::parse(body.password)?;
    password::check_new(&state, &new_password, &email).await?;
    let input = Change {
        user_id: auth.claims.sub,
        session_id: auth.claims.sid,
        old_password: Password::parse_for_sign_in(body.old_password)?,
        password: new_password,
    };
    password::change(&state, client, input).await?;
    notify::wake(&state);
    Ok(no_content())
}
