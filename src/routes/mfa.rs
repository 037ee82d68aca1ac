//! `mfa/totp/` (enroll), `mfa/totp/confirm/`, `DELETE mfa/totp/`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::Password;
use crate::error::ApiError;
use crate::http::Authenticated;
use crate::routes::{blocking, no_content};
use crate::service::mfa::{self, Confirmation, Reauth};
use crate::startup::AppState;

#[derive(Debug, Serialize)]
struct EnrollmentBody {
    secret: String,
    otpauth_url: String,
}

pub async fn enroll(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let user_id = auth.claims.sub;
    let e = blocking(&state, move |state, conn| mfa::begin(state, conn, &user_id)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(EnrollmentBody {
            secret: e.secret,
            otpauth_url: e.otpauth_url,
        }))
}

#[derive(Debug, Deserialize)]
pub struct ConfirmBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    codes: Option<Vec<String>>,
}

pub async fn confirm(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: crate::http::Json<ConfirmBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let codes = match (body.code, body.codes) {
        (Some(c), None) => Confirmation::One(c),
        (None, Some(cs)) if cs.len() == 2 => {
            let mut cs = cs.into_iter();
            match (cs.next(), cs.next()) {
                (Some(a), Some(b)) => Confirmation::Two(a, b),
                _ => return Err(confirm_shape()),
            }
        }
        _ => return Err(confirm_shape()),
    };
    let user_id = auth.claims.sub;
    blocking(&state, move |state, conn| {
        mfa::confirm(state, conn, &user_id, codes)
    })
    .await?;
    Ok(no_content())
}

fn confirm_shape() -> ApiError {
    ApiError::validation(
        "invalid_request",
        "send either `code` or `codes` with two consecutive codes",
    )
}

/// Re-authentication for sensitive changes: `password`, or a TOTP `code`.
#[derive(Debug, Deserialize)]
pub struct ReauthBody {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

impl ReauthBody {
    pub fn into_proof(self) -> Result<Reauth, ApiError> {
        match (self.password, self.code) {
            (Some(p), None) => Ok(Reauth::Password(Password::parse_for_sign_in(p)?)),
            (None, Some(c)) => Ok(Reauth::Code(c)),
            _ => Err(ApiError::validation(
                "invalid_request",
                "send either `password` or a TOTP `code`",
            )),
        }
    }
}

pub async fn disable(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: crate::http::Json<ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    let proof = body.into_inner().into_proof()?;
    let user_id = auth.claims.sub;
    blocking(&state, move |state, conn| {
        mfa::disable(state, conn, &user_id, proof)
    })
    .await?;
    Ok(no_content())
}
