//! The one error type of the service layer and below: each variant is a failure a caller can
//! act on, with a stable code (`ApiError::code`). It knows nothing of HTTP; `crate::http::error`
//! maps it to a status and the `{"error": "<code>", "message": "..."}` envelope, so a service
//! can be called from the CLI or a test as it is from a route.

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input that does not parse or break a rule; the code names the rule.
    #[error("{message}")]
    Validation { code: &'static str, message: String },
    #[error("wrong email or password")]
    InvalidCredentials,
    /// No usable credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// A token was presented but is not acceptable (RFC 6750 `invalid_token`).
    #[error("the access token is invalid or expired")]
    InvalidToken,
    /// The access token verifies, but its session was revoked, has expired or no longer exists.
    #[error("this session has ended; sign in again")]
    SessionNotFound,
    #[error("the refresh token is invalid or the session has ended")]
    InvalidRefreshToken,
    #[error("refresh token reuse detected: {0}; the session has been revoked")]
    RefreshTokenReused(&'static str),
    #[error("cross-site request refused")]
    CsrfRejected,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("not found")]
    NotFound,
    /// No captcha token, or the provider refused it (the reason is logged, never returned).
    #[error("captcha verification failed; solve the challenge again")]
    CaptchaInvalid,
    /// The captcha provider could not give an answer in time (fail closed).
    #[error("captcha verification is unavailable, retry shortly")]
    CaptchaUnavailable,
    /// A one-time code that is wrong, expired, used, voided or out of attempts: one answer for
    /// all, so a guesser learns nothing.
    #[error("the code is invalid or has expired; request a new one")]
    InvalidCode,
    /// After a correct first factor, a TOTP or recovery code that is wrong, replayed or spent.
    /// Nothing is mailed to request again, so the message says only that.
    #[error("the code is wrong or already used")]
    SecondFactorRejected,
    #[error("the email address has not been verified yet")]
    EmailNotVerified,
    /// The first factor was right; the account also needs its second factor (a TOTP or
    /// recovery `code`, or a passkey). `None` where the caller has nothing more to offer.
    #[error("this account requires a second factor: send a code from the authenticator app, a recovery code, or use a passkey")]
    MfaRequired(Option<Box<MfaChallenge>>),
    /// A `{provider}` that `AUTHGATE_PROVIDERS` does not name.
    #[error("no identity provider of that name is configured")]
    UnknownProvider,
    /// `oauth/continue/` in a browser where no provider sign-in waits for its second factor
    /// (none began here, it expired, or it finished).
    #[error("no provider sign-in awaits a second factor in this browser")]
    NoPendingSignIn,
    /// Passkeys cannot work with this configuration (the RP ID is not a domain name).
    #[error("passkeys are not available on this service")]
    PasskeysDisabled,
    /// A passkey assertion that does not verify: unknown credential, bad signature, a cloned
    /// authenticator's counter.
    #[error("{message}")]
    PasskeyRejected {
        code: &'static str,
        message: &'static str,
    },
    /// A state conflict other than a taken email (a phone number in use, TOTP already on).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("too many requests; retry after {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("the {0} dependency is unavailable, retry shortly")]
    Unavailable(&'static str),
    /// The database cannot take writes (disk full, read-only file system); reads may still work.
    #[error("the database storage is {0}; nothing was changed")]
    Storage(&'static str),
    /// Proxy mode: the route needs a multi-factor (`aal2`) sign-in.
    #[error("this page requires a sign-in with a second factor")]
    Aal2Required,
    /// Proxy mode: the upstream could not be reached or broke the exchange.
    #[error("the upstream application is unavailable")]
    UpstreamUnavailable,
    /// Proxy mode: the upstream did not answer within `AUTHGATE_UPSTREAM_TIMEOUT`.
    #[error("the upstream application did not answer in time")]
    UpstreamTimeout,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn validation(code: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { code, .. } => code,
            Self::InvalidCredentials => "invalid_credentials",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidToken => "invalid_token",
            Self::SessionNotFound => "session_not_found",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused(_) => "refresh_token_reused",
            Self::CsrfRejected => "csrf_rejected",
            Self::Forbidden(_) => "forbidden",
            Self::EmailTaken => "email_taken",
            Self::NotFound => "not_found",
            Self::CaptchaInvalid => "captcha_invalid",
            Self::CaptchaUnavailable => "captcha_unavailable",
            Self::InvalidCode | Self::SecondFactorRejected => "invalid_code",
            Self::EmailNotVerified => "email_not_verified",
            Self::MfaRequired(_) => "mfa_required",
            Self::PasskeyRejected { code, .. } => code,
            Self::PasskeysDisabled => "passkeys_disabled",
            Self::UnknownProvider => "unknown_provider",
            Self::NoPendingSignIn => "invalid_state",
            Self::Conflict { code, .. } => code,
            Self::WrongPassword => "invalid_old_password",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Unavailable(_) => "service_unavailable",
            Self::Storage(_) => "storage_unavailable",
            Self::Aal2Required => "mfa_required",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Internal(_) => "internal_error",
        }
    }
}

/// What a sign-in that needs a second factor offers: the factors the account has (`totp`,
/// `passkey`, `recovery_code`) and, with passkeys, the request options to answer with one.
#[derive(Debug, serde::Serialize)]
pub struct MfaChallenge {
    pub factors: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passkey: Option<serde_json::Value>,
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::EmailTaken,
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                Self::Unavailable("database")
            }
            Error::DatabaseError(_, info) if storage_problem(info.message()).is_some() => {
                Self::Storage(storage_problem(info.message()).unwrap_or("unavailable"))
            }
            Error::DatabaseError(_, info) if is_transient(info.message()) => {
                Self::Unavailable("database")
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// SQLite reports a full disk or a read-only file system only through its message.
fn storage_problem(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    if m.contains("database or disk is full") || m.contains("no space left") {
        Some("full")
    } else if m.contains("readonly database") || m.contains("read-only file system") {
        Some("read-only")
    } else if m.contains("disk i/o error") {
        Some("failing (I/O error)")
    } else {
        None
    }
}

/// SQLite's lock timeout and PostgreSQL's connection loss surface as generic errors with these texts.
fn is_transient(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("database is locked")
        || m.contains("server closed the connection")
        || m.contains("connection refused")
        || m.contains("terminating connection")
        || m.contains("no connection to the server")
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}
