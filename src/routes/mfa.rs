//! `mfa/totp/` (enroll), `mfa/totp/confirm/`, `DELETE mfa/totp/`, `mfa/recovery-codes/`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::domain::Password;
use crate::error::ApiError;
use crate::http::{Authenticated, ClientInfo};
use crate::notify;
use crate::routes::{blocking, no_content};
use crate::service::mfa::{self, Confirmation, Reauth};
use crate::state::AppState;

#[derive(Serialize)]
struct EnrollmentBody {
    secret: String,
    otpauth_url: String,
}

pub async fn enroll(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    let e = reauthenticated(
        &state,
        auth,
        client,
        body.into_inner(),
        |s, c, client, id, proof| mfa::begin(s, c, client, id, &proof),
    )
    .await?;
    Ok(HttpResponse::Ok().json(EnrollmentBody {
        secret: e.secret,
        otpauth_url: e.otpauth_url,
    }))
}

#[derive(Deserialize)]
pub struct ConfirmBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    codes: Option<Vec<String>>,
}

pub async fn confirm(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
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
    let recovery_codes = blocking(&state, move |state, conn| {
        mfa::confirm(state, conn, &client, &user_id, codes)
    })
    .await?;
    notify::wake(&state);
    Ok(recovery_codes_answer(recovery_codes))
}

/// A set of recovery codes, shown this once: never cached.
fn recovery_codes_answer(recovery_codes: Vec<String>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        ))
        .json(RecoveryCodesBody { recovery_codes })
}

#[derive(Serialize)]
struct RecoveryCodesBody {
    recovery_codes: Vec<String>,
}

/// A new set of recovery codes, the old one void; full re-authentication.
pub async fn replace_recovery_codes(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    let recovery_codes = reauthenticated(
        &state,
        auth,
        client,
        body.into_inner(),
        |s, c, client, id, proof| mfa::replace_recovery_codes(s, c, client, id, &proof),
    )
    .await?;
    notify::wake(&state);
    Ok(recovery_codes_answer(recovery_codes))
}

fn confirm_shape() -> ApiError {
    ApiError::validation(
        "invalid_request",
        "send either `code` or `codes` with two consecutive codes",
    )
}

/// Full re-authentication for changes to how the account signs in (`service::mfa::Reauth`):
/// the current `password`, plus a TOTP `code` when TOTP is on. Other endpoints flatten it into
/// their bodies.
#[derive(Default, Deserialize)]
pub struct ReauthBody {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
    /// Instead of the password (and code): an assertion of one of the user's passkeys, answering
    /// `signin/passkey/options/`, with user verification.
    #[serde(default)]
    passkey: Option<crate::service::passkeys::Assertion>,
}

/// Runs `change` on the blocking pool once the body's full re-authentication had its password
/// checked on the hashing threads (the service's `reauthenticate` then compares the verdict):
/// the shape of every endpoint that changes how the account signs in, recovers or ends.
pub async fn reauthenticated<T, F>(
    state: &web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: ReauthBody,
    change: F,
) -> Result<T, ApiError>
where
    F: FnOnce(
            &AppState,
            &mut crate::db::DbConnection,
            &ClientInfo,
            &str,
            Reauth,
        ) -> Result<T, ApiError>
        + Send
        + 'static,
    T: Send + 'static,
{
    let proof = body.into_proof()?;
    let user_id = auth.claims.sub;
    let proof = crate::service::mfa::check_reauth(state, &user_id, proof).await?;
    blocking(state, move |state, conn| {
        change(state, conn, &client, &user_id, proof)
    })
    .await
}

impl ReauthBody {
    pub fn into_proof(self) -> Result<Reauth, ApiError> {
        Ok(Reauth {
            password: self.password.map(Password::parse_for_sign_in).transpose()?,
            code: self.code,
            passkey: self.passkey,
            verdict: None,
        })
    }
}

pub async fn disable(
    state: web::Data<AppState>,
    auth: Authenticated,
    client: ClientInfo,
    body: crate::http::Json<ReauthBody>,
) -> Result<HttpResponse, ApiError> {
    reauthenticated(&state, auth, client, body.into_inner(), mfa::disable).await?;
    notify::wake(&state);
    Ok(no_content())
}
