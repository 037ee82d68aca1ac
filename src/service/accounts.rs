//! Sign-up and sign-in.

use crate::db::{self, users::NewUser, DbConnection};
use crate::domain::{DisplayName, Email, Password};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::service::audit::{self, Event};
use crate::service::lockout;
use crate::service::sessions::{self, Issued, NewSessionFor};
use crate::startup::AppState;

/// A contact handle from seed 000's registration form.
#[derive(Debug, Clone)]
pub struct Contact {
    pub kind: &'static str,
    pub value: String,
}

pub const CONTACT_TYPES: [&str; 4] = ["wechat", "qq", "facebook", "telegram"];

impl Contact {
    pub fn parse(kind: &str, value: &str) -> Result<Self, crate::domain::Invalid> {
        let kind = CONTACT_TYPES
            .into_iter()
            .find(|k| *k == kind)
            .ok_or_else(|| {
                crate::domain::Invalid::new(
                    "invalid_contact",
                    "contact type must be one of wechat, qq, facebook, telegram",
                )
            })?;
        let value = value.trim();
        if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
            return Err(crate::domain::Invalid::new(
                "invalid_contact",
                "contact value must be 1 to 100 characters",
            ));
        }
        Ok(Self {
            kind,
            value: value.to_owned(),
        })
    }
}

pub struct SignUp {
    pub email: Email,
    pub password: Password,
    pub name: DisplayName,
    pub contact: Option<Contact>,
    /// Required when `AUTHGATE_INVITE_ONLY=true`; ignored otherwise.
    pub invite_code: Option<String>,
}

/// Creates the account and signs it in. A taken email is 409 (DESIGN §5).
pub fn sign_up(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: SignUp,
) -> Result<(db::users::UserRow, Issued), ApiError> {
    let hash = state
        .hasher
        .hash(&input.password)
        .map_err(ApiError::Internal)?;
    let now = db::now();
    let id = uuid::Uuid::new_v4().to_string();
    let result = db::write_transaction(conn, |conn| {
        if state.settings.invite_only {
            // Counted in this transaction: a later failure (email taken) gives the use back.
            let code = input.invite_code.as_deref().unwrap_or("");
            if !crate::service::invites::redeem(conn, code, now)? {
                return Err(ApiError::validation(
                    "invalid_invite_code",
                    "a valid invitation code is required to sign up",
                ));
            }
        }
        db::users::insert(
            conn,
            &NewUser {
                id: &id,
                email: input.email.as_str(),
                email_verified: false,
                password_hash: &hash,
                name: input.name.as_str(),
                contact_type: input.contact.as_ref().map(|c| c.kind),
                contact_value: input.contact.as_ref().map(|c| c.value.as_str()),
                disabled: false,
                created_at: now,
                updated_at: now,
            },
        )?;
        db::users::record_sign_in(conn, &id, now)?;
        let user = db::users::find_by_id(conn, &id)?.ok_or(ApiError::NotFound)?;
        crate::service::email::queue_verification(state, conn, &user)?;
        let issued = sessions::create(
            state,
            conn,
            client,
            NewSessionFor {
                user: &user,
                remember_me: false,
                amr: &["pwd"],
                aal: "aal1",
            },
        )?;
        audit::record(
            conn,
            client,
            Event {
                kind: "signup",
                outcome: "success",
                user_id: Some(&id),
                session_id: Some(&issued.session_id),
                method: Some("password"),
            },
        );
        Ok((user, issued))
    });
    let outcome = match &result {
        Ok(_) => "success",
        Err(ApiError::EmailTaken) => "email_taken",
        Err(ApiError::Validation {
            code: "invalid_invite_code",
            ..
        }) => "invalid_invite_code",
        Err(_) => "error",
    };
    state.metrics.signups.with_label_values(&[outcome]).inc();
    result
}

pub struct SignIn {
    pub email: Result<Email, crate::domain::Invalid>,
    pub password: Password,
    pub remember_me: bool,
    /// The TOTP code, for accounts with TOTP enabled.
    pub code: Option<String>,
}

/// Checks the password and opens a session, counting the outcome. Unknown accounts are verified
/// against a dummy hash, so they answer as slowly and as identically as a wrong password.
pub fn sign_in(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: SignIn,
) -> Result<Issued, ApiError> {
    let result = check_and_open(state, conn, client, input);
    state
        .metrics
        .signins
        .with_label_values(&[sign_in_outcome(&result)])
        .inc();
    result
}

/// The `outcome` label of `authgate_signin_total`.
pub fn sign_in_outcome(result: &Result<Issued, ApiError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(ApiError::MfaRequired) => "mfa_required",
        Err(ApiError::InvalidCode) => "invalid_code",
        Err(ApiError::TooManyRequests { .. }) => "locked",
        Err(ApiError::InvalidCredentials) => "invalid_credentials",
        Err(ApiError::Forbidden(_)) => "forbidden",
        Err(ApiError::Unavailable(_)) => "unavailable",
        Err(_) => "error",
    }
}

