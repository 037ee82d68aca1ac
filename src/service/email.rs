//! Email verification (sign-up code, resend) and email change (`verify-email/`,
//! `verify-email/resend/`, `PATCH user/` with `email`).

use std::time::Duration;

use crate::db::{self, users::UserRow, DbConnection};
use crate::domain::ClientInfo;
use crate::domain::{Email, OneTimeCode};
use crate::error::ApiError;
use crate::notify::security::{self, Change};
use crate::notify::webhooks;
use crate::notify::{self, templates, Template};
use crate::service::audit::{self, Event};
use crate::service::codes::{self, Checked, Purpose};
use crate::state::AppState;

/// Who a verify/resend request is about: the signed-in caller, or an address typed in the body.
#[derive(Debug, Clone)]
pub enum Subject {
    User(String),
    Email(Email),
}

/// A user id that cannot exist: unknown accounts run the same queries against it, so they cost
/// about as long as known ones and answer alike.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";

fn find(conn: &mut DbConnection, who: &Subject) -> Result<Option<UserRow>, ApiError> {
    Ok(match who {
        Subject::User(id) => db::users::find_by_id(conn, id)?,
        Subject::Email(email) => db::users::find_by_email(conn, email.as_str())?,
    }
    .filter(|u| !u.disabled))
}

/// The link a mail carries: the front-end (or this service's) origin, a path, the address and
/// the code.
pub fn link(state: &AppState, path: &str, email: &str, code: &OneTimeCode) -> String {
    let base = state
        .settings
        .frontend_url
        .as_deref()
        .unwrap_or(&state.settings.public_url);
    format!(
        "{base}/{path}?email={}&code={}",
        templates::url_encode(email),
        code.expose()
    )
}

/// A mail carrying a code: which template, to whom, for which account, and where its link goes.
pub struct CodeMail<'a> {
    pub template: Template,
    pub to: &'a str,
    pub account_email: &'a str,
    pub code: &'a OneTimeCode,
    pub ttl: Duration,
    pub link_path: &'a str,
}

/// Renders and queues a mail carrying a code.
pub fn queue_code_mail(
    state: &AppState,
    conn: &mut DbConnection,
    m: CodeMail<'_>,
) -> diesel::QueryResult<()> {
    let link = link(state, m.link_path, m.account_email, m.code);
    let expires_in = templates::human_duration(m.ttl);
    let mail = state.templates.render(
        m.template,
        &[
            ("product", &state.settings.product_name),
            ("code", m.code.expose()),
            ("link", &link),
            ("email", m.account_email),
            ("new_email", m.to),
            ("expires_in", &expires_in),
        ],
    );
    notify::queue_mail(state, conn, m.to, &mail, purpose_of(m.template).as_str()).map(drop)
}

/// The code purpose a code mail carries, for the per-purpose cooldown.
pub fn purpose_of(template: Template) -> Purpose {
    match template {
        Template::PasswordReset => Purpose::PasswordReset,
        Template::EmailChange => Purpose::EmailChange,
        _ => Purpose::EmailVerification,
    }
}

/// Issues an email verification code for a new account and queues its mail (inside the sign-up
/// transaction).
pub fn queue_verification(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
) -> diesel::QueryResult<()> {
    let ttl = state.settings.email_code_ttl;
    let code = codes::issue(
        conn,
        &state.code_key,
        &user.id,
        Purpose::EmailVerification,
        None,
        ttl,
    )?;
    queue_code_mail(
        state,
        conn,
        CodeMail {
            template: Template::VerifyEmail,
            to: &user.email,
            account_email: &user.email,
            code: &code,
            ttl,
            link_path: "verify-email",
        },
    )
}

/// What a verification code confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The account's own address.
    Address,
    /// A pending change to a new address, now applied.
    EmailChange,
}

