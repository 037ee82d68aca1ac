//! `token/` and `token/revoke/`: tokens in the body for clients that keep them themselves
//! (mobile, CLI, servers). Same sessions, rotation, grace and reuse rules as the cookies.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::db::DbConnection;
use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::routes::{blocking, refreshing};
use crate::service::accounts::SignIn;
use crate::service::passkeys::{self, Assertion};
use crate::service::sessions::{self, Issued};
use crate::service::users::{self, UserView};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct TokenBody {
    grant_type: String,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    remember_me: bool,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    code: Option<String>,
    /// The second factor as a passkey (password grant), or the passkey grant's assertion.
    #[serde(default)]
    passkey: Option<Assertion>,
    /// The passkey grant's assertion and state (`navigator.credentials.get()`'s answer).
    #[serde(default)]
    credential: Option<serde_json::Value>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    captcha: Option<String>,
}

#[derive(Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    user: UserView,
}

enum Grant {
    Password(SignIn),
    Refresh(String),
    Passkey(Assertion, bool),
}

fn parse(body: TokenBody) -> Result<Grant, ApiError> {
    // Checked whatever the grant: a credential of the wrong shape is refused, not ignored.
    let assertion = match body.credential.filter(|c| !c.is_null()) {
        Some(credential) => Some(
            Assertion::from_parts(credential, body.state.clone().unwrap_or_default())
                .map_err(|m| ApiError::validation("invalid_request", m))?,
        ),
        None => None,
    };
    let missing = |field: &str| {
        ApiError::validation(
            "invalid_request",
            format!("{field} is required for this grant_type"),
        )
    };
    match body.grant_type.as_str() {
        "password" => Ok(Grant::Password(SignIn {
            email: Email::parse(&body.login.ok_or_else(|| missing("login"))?),
            password: Password::parse_for_sign_in(
                body.password.ok_or_else(|| missing("password"))?,
            )?,
            remember_me: body.remember_me,
            code: body.code,
            passkey: body.passkey,
        })),
        "passkey" => Ok(Grant::Passkey(
            assertion.ok_or_else(|| missing("credential"))?,
            body.remember_me,
        )),
        "refresh_token" => Ok(Grant::Refresh(
            body.refresh_token.ok_or_else(|| missing("refresh_token"))?,
        )),
        _ => Err(ApiError::validation(
            "unsupported_grant_type",
            "grant_type must be password, refresh_token or passkey",
        )),
    }
}

/// The answer's `user` beside the tokens just issued.
fn with_user(
    issued: Issued,
    state: &AppState,
    conn: &mut DbConnection,
) -> Result<(Issued, UserView), ApiError> {
    let user = users::current(state, conn, &issued.user_id)?;
    Ok((issued, user))
}

pub async fn token(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let grant = parse(body.into_inner())?;
    let (issued, user) = match grant {
        Grant::Password(input) => {
            let issued = crate::service::accounts::sign_in(&state, client, input).await?;
            blocking(&state, move |state, conn| with_user(issued, state, conn)).await?
        }
        Grant::Passkey(assertion, remember_me) => {
            blocking(&state, move |state, conn| {
                let issued = passkeys::sign_in(state, conn, &client, &assertion, remember_me)?;
                with_user(issued, state, conn)
            })
            .await?
        }
        Grant::Refresh(token) => {
            refreshing(
                &state,
                move |state, conn| {
                    let refreshed = sessions::refresh(state, conn, &client, &token)?;
                    let user = users::current(state, conn, refreshed.user_id())?;
                    Ok((refreshed, user))
                },
                |state, (refreshed, user)| Ok((refreshed.sign(state)?, user)),
            )
            .await?
        }
    };
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    if let Some(left) = issued.recovery_codes_left {
        resp.insert_header((crate::routes::auth::RECOVERY_CODES_LEFT, left));
    }
    Ok(resp.json(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.access_expires_in.as_secs(),
        refresh_token: issued.refresh_token,
        user,
    }))
}

#[derive(Deserialize)]
pub struct RevokeBody {
    token: String,
}

/// RFC 7009 style: ends the session a refresh (or access) token belongs to, and answers 200
/// whatever the token was, so it reveals nothing about it.
pub async fn revoke(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: crate::http::Json<RevokeBody>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().token;
    if token.len() <= 8192 {
        let access_sid = state
            .tokens
            .verify(&state.keys, &token)
            .ok()
            .map(|c| c.sid.clone());
        blocking(&state, move |state, conn| {
            sessions::logout(conn, state, &client, Some(&token), access_sid.as_deref())
        })
        .await?;
    }
    Ok(HttpResponse::Ok().finish())
}