fn check_and_open(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: SignIn,
) -> Result<Issued, ApiError> {
    let login = input.email.as_ref().map_or("", |e| e.as_str());
    let key = lockout::LoginKey::new(state, login);
    lockout::ensure_open(state, conn, &key)?;
    let user = match &input.email {
        Ok(email) => db::users::find_by_email(conn, email.as_str())?,
        Err(_) => None,
    };
    let Some(user) = user else {
        state.hasher.verify_dummy(&input.password);
        lockout::failed(state, conn, &key, None)?;
        audit::record(
            conn,
            client,
            Event {
                kind: "signin",
                outcome: "unknown_account",
                user_id: None,
                session_id: None,
                method: Some("password"),
            },
        );
        return Err(ApiError::InvalidCredentials);
    };
    if !state.hasher.verify(&input.password, &user.password_hash) {
        lockout::failed(state, conn, &key, Some((&user, client)))?;
        audit::record(
            conn,
            client,
            Event {
                kind: "signin",
                outcome: "bad_password",
                user_id: Some(&user.id),
                session_id: None,
                method: Some("password"),
            },
        );
        return Err(ApiError::InvalidCredentials);
    }
    // The password is right: guessing it is over, so the count starts again.
    lockout::clear(state, conn, &key)?;
    if user.disabled {
        audit::record(
            conn,
            client,
            Event {
                kind: "signin",
                outcome: "disabled",
                user_id: Some(&user.id),
                session_id: None,
                method: Some("password"),
            },
        );
        return Err(ApiError::Forbidden("this account is disabled"));
    }
    // Only after the password check: without the password nobody learns the address is unverified.
    if state.settings.require_email_verification && !user.email_verified {
        audit::record(
            conn,
            client,
            Event {
                kind: "signin",
                outcome: "email_not_verified",
                user_id: Some(&user.id),
                session_id: None,
                method: Some("password"),
            },
        );
        return Err(ApiError::EmailNotVerified);
    }
    let (amr, aal) = second_factor(
        state,
        conn,
        client,
        &user,
        input.code.as_deref(),
        "password",
    )?;
    if state.hasher.needs_rehash(&user.password_hash) {
        match state.hasher.hash(&input.password) {
            Ok(h) => db::users::set_password_hash(conn, &user.id, &h)?,
            Err(e) => tracing::warn!(error = %e, "password rehash failed"),
        }
    }
    open_session(
        state,
        conn,
        client,
        &user,
        input.remember_me,
        &amr,
        aal,
        "password",
    )
}

/// The end of every successful sign-in: stamps the user, opens the session, audits it.
#[allow(clippy::too_many_arguments)]
pub fn open_session(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user: &db::users::UserRow,
    remember_me: bool,
    amr: &[&'static str],
    aal: &'static str,
    method: &'static str,
) -> Result<Issued, ApiError> {
    let now = db::now();
    let issued = db::write_transaction(conn, |conn| {
        db::users::record_sign_in(conn, &user.id, now)?;
        sessions::create(
            state,
            conn,
            client,
            NewSessionFor {
                user,
                remember_me,
                amr,
                aal,
            },
        )
    })?;
    audit::record(
        conn,
        client,
        Event {
            kind: "signin",
            outcome: "success",
            user_id: Some(&user.id),
            session_id: Some(&issued.session_id),
            method: Some(method),
        },
    );
    Ok(issued)
}

/// The TOTP step of a sign-in, once the first factor passed: nothing for accounts without TOTP;
/// 401 `mfa_required` without a code; 401 `invalid_credentials` for a wrong or replayed code
/// (counted toward the TOTP lock); 429 while locked. Returns the session's `amr` and `aal`.
pub fn second_factor(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user: &db::users::UserRow,
    code: Option<&str>,
    method: &'static str,
) -> Result<(Vec<&'static str>, &'static str), ApiError> {
    let first: &'static str = if method == "sms" { "sms" } else { "pwd" };
    if user.totp_secret.is_none() {
        return Ok((vec![first], "aal1"));
    }
    let event = |conn: &mut DbConnection, outcome: &'static str| {
        audit::record(
            conn,
            client,
            Event {
                kind: "signin",
                outcome,
                user_id: Some(&user.id),
                session_id: None,
                method: Some(method),
            },
        )
    };
    let Some(code) = code else {
        event(conn, "mfa_required");
        return Err(ApiError::MfaRequired);
    };
    let accepted = db::write_transaction(conn, |conn| {
        crate::service::mfa::check_code(state, conn, client, &user.id, code)
    });
    match accepted {
        Ok(true) => Ok((vec![first, "otp"], "aal2")),
        Ok(false) => {
            event(conn, "bad_otp");
            Err(ApiError::InvalidCredentials)
        }
        Err(e) => {
            event(conn, "otp_locked");
            Err(e)
        }
    }
}