/// Checks a verification code: confirms the address, or applies a pending email change (the
/// old address gets a notice). One answer for every kind of failure: 400 `invalid_code`.
pub fn verify(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    who: Subject,
    code: OneTimeCode,
) -> Result<(UserRow, Verified), ApiError> {
    let step = db::write_transaction(
        conn,
        |conn| -> Result<Option<(UserRow, Verified)>, ApiError> {
            let user = find(conn, &who)?;
            let user_id = user.as_ref().map_or(NOBODY, |u| u.id.as_str());
            let purposes = [Purpose::EmailVerification, Purpose::EmailChange];
            let Checked::Matched(row) =
                codes::check(conn, &state.code_key, user_id, &purposes, &code)?
            else {
                return Ok(None);
            };
            let Some(user) = user else {
                return Ok(None);
            };
            let now = db::now();
            let verified = match Purpose::parse(&row.purpose) {
                Some(Purpose::EmailChange) => {
                    let new_email = row.target.as_deref().ok_or(ApiError::InvalidCode)?;
                    if db::users::find_by_email(conn, new_email)?.is_some_and(|o| o.id != user.id) {
                        return Err(ApiError::EmailTaken);
                    }
                    db::users::set_verified_email(conn, &user.id, new_email, now)?;
                    db::codes::void_all(
                        conn,
                        &user.id,
                        &[Purpose::EmailVerification.as_str()],
                        now,
                    )?;
                    // The old address can undo it for a few days (the change may be an
                    // attacker's).
                    let revert = codes::issue(
                        conn,
                        &state.code_key,
                        &user.id,
                        Purpose::EmailRevert,
                        Some(&user.email),
                        security::REVERT_TTL,
                    )?;
                    let revert_link = link(state, "revert-email", &user.email, &revert);
                    security::queue_change(
                        state,
                        conn,
                        &user,
                        client,
                        Change::EmailChanged {
                            new_email,
                            revert_link: &revert_link,
                            revert_code: revert.expose(),
                        },
                    )?;
                    audit::record(
                        conn,
                        client,
                        Event {
                            kind: "email_change",
                            outcome: "success",
                            user_id: Some(&user.id),
                            session_id: None,
                            method: Some("code"),
                        },
                    );
                    Verified::EmailChange
                }
                _ => {
                    db::users::set_email_verified(conn, &user.id, now)?;
                    webhooks::queue(
                        state,
                        conn,
                        webhooks::Event::UserUpdated {
                            user_id: &user.id,
                            changed: &["email_verified"],
                        },
                    )?;
                    audit::record(
                        conn,
                        client,
                        Event {
                            kind: "email_verification",
                            outcome: "success",
                            user_id: Some(&user.id),
                            session_id: None,
                            method: Some("code"),
                        },
                    );
                    Verified::Address
                }
            };
            let user = db::users::find_by_id(conn, &user.id)?.ok_or(ApiError::NotFound)?;
            Ok(Some((user, verified)))
        },
    )?;
    step.ok_or(ApiError::InvalidCode)
}

/// With `AUTHGATE_REQUIRE_EMAIL_VERIFICATION` on, sign-up opens no session: verifying the
/// mailed code, signed out, is the way in, and opens one (`amr: ["email"]`). An account with
/// a second factor is not signed in this way (the code is one factor); nor is anyone when the
/// setting is off (sign-up already signed them in).
pub fn sign_in_after_verification(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user: &UserRow,
) -> Result<Option<crate::service::sessions::Issued>, ApiError> {
    if !state.settings.require_email_verification
        || crate::service::passkeys::has_second_factor(conn, user)?
        || user.disabled
    {
        return Ok(None);
    }
    crate::service::accounts::open_session(
        state,
        conn,
        client,
        user,
        false,
        &["email"],
        "aal1",
        "email",
    )
    .map(Some)
}

/// Issues a new code (voiding the previous one) for whatever the account is waiting to verify:
/// its own address while unverified, else a pending email change. Unknown accounts, verified
/// ones with nothing pending and addresses still cooling down get no mail and the same answer.
/// Returns whether a code was queued.
pub fn resend(state: &AppState, conn: &mut DbConnection, who: Subject) -> Result<bool, ApiError> {
    let user = find(conn, &who)?;
    let user_id = user.as_ref().map_or(NOBODY, |u| u.id.as_str()).to_owned();
    let now = db::now();
    let pending_change = db::codes::live(conn, &user_id, &[Purpose::EmailChange.as_str()], now)?
        .into_iter()
        .next();
    let Some(user) = user else {
        // Same shape as a known account: the cooldown lookup and a write transaction.
        notify::cooldown_left(state, conn, NOBODY, Purpose::EmailVerification.as_str())?;
        db::write_transaction(conn, |conn| {
            db::codes::void_all(conn, NOBODY, &[Purpose::EmailVerification.as_str()], now)
        })?;
        return Ok(false);
    };
    let (purpose, template, to) = if !user.email_verified {
        (
            Purpose::EmailVerification,
            Template::VerifyEmail,
            user.email.clone(),
        )
    } else if let Some(target) = pending_change.and_then(|c| c.target) {
        (Purpose::EmailChange, Template::EmailChange, target)
    } else {
        return Ok(false);
    };
    if notify::cooldown_left(state, conn, &to, purpose.as_str())?.is_some() {
        tracing::info!(user_id = %user.id, "verification resend skipped: address cooling down");
        return Ok(false);
    }
    let ttl = state.settings.email_code_ttl;
    db::write_transaction(conn, |conn| {
        let code = codes::issue(
            conn,
            &state.code_key,
            &user.id,
            purpose,
            Some(&to)
                .filter(|_| purpose == Purpose::EmailChange)
                .map(String::as_str),
            ttl,
        )?;
        queue_code_mail(
            state,
            conn,
            CodeMail {
                template,
                to: &to,
                account_email: &user.email,
                code: &code,
                ttl,
                link_path: "verify-email",
            },
        )
    })?;
    Ok(true)
}

