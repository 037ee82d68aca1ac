//! Phone numbers: binding one to an account with an SMS code, and signing in by SMS.
//! Codes: 6 digits, 5 minutes, 5 attempts, single use; per-number send cooldown shared with mail.

use std::time::Duration;

use crate::db::{self, users::UserRow, DbConnection};
use crate::domain::ClientInfo;
use crate::domain::{OneTimeCode, Phone};
use crate::error::ApiError;
use crate::notify;
use crate::notify::security::{self, Change};
use crate::service::accounts;
use crate::service::audit::{self, Event};
use crate::service::codes::{self, Checked, Purpose};
use crate::service::mfa::{self, Reauth};
use crate::service::sessions::Issued;
use crate::service::users;
use crate::state::AppState;

pub const SMS_CODE_TTL: Duration = Duration::from_secs(5 * 60);

/// A user id that cannot exist: unknown numbers run the same queries against it.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

fn message(state: &AppState, code: &OneTimeCode, what: &str) -> String {
    format!(
        "{} {what} code: {}. It expires in 5 minutes. Do not share it.",
        state.settings.product_name,
        code.expose()
    )
}

fn phone_taken() -> ApiError {
    ApiError::Conflict {
        code: "phone_taken",
        message: "this phone number belongs to another account".into(),
    }
}

