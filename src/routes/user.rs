//! `GET user/`, `PATCH user/`, `DELETE user/` and `user/export/`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::{Avatar, DisplayName, Email, Invalid};
use crate::error::ApiError;
use crate::http::{Authenticated, ClientInfo};
use crate::notify;
use crate::routes::blocking;
use crate::routes::mfa::reauthenticated;
use crate::service::profile::{self, Patch};
use crate::service::users;
use crate::state::AppState;

pub async fn get(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let user_id = auth.claims.sub;
    let view = blocking(&state, move |state, conn| {
        users::current(state, conn, &user_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
pub struct PatchBody {
    #[serde(default)]
    name: Option<String>,
    /// Absent: unchanged; `null`: cleared; a string: an https URL.
    #[serde(default, deserialize_with = "present")]
    avatar: Option<Value>,
    #[serde(default)]
    email: Option<String>,
    /// Re-authentication, required with `email`.
    #[serde(flatten)]
    reauth: crate::routes::mfa::ReauthBody,
}

/// A field that is present (even as `null`) becomes `Some`; serde maps `null` to `None` otherwise.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

pub async fn patch(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let patch = Patch {
        name: body.name.as_deref().map(DisplayName::parse).transpose()?,
        avatar: match body.avatar {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(Avatar::parse(&s)?)),
            Some(_) => {
                return Err(
                    Invalid::new("invalid_avatar", "avatar must be a string or null").into(),
                )
            }
        },
        email: body.email.as_deref().map(Email::parse).transpose()?,
    };
    let proof = body.reauth.into_proof()?;
    if patch.email.is_some() {
        state.mail_ip_limit.check(client.ip)?;
    }
    let user_id = auth.claims.sub;
    // An email change re-authenticates with the password: bcrypt, on the hashing threads first.
    let proof = if patch.email.is_some() {
        crate::service::mfa::check_reauth(&state, &user_id, proof).await?
    } else {
        proof
    };
    let view = blocking(&state, move |state, conn| {
        profile::update(state, conn, &client, &user_id, patch, &proof)
    })
    .await?;
    notify::wake(&state);
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes the caller's account after full re-authentication; every session ends with it and
/// both cookies are cleared.
pub async fn delete(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<crate::routes::mfa::ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    reauthenticated(
        &state,
        auth,
        client,
        body.into_inner(),
        |s, c, client, id, proof| {
            crate::service::erasure::delete_own_account(s, c, client, id, &proof)
        },
    )
    .await?;
    notify::wake(&state);
    let mut resp = HttpResponse::NoContent();
    for c in crate::http::cookies::cleared(&state.settings) {
        resp.cookie(c);
    }
    Ok(resp.finish())
}

/// Everything held about the caller, after full re-authentication.
pub async fn export(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<crate::routes::mfa::ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    let export = reauthenticated(
        &state,
        auth,
        client,
        body.into_inner(),
        |s, c, client, id, proof| crate::service::export::export_own_data(s, c, client, id, &proof),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            r#"attachment; filename="authgate-export.json""#,
        ))
        .json(export))
}