/// Cancels a pending email change: its code stops working. Idempotent.
pub fn cancel_change(conn: &mut DbConnection, user_id: &str) -> Result<(), ApiError> {
    db::write_transaction(conn, |conn| {
        db::codes::void_all(conn, user_id, &[Purpose::EmailChange.as_str()], db::now())
    })?;
    Ok(())
}

/// Undoes an applied email change from the old address, with the code its notice carried: the
/// address comes back (verified), every session ends, pending changes are void, and the address
/// the account had moved to is told. One answer for every failure: 400 `invalid_code`; 409
/// `email_taken` when the old address now belongs to another account.
pub fn revert_change(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    old_email: &Email,
    code: OneTimeCode,
) -> Result<(), ApiError> {
    let now = db::now();
    let ended = db::write_transaction(conn, |conn| -> Result<Option<Vec<String>>, ApiError> {
        let holders = db::codes::holders_of_target(
            conn,
            Purpose::EmailRevert.as_str(),
            old_email.as_str(),
            now,
        )?;
        let holder = holders.first().map_or(NOBODY, String::as_str).to_owned();
        let Checked::Matched(_) = codes::check(
            conn,
            &state.code_key,
            &holder,
            &[Purpose::EmailRevert],
            &code,
        )?
        else {
            return Ok(None);
        };
        let Some(user) = db::users::find_by_id(conn, &holder)? else {
            return Ok(None);
        };
        if db::users::find_by_email(conn, old_email.as_str())?.is_some_and(|o| o.id != user.id) {
            return Err(ApiError::EmailTaken);
        }
        db::users::set_verified_email(conn, &user.id, old_email.as_str(), now)?;
        db::codes::void_all(
            conn,
            &user.id,
            &[
                Purpose::EmailChange.as_str(),
                Purpose::EmailVerification.as_str(),
            ],
            now,
        )?;
        let ended =
            db::sessions::revoke_all_for_user(conn, &user.id, None, "email_change_reverted", now)?;
        crate::service::sessions::announce_ended(
            state,
            conn,
            &user.id,
            &ended,
            "email_change_reverted",
        )?;
        security::queue_change(
            state,
            conn,
            &user,
            client,
            Change::EmailChangeReverted {
                restored_email: old_email.as_str(),
            },
        )?;
        audit::record(
            conn,
            client,
            Event {
                kind: "email_change",
                outcome: "reverted",
                user_id: Some(&user.id),
                session_id: None,
                method: Some("code"),
            },
        );
        Ok(Some(ended))
    })?;
    let ended = ended.ok_or(ApiError::InvalidCode)?;
    state.revocations.add(ended.iter().map(String::as_str), now);
    Ok(())
}

/// Starts an email change: a code goes to the new address; the change applies when it is
/// verified (`verify-email/`). 409 when another account has the address; 429 while the new
/// address is cooling down.
pub fn request_change(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
    new_email: &Email,
) -> Result<(), ApiError> {
    if new_email.as_str() == user.email {
        return Ok(());
    }
    if db::users::find_by_email(conn, new_email.as_str())?.is_some() {
        return Err(ApiError::EmailTaken);
    }
    if let Some(retry_after) = notify::cooldown_left(
        state,
        conn,
        new_email.as_str(),
        Purpose::EmailChange.as_str(),
    )? {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let ttl = state.settings.email_code_ttl;
    let code = codes::issue(
        conn,
        &state.code_key,
        &user.id,
        Purpose::EmailChange,
        Some(new_email.as_str()),
        ttl,
    )?;
    queue_code_mail(
        state,
        conn,
        CodeMail {
            template: Template::EmailChange,
            to: new_email.as_str(),
            account_email: &user.email,
            code: &code,
            ttl,
            link_path: "verify-email",
        },
    )?;
    Ok(())
}