/// Sends a binding code to a new number for the signed-in user, after full re-authentication.
/// 409 when another account has the number; 429 while the number is cooling down.
pub fn request_binding(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    phone: &Phone,
    proof: &Reauth,
) -> Result<(), ApiError> {
    let user = mfa::reauthenticate(state, conn, client, user_id, proof)?;
    if db::users::find_by_phone(conn, phone.as_str())?.is_some_and(|o| o.id != user.id) {
        return Err(phone_taken());
    }
    if let Some(retry_after) =
        notify::cooldown_left(state, conn, phone.as_str(), Purpose::PhoneBinding.as_str())?
    {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    db::write_transaction(conn, |conn| {
        let code = codes::issue(
            conn,
            &state.code_key,
            &user.id,
            Purpose::PhoneBinding,
            Some(phone.as_str()),
            SMS_CODE_TTL,
        )?;
        notify::queue_sms(
            state,
            conn,
            phone.as_str(),
            &message(state, &code, "verification"),
            Purpose::PhoneBinding.as_str(),
        )
        .map(drop)
    })?;
    Ok(())
}

/// Binds the number the code was sent to. 400 `invalid_code` for a wrong, expired or used code,
/// or one sent to another number.
pub fn bind(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    phone: &Phone,
    code: &OneTimeCode,
) -> Result<UserRow, ApiError> {
    let bound = db::write_transaction(conn, |conn| -> Result<Option<UserRow>, ApiError> {
        let user = users::active(conn, user_id)?;
        let Checked::Matched(row) = codes::check(
            conn,
            &state.code_key,
            &user.id,
            &[Purpose::PhoneBinding],
            code,
        )?
        else {
            return Ok(None);
        };
        if row.target.as_deref() != Some(phone.as_str()) {
            return Ok(None);
        }
        if db::users::find_by_phone(conn, phone.as_str())?.is_some_and(|o| o.id != user.id) {
            return Err(phone_taken());
        }
        db::users::set_phone(conn, &user.id, Some(phone.as_str()), db::now())?;
        security::queue_change(state, conn, &user, client, Change::PhoneBound)?;
        audit::record(
            conn,
            client,
            Event {
                kind: "phone_bound",
                outcome: "success",
                user_id: Some(&user.id),
                session_id: None,
                method: Some("sms"),
            },
        );
        Ok(db::users::find_by_id(conn, &user.id)?)
    })?;
    bound.ok_or(ApiError::InvalidCode)
}

/// Removes the number after full re-authentication (password, and a TOTP code when TOTP is on);
/// the owner is notified when there was a number.
pub fn unbind(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    proof: Reauth,
) -> Result<(), ApiError> {
    let user = mfa::reauthenticate(state, conn, client, user_id, &proof)?;
    db::write_transaction(conn, |conn| -> Result<(), ApiError> {
        let now = db::now();
        db::users::set_phone(conn, &user.id, None, now)?;
        db::codes::void_all(conn, &user.id, &[Purpose::SmsSignIn.as_str()], now)?;
        if user.phone.is_some() {
            security::queue_change(state, conn, &user, client, Change::PhoneRemoved)?;
        }
        Ok(())
    })
}

/// `sms/code/`: a sign-in code to a bound number. Unknown numbers, disabled accounts and numbers
/// cooling down get no SMS and the same answer. Returns whether a code was queued.
pub fn request_sign_in(
    state: &AppState,
    conn: &mut DbConnection,
    phone: &Phone,
) -> Result<bool, ApiError> {
    let user = db::users::find_by_phone(conn, phone.as_str())?.filter(|u| !u.disabled);
    let cooling =
        notify::cooldown_left(state, conn, phone.as_str(), Purpose::SmsSignIn.as_str())?.is_some();
    let Some(user) = user.filter(|_| !cooling) else {
        // The same shape of work as a known number: a write transaction.
        db::write_transaction(conn, |conn| {
            db::codes::void_all(conn, NOBODY, &[Purpose::SmsSignIn.as_str()], db::now())
        })?;
        return Ok(false);
    };
    db::write_transaction(conn, |conn| {
        let code = codes::issue(
            conn,
            &state.code_key,
            &user.id,
            Purpose::SmsSignIn,
            None,
            SMS_CODE_TTL,
        )?;
        notify::queue_sms(
            state,
            conn,
            phone.as_str(),
            &message(state, &code, "sign-in"),
            Purpose::SmsSignIn.as_str(),
        )
        .map(drop)
    })?;
    Ok(true)
}

pub struct SmsSignIn {
    pub phone: Phone,
    pub code: OneTimeCode,
    /// The second factor of an account that has one: a TOTP or recovery code, or a passkey.
    pub code_totp: Option<String>,
    pub passkey: Option<crate::service::passkeys::Assertion>,
    pub remember_me: bool,
}

/// `sms/signin/`: opens a session for the account with this number. 400 `invalid_code` for a
/// wrong code or an unknown number; for an account with a second factor (TOTP or passkeys),
/// 401 `mfa_required` without `code_totp` or `passkey` (the SMS code stays usable), and 401
/// `invalid_code` (or a passkey refusal) with a wrong one, which spends the SMS code: each guess
/// at the second factor costs a fresh SMS.
pub fn sign_in(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: SmsSignIn,
) -> Result<Issued, ApiError> {
    let result = check_and_open(state, conn, client, input);
    accounts::count_sign_in(state, &result);
    result
}

fn check_and_open(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: SmsSignIn,
) -> Result<Issued, ApiError> {
    let user = db::users::find_by_phone(conn, input.phone.as_str())?;
    let user_id = user.as_ref().map_or(NOBODY, |u| u.id.as_str()).to_owned();
    let needs_second = match &user {
        Some(u) => crate::service::passkeys::has_second_factor(conn, u)?,
        None => false,
    };
    let has_second = input.code_totp.is_some() || input.passkey.is_some();
    let matched = db::write_transaction(conn, |conn| -> Result<bool, ApiError> {
        match codes::check(
            conn,
            &state.code_key,
            &user_id,
            &[Purpose::SmsSignIn],
            &input.code,
        )? {
            // Rolled back: the SMS code stays usable for the retry with `code_totp`.
            Checked::Matched(_) if needs_second && !has_second => Err(ApiError::MfaRequired(None)),
            Checked::Matched(_) => Ok(true),
            Checked::Refused => Ok(false),
        }
    });
    let user = match (matched, user) {
        (Ok(true), Some(u)) => u,
        (Err(ApiError::MfaRequired(_)), Some(u)) => {
            audit::record(
                conn,
                client,
                Event {
                    kind: "signin",
                    outcome: "mfa_required",
                    user_id: Some(&u.id),
                    session_id: None,
                    method: Some("sms"),
                },
            );
            let challenge = crate::service::passkeys::mfa_challenge(state, conn, &u)?;
            return Err(ApiError::MfaRequired(Some(Box::new(challenge))));
        }
        (Err(e), _) => return Err(e),
        (Ok(_), user) => {
            audit::record(
                conn,
                client,
                Event {
                    kind: "signin",
                    outcome: "bad_code",
                    user_id: user.as_ref().map(|u| u.id.as_str()),
                    session_id: None,
                    method: Some("sms"),
                },
            );
            return Err(ApiError::InvalidCode);
        }
    };
    if user.disabled {
        return Err(ApiError::Forbidden("this account is disabled"));
    }
    let factor = accounts::second_factor(
        state,
        conn,
        client,
        &user,
        accounts::SecondProof {
            code: input.code_totp.as_deref(),
            passkey: input.passkey.as_ref(),
        },
        "sms",
    )?;
    let mut issued = accounts::open_session(
        state,
        conn,
        client,
        &user,
        input.remember_me,
        &factor.amr,
        factor.aal,
        "sms",
    )?;
    issued.recovery_codes_left = factor.recovery_codes_left;
    Ok(issued)
}
