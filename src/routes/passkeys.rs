//! Passkeys: `mfa/passkeys/` (register, list, rename, remove), `signin/passkey/` and
//! `signup/passkey/`, each ceremony as an options call and a finishing call.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::{DisplayName, Email};
use crate::error::ApiError;
use crate::http::{Authenticated, ClientInfo};
use crate::notify;
use crate::routes::auth::with_session_cookies;
use crate::routes::blocking;
use crate::routes::mfa::{reauthenticated, ReauthBody};
use crate::service::passkeys::{self, Assertion, Attestation, PasskeySignUp, PasskeyView};
use crate::service::users;
use crate::state::AppState;

/// A set of recovery codes or ceremony options: never cached.
fn no_store(mut resp: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    resp.insert_header((
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    ));
    resp
}

pub async fn register_options(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    let options = reauthenticated(
        &state,
        auth,
        client,
        body.into_inner(),
        |s, c, client, id, proof| passkeys::registration_options(s, c, client, id, &proof),
    )
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(options))
}

#[derive(Deserialize)]
pub struct RegisterBody {
    #[serde(flatten)]
    attestation: Attestation,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize)]
struct Registered {
    #[serde(flatten)]
    passkey: PasskeyView,
    /// Issued with the account's first second factor, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

pub async fn register(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = body.name.as_deref().map(passkeys::parse_name).transpose()?;
    let user_id = auth.claims.sub;
    let registered = blocking(&state, move |state, conn| {
        passkeys::register(state, conn, &client, &user_id, &body.attestation, name)
    })
    .await?;
    notify::wake(&state);
    Ok(no_store(HttpResponse::Created()).json(Registered {
        passkey: registered.passkey,
        recovery_codes: registered.recovery_codes,
    }))
}

#[derive(Serialize)]
struct PasskeyList {
    passkeys: Vec<PasskeyView>,
}

pub async fn list(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let user_id = auth.claims.sub;
    let passkeys = blocking(&state, move |_, conn| passkeys::list(conn, &user_id)).await?;
    Ok(HttpResponse::Ok().json(PasskeyList { passkeys }))
}

#[derive(Deserialize)]
pub struct RenameBody {
    name: String,
}

pub async fn rename(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    path: web::Path<String>,
    body: crate::http::Json<RenameBody>,
) -> Result<HttpResponse, ApiError> {
    let name = passkeys::parse_name(&body.into_inner().name)?;
    let (user_id, id) = (auth.claims.sub, path.into_inner());
    let view = blocking(&state, move |state, conn| {
        passkeys::rename(state, conn, &client, &user_id, &id, &name)
    })
    .await?;
    notify::wake(&state);
    Ok(HttpResponse::Ok().json(view))
}

pub async fn remove(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    path: web::Path<String>,
    body: crate::http::Json<ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    reauthenticated(
        &state,
        auth,
        client,
        body.into_inner(),
        move |s, c, client, user_id, proof| passkeys::remove(s, c, client, user_id, &id, &proof),
    )
    .await?;
    notify::wake(&state);
    Ok(crate::routes::no_content())
}

/// The body is an empty object (any fields are ignored); not JSON, or not an object, is 400.
pub async fn sign_in_options(
    state: web::Data<AppState>,
    _body: crate::http::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    let options = blocking(&state, passkeys::sign_in_options).await?;
    Ok(no_store(HttpResponse::Ok()).json(options))
}

#[derive(Deserialize)]
pub struct SignInBody {
    #[serde(flatten)]
    assertion: Assertion,
    #[serde(default)]
    remember_me: bool,
}

pub async fn sign_in(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<SignInBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let issued = blocking(&state, move |state, conn| {
        passkeys::sign_in(state, conn, &client, &body.assertion, body.remember_me)
    })
    .await?;
    let mut resp = HttpResponse::NoContent();
    with_session_cookies(&mut resp, &state.settings, issued);
    Ok(resp.finish())
}

#[derive(Deserialize)]
pub struct SignUpOptionsBody {
    email: String,
    name: String,
    #[serde(default)]
    invite_code: Option<String>,
    // Checked by the captcha gate before the handler runs.
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
}

pub async fn sign_up_options(
    state: web::Data<AppState>,
    body: crate::http::Json<SignUpOptionsBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = PasskeySignUp {
        email: Email::parse(&body.email)?,
        name: DisplayName::parse(&body.name)?,
        invite_code: body.invite_code,
    };
    let options = blocking(&state, move |state, conn| {
        passkeys::sign_up_options(state, conn, input)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(options))
}

#[derive(Serialize)]
struct SignedUp {
    #[serde(flatten)]
    user: users::UserView,
    recovery_codes: Vec<String>,
}

pub async fn sign_up(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<Attestation>,
) -> Result<HttpResponse, ApiError> {
    let attestation = body.into_inner();
    // The account has no password: its hash is of random bytes nobody knows, so every password
    // path treats it like any other account and none can match.
    let hash = crate::service::run::hashing(&state, |state| {
        crate::service::password::unusable()
            .and_then(|p| state.hasher.hash(&p).map_err(ApiError::Internal))
    })
    .await??;
    let (view, signed_up) = blocking(&state, move |state, conn| {
        let signed_up = passkeys::sign_up(state, conn, &client, &attestation, &hash)?;
        let view = users::view(state, conn, signed_up.user.clone())?;
        Ok((view, signed_up))
    })
    .await?;
    notify::wake(&state);
    let mut resp = no_store(HttpResponse::Created());
    if let Some(issued) = signed_up.issued {
        with_session_cookies(&mut resp, &state.settings, issued);
    }
    Ok(resp.json(SignedUp {
        user: view,
        recovery_codes: signed_up.recovery_codes,
    }))
}
