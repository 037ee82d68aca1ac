//! Errors at the HTTP edge: every failure leaves the service as
//! `{"error": "<code>", "message": "..."}` with its status; 500s are opaque to the client and the
//! whole cause chain goes to the log. The one place an `ApiError` becomes a status code.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::ApiError;

/// The wire form of every error.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: String,
    /// `mfa_required`'s factors and passkey options.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<&'a crate::error::MfaChallenge>,
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation { .. }
            | Self::CaptchaInvalid
            | Self::InvalidCode
            | Self::WrongPassword => StatusCode::BAD_REQUEST,
            Self::EmailNotVerified | Self::Aal2Required => StatusCode::FORBIDDEN,
            Self::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidCredentials
            | Self::Unauthenticated
            | Self::InvalidToken
            | Self::SessionNotFound
            | Self::InvalidRefreshToken
            | Self::MfaRequired(_)
            | Self::PasskeyRejected { .. }
            | Self::SecondFactorRejected
            | Self::NoPendingSignIn
            | Self::RefreshTokenReused(_) => StatusCode::UNAUTHORIZED,
            Self::CsrfRejected | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::EmailTaken | Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::NotFound | Self::PasskeysDisabled | Self::UnknownProvider => {
                StatusCode::NOT_FOUND
            }
            Self::Unavailable(_) | Self::Storage(_) | Self::CaptchaUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Internal(e) => tracing::error!(error = ?e, "request failed"),
            Self::Unavailable(dep) => tracing::warn!(dependency = dep, "dependency unavailable"),
            Self::Storage(what) => {
                tracing::error!(storage = what, "database storage cannot take writes")
            }
            _ => {}
        }
        let mut resp = HttpResponse::build(status);
        match self {
            // A token was presented and cannot be used (RFC 6750).
            Self::InvalidToken | Self::SessionNotFound => {
                resp.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                ));
            }
            Self::Unavailable(_) | Self::Storage(_) | Self::CaptchaUnavailable => {
                resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            Self::TooManyRequests { retry_after } => {
                resp.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
            }
            // RFC 9110: every 401 names a scheme.
            _ if status == StatusCode::UNAUTHORIZED => {
                resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            _ => {}
        }
        resp.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        let mfa = match self {
            Self::MfaRequired(challenge) => challenge.as_deref(),
            _ => None,
        };
        resp.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
            mfa,
        })
    }
}

/// A ready-made envelope response for the places that are not handlers (extractor errors,
/// default service, middleware).
pub fn envelope(status: StatusCode, code: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(ErrorBody {
            error: code,
            message: message.into(),
            mfa: None,
        })
}
