//! Phone binding (`user/phone/code/`, `user/phone/`, `DELETE user/phone/`) and SMS sign-in
//! (`sms/code/`, `sms/signin/`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::domain::{OneTimeCode, Phone};
use crate::error::ApiError;
use crate::http::{Authenticated, ClientInfo};
use crate::notify;
use crate::routes::mfa::ReauthBody;
use crate::routes::{blocking, no_content};
use crate::service::phone::{self, SmsSignIn};
use crate::service::users;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct PhoneBody {
    phone: String,
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
}

/// `user/phone/code/`: the number and the re-authentication.
#[derive(Deserialize)]
pub struct BindingCodeBody {
    phone: String,
    #[serde(flatten)]
    reauth: ReauthBody,
}

fn sms_accepted() -> HttpResponse {
    HttpResponse::Accepted().json(serde_json::json!({
        "message": "if the number can receive it, an SMS with a code is on its way"
    }))
}

pub async fn request_binding(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<BindingCodeBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let phone = Phone::parse(&body.phone)?;
    let proof = body.reauth.into_proof()?;
    state.mail_ip_limit.check(client.ip)?;
    let user_id = auth.claims.sub;
    let proof = crate::service::mfa::check_reauth(&state, &user_id, proof).await?;
    blocking(&state, move |state, conn| {
        phone::request_binding(state, conn, &client, &user_id, &phone, &proof)
    })
    .await?;
    notify::wake(&state);
    Ok(sms_accepted())
}

#[derive(Deserialize)]
pub struct BindBody {
    phone: String,
    code: String,
}

pub async fn bind(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<BindBody>,
) -> Result<HttpResponse, ApiError> {
    let phone = Phone::parse(&body.phone)?;
    let code = OneTimeCode::parse(&body.code)?;
    let user_id = auth.claims.sub;
    let view = blocking(&state, move |state, conn| {
        let user = phone::bind(state, conn, &client, &user_id, &phone, &code)?;
        users::view(state, conn, user)
    })
    .await?;
    notify::wake(&state);
    Ok(HttpResponse::Ok().json(view))
}

pub async fn unbind(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    crate::routes::mfa::reauthenticated(&state, auth, client, body.into_inner(), phone::unbind)
        .await?;
    notify::wake(&state);
    Ok(no_content())
}

pub async fn sms_code(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<PhoneBody>,
) -> Result<HttpResponse, ApiError> {
    let phone = Phone::parse(&body.phone)?;
    state.mail_ip_limit.check(client.ip)?;
    let started = std::time::Instant::now();
    let queued = blocking(&state, move |state, conn| {
        phone::request_sign_in(state, conn, &phone)
    })
    .await?;
    notify::wake(&state);
    state.answer_times.sms_code.settle(started, queued).await;
    Ok(sms_accepted())
}

#[derive(Deserialize)]
pub struct SmsSignInBody {
    phone: String,
    code: String,
    #[serde(default)]
    code_totp: Option<String>,
    #[serde(default)]
    passkey: Option<crate::service::passkeys::Assertion>,
    #[serde(default)]
    remember_me: bool,
}

pub async fn sms_signin(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<SmsSignInBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = SmsSignIn {
        phone: Phone::parse(&body.phone)?,
        code: OneTimeCode::parse(&body.code)?,
        code_totp: body.code_totp,
        passkey: body.passkey,
        remember_me: body.remember_me,
    };
    let issued = blocking(&state, move |state, conn| {
        phone::sign_in(state, conn, &client, input)
    })
    .await?;
    let mut resp = HttpResponse::NoContent();
    crate::routes::auth::with_session_cookies(&mut resp, &state.settings, issued);
    Ok(resp.finish())
}
