//! `signup/`, `signin/`, `custom-refresh/`, `custom-logout/`.

use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;

use crate::domain::{DisplayName, Email, Password};
use crate::error::ApiError;
use crate::http::{auth::presented_token, cookies, ClientInfo};
use crate::routes::{blocking, refreshing};
use crate::service::accounts::{self, Contact, SignIn, SignUp};
use crate::service::password::check_new;
use crate::service::run::hash_new_password;
use crate::service::sessions::{self, Issued};
use crate::service::users;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ContactBody {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

#[derive(Deserialize)]
pub struct SignUpBody {
    email: String,
    password: String,
    name: String,
    #[serde(default)]
    contact: Option<ContactBody>,
    // Checked by the captcha gate before the handler runs.
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
    #[serde(default)]
    invite_code: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInBody {
    login: String,
    password: String,
    #[serde(default)]
    remember_me: bool,
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    passkey: Option<crate::service::passkeys::Assertion>,
}

/// Unused recovery codes, on a sign-in that spent one or left only a few.
pub const RECOVERY_CODES_LEFT: &str = "x-recovery-codes-left";

/// Sets both cookies and marks the response uncacheable (it carries tokens).
pub fn with_session_cookies(
    resp: &mut HttpResponseBuilder,
    settings: &crate::settings::Settings,
    issued: Issued,
) {
    crate::telemetry::record_identity(&issued.user_id, &issued.session_id);
    if let Some(left) = issued.recovery_codes_left {
        resp.insert_header((RECOVERY_CODES_LEFT, left));
    }
    if let Some(hint) =
        cookies::session_hint(settings, issued.access_expires_at, issued.persist_for)
    {
        resp.cookie(hint);
    }
    resp.cookie(cookies::access(settings, issued.access_token));
    resp.cookie(cookies::refresh(
        settings,
        issued.refresh_token,
        issued.persist_for,
    ));
}

pub async fn signup(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<SignUpBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = SignUp {
        email: Email::parse(&body.email)?,
        password: Password::parse(body.password)?,
        name: DisplayName::parse(&body.name)?,
        contact: body
            .contact
            .map(|c| Contact::parse(&c.kind, &c.value))
            .transpose()?,
        invite_code: body.invite_code,
    };
    check_new(&state, &input.password, &input.email).await?;
    let (input, hash) = hash_new_password(&state, input, |i| &i.password).await?;
    let (view, issued) = blocking(&state, move |state, conn| {
        let (user, issued) = accounts::sign_up(state, conn, &client, input, &hash)?;
        Ok((users::view(state, conn, user)?, issued))
    })
    .await?;
    crate::notify::wake(&state);
    let mut resp = HttpResponse::Created();
    if let Some(issued) = issued {
        with_session_cookies(&mut resp, &state.settings, issued);
    }
    Ok(resp.json(view))
}

pub async fn signin(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<SignInBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = SignIn {
        // An address that cannot exist still costs a hash check and answers like a wrong password.
        email: Email::parse(&body.login),
        password: Password::parse_for_sign_in(body.password)?,
        remember_me: body.remember_me,
        code: body.code,
        passkey: body.passkey,
    };
    let issued = accounts::sign_in(&state, client, input).await?;
    let mut resp = HttpResponse::NoContent();
    with_session_cookies(&mut resp, &state.settings, issued);
    Ok(resp.finish())
}

pub async fn refresh(
    state: web::Data<AppState>,
    client: ClientInfo,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let token = req
        .cookie(&state.settings.refresh_cookie_name)
        .map(|c| c.value().to_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(clear_cookies_error(&state, ApiError::InvalidRefreshToken));
    };
    match refreshing(
        &state,
        move |state, conn| sessions::refresh(state, conn, &client, &token),
        |state, refreshed| refreshed.sign(state),
    )
    .await
    {
        Ok(issued) => {
            let mut resp = HttpResponse::NoContent();
            with_session_cookies(&mut resp, &state.settings, issued);
            Ok(resp.finish())
        }
        Err(e @ (ApiError::InvalidRefreshToken | ApiError::RefreshTokenReused(_))) => {
            Ok(clear_cookies_error(&state, e))
        }
        Err(e) => Err(e),
    }
}

/// A 401 from refresh also expires both cookies, so the browser stops sending dead tokens.
fn clear_cookies_error(state: &AppState, e: ApiError) -> HttpResponse {
    let mut resp = actix_web::ResponseError::error_response(&e);
    for c in cookies::cleared(&state.settings) {
        let _ = resp.add_cookie(&c);
    }
    resp
}

pub async fn logout(
    state: web::Data<AppState>,
    client: ClientInfo,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let refresh_token = req
        .cookie(&state.settings.refresh_cookie_name)
        .map(|c| c.value().to_owned());
    let access_sid = presented_token(&req, &state.settings.access_cookie_name)
        .and_then(|(t, _)| state.tokens.verify(&state.keys, &t).ok())
        .map(|c| c.sid.clone());
    if refresh_token.is_some() || access_sid.is_some() {
        blocking(&state, move |state, conn| {
            sessions::logout(
                conn,
                state,
                &client,
                refresh_token.as_deref(),
                access_sid.as_deref(),
            )
        })
        .await?;
    }
    let mut resp = HttpResponse::NoContent();
    for c in cookies::cleared(&state.settings) {
        resp.cookie(c);
    }
    Ok(resp.finish())
}
