//! Sign-up and sign-in.

use crate::db::{self, users::NewUser, DbConnection};
use crate::domain::ClientInfo;
use crate::domain::{DisplayName, Email, Password};
use crate::error::ApiError;
use crate::notify::security::{self, Change};
use crate::notify::webhooks;
use crate::service::audit::{self, Event};
use crate::service::lockout;
use crate::service::mfa::Factor;
use crate::service::password::PasswordVerdict;
use crate::service::sessions::{self, Issued, NewSessionFor};
use crate::state::AppState;

/// A contact handle from a registration form.
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

/// An account an operator creates (`authgate users create`, `POST /api/v1/admin/users/`): no
/// session.
pub struct NewAccount {
    pub email: Email,
    /// Without `has_password`, random characters nobody knows (see
    /// [`crate::service::password::unusable`]).
    pub password: Password,
    pub name: DisplayName,
    pub verified: bool,
    /// False for an invited account: it gets a mailed code to set its password with.
    pub has_password: bool,
}

/// Writes the account an operator creates (`hash` from [`crate::service::password::hash_new`]),
/// with the default roles, audited as `admin_create`; an account without a password is mailed
/// a password reset code, its invitation. A taken email is 409 `email_taken`.
pub fn create(
    state: &AppState,
    conn: &mut DbConnection,
    operator: &ClientInfo,
    input: &NewAccount,
    hash: &str,
) -> Result<db::users::UserRow, ApiError> {
    let now = db::now();
    let id = uuid::Uuid::new_v4().to_string();
    db::write_transaction(conn, |conn| {
        insert_operator_account(state, conn, &id, input, hash, now)?;
        crate::service::rescue::record(conn, operator, "admin_create", Some(&id));
        Ok::<_, ApiError>(())
    })?;
    if !input.has_password {
        crate::service::password::forgot(state, conn, &input.email)?;
    }
    db::users::find_by_id(conn, &id)?.ok_or(ApiError::NotFound)
}

fn insert_operator_account(
    state: &AppState,
    conn: &mut DbConnection,
    id: &str,
    input: &NewAccount,
    hash: &str,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    db::users::insert(
        conn,
        &NewUser {
            id,
            email: input.email.as_str(),
            email_verified: input.verified,
            password_hash: hash,
            name: input.name.as_str(),
            contact_type: None,
            contact_value: None,
            disabled: false,
            created_at: now,
            updated_at: now,
            has_password: input.has_password,
        },
    )?;
    webhooks::queue(
        state,
        conn,
        webhooks::Event::UserCreated {
            user_id: id,
            email: input.email.as_str(),
            email_verified: input.verified,
            name: input.name.as_str(),
            method: "operator",
        },
    )?;
    crate::service::roles::grant_defaults(state, conn, id)
}

/// Creates the account and mails its verification code. Signed in at once (`Some` session),
/// unless `AUTHGATE_REQUIRE_EMAIL_VERIFICATION` is on: then the only way in is the mailed code
/// (`verify-email/`), so an address nobody controls never holds a session. A taken email is 409.
pub fn sign_up(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: SignUp,
    hash: &str,
) -> Result<(db::users::UserRow, Option<Issued>), ApiError> {
    let id = uuid::Uuid::new_v4().to_string();
    let record = SignUpRecord {
        id: &id,
        email: input.email.as_str(),
        name: input.name.as_str(),
        contact: input.contact.as_ref(),
        invite_code: input.invite_code.as_deref(),
        has_password: true,
        remember_me: false,
    };
    let (user, issued, ()) = create_signed_up(
        state,
        conn,
        client,
        &record,
        hash,
        &["pwd"],
        "password",
        |_, _| Ok(((), "aal1")),
    )?;
    Ok((user, issued))
}

/// The account a sign-up creates, whatever its first credential.
pub struct SignUpRecord<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub contact: Option<&'a Contact>,
    pub invite_code: Option<&'a str>,
    /// False for an account made with a passkey: `hash` is then of random bytes.
    pub has_password: bool,
    /// The session opened is persistent (a provider sign-in's `remember_me`).
    pub remember_me: bool,
}

/// Every sign-up's one transaction: the invitation spent, the account written, `credential`
/// run on it (the passkey stored; it answers its own result and the session's `aal`), the
/// verification mail queued and the session opened as [`sign_up`] describes; audited under
/// `method` and counted.
#[allow(clippy::too_many_arguments)]
pub fn create_signed_up<T>(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    record: &SignUpRecord<'_>,
    hash: &str,
    amr: &[&'static str],
    method: &'static str,
    credential: impl FnOnce(
        &mut DbConnection,
        &db::users::UserRow,
    ) -> Result<(T, &'static str), ApiError>,
) -> Result<(db::users::UserRow, Option<Issued>, T), ApiError> {
    let now = db::now();
    let id = record.id;
    let result = db::write_transaction(conn, |conn| {
        if state.settings.invite_only {
            // Counted in this transaction: a later failure (email taken) gives the use back.
            let code = record.invite_code.unwrap_or("");
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
                id,
                email: record.email,
                email_verified: false,
                password_hash: hash,
                name: record.name,
                contact_type: record.contact.map(|c| c.kind),
                contact_value: record.contact.map(|c| c.value.as_str()),
                disabled: false,
                created_at: now,
                updated_at: now,
                has_password: record.has_password,
            },
        )?;
        crate::service::roles::grant_defaults(state, conn, id)?;
        let inserted = db::users::find_by_id(conn, id)?.ok_or(ApiError::NotFound)?;
        webhooks::queue(state, conn, webhooks::user_created(&inserted, method))?;
        let (extra, aal) = credential(conn, &inserted)?;
        // A provider that vouches for the address has verified it already (`credential` marked it).
        let verified = db::users::find_by_id(conn, id)?.is_some_and(|u| u.email_verified);
        let signs_in = !state.settings.require_email_verification || verified;
        if signs_in {
            db::users::record_sign_in(conn, id, now)?;
        }
        let user = db::users::find_by_id(conn, id)?.ok_or(ApiError::NotFound)?;
        if !verified {
            crate::service::email::queue_verification(state, conn, &user)?;
        }
        let issued = if signs_in {
            Some(sessions::create(
                state,
                conn,
                client,
                NewSessionFor {
                    user: &user,
                    remember_me: record.remember_me,
                    amr,
                    aal,
                },
            )?)
        } else {
            None
        };
        audit::record(
            conn,
            client,
            Event {
                kind: "signup",
                outcome: "success",
                user_id: Some(id),
                session_id: issued.as_ref().map(|i| i.session_id.as_str()),
                method: Some(method),
            },
        );
        Ok((user, issued, extra))
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
    /// The second factor, for accounts that have one: a TOTP or recovery code, or a passkey.
    pub code: Option<String>,
    pub passkey: Option<crate::service::passkeys::Assertion>,
}

/// A password sign-in (`signin/`, `token/`'s password grant) in three steps: the account read
/// on the blocking pool, the password checked on the hashing threads, the outcome written on
/// the blocking pool; the outcome is counted in `authgate_signin_total`.
pub async fn sign_in(
    state: &std::sync::Arc<AppState>,
    client: ClientInfo,
    input: SignIn,
) -> Result<Issued, ApiError> {
    let result = crate::service::run::read_hash_write(
        state,
        input,
        sign_in_lookup,
        |state, input, user| Ok(check_password(state, input, user)),
        move |state, conn, input, check| sign_in_finish(state, conn, &client, input, check),
    )
    .await;
    count_sign_in(state, &result);
    result
}

/// A password sign-in's first step, on the blocking pool: the lockout gate, then the account.
/// The password is checked next, on the hashing threads and holding no connection
/// ([`check_password`]), and [`sign_in_finish`] writes the outcome: a job below the workers'
/// priority must not hold a pooled connection or the SQLite writer lock they wait for.
pub fn sign_in_lookup(
    state: &AppState,
    conn: &mut DbConnection,
    input: &SignIn,
) -> Result<Option<db::users::UserRow>, ApiError> {
    lockout::ensure_open(state, conn, &login_key(state, input))?;
    Ok(match &input.email {
        Ok(email) => db::users::find_by_email(conn, email.as_str())?,
        Err(_) => None,
    })
}

/// [`check_password`]'s answer, for [`sign_in_finish`].
pub struct PasswordCheck {
    /// The account and the password checked against its hash; `None` for an unknown account.
    account: Option<(db::users::UserRow, PasswordVerdict)>,
    /// The password hashed again at today's cost, when it matched a hash of an older one.
    rehash: Option<String>,
}

/// The password against the account's hash, or against a dummy hash for an unknown account, so
/// both answer as slowly and as identically as a wrong password. No connection: hashing threads.
pub fn check_password(
    state: &AppState,
    input: &SignIn,
    user: Option<db::users::UserRow>,
) -> PasswordCheck {
    let Some(user) = user else {
        state.hasher.verify_dummy(&input.password);
        return PasswordCheck {
            account: None,
            rehash: None,
        };
    };
    let verdict =
        PasswordVerdict::check(&state.hasher, &input.password, user.password_hash.clone());
    let rehash = if verdict.matched() && state.hasher.needs_rehash(&user.password_hash) {
        state
            .hasher
            .hash(&input.password)
            .map_err(|e| tracing::warn!(error = %e, "password rehash failed"))
            .ok()
    } else {
        None
    };
    PasswordCheck {
        account: Some((user, verdict)),
        rehash,
    }
}

/// A sign-in step that opened no session (yet), audited (`kind` `signin`).
fn sign_in_event(
    conn: &mut DbConnection,
    client: &ClientInfo,
    outcome: &str,
    user_id: Option<&str>,
    method: &str,
) {
    audit::record(
        conn,
        client,
        Event {
            kind: "signin",
            outcome,
            user_id,
            session_id: None,
            method: Some(method),
        },
    );
}

/// Counts a sign-in's outcome in `authgate_signin_total`.
pub fn count_sign_in(state: &AppState, result: &Result<Issued, ApiError>) {
    state
        .metrics
        .signins
        .with_label_values(&[sign_in_outcome(result)])
        .inc();
}

/// The `outcome` label of `authgate_signin_total`.
fn sign_in_outcome(result: &Result<Issued, ApiError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(ApiError::MfaRequired(_)) => "mfa_required",
        Err(ApiError::PasskeyRejected { code, .. }) => code,
        Err(ApiError::InvalidCode) => "invalid_code",
        Err(ApiError::TooManyRequests { .. }) => "locked",
        Err(ApiError::InvalidCredentials) => "invalid_credentials",
        Err(ApiError::Forbidden(_)) => "forbidden",
        Err(ApiError::Unavailable(_)) => "unavailable",
        Err(_) => "error",
    }
}

fn login_key(state: &AppState, input: &SignIn) -> lockout::LoginKey {
    lockout::LoginKey::new(state, input.email.as_ref().map_or("", |e| e.as_str()))
}

/// A password sign-in's last step, on the blocking pool: counts a failure toward the lockout,
/// or checks the account's state and the second factor and opens the session.
pub fn sign_in_finish(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    input: SignIn,
    check: PasswordCheck,
) -> Result<Issued, ApiError> {
    let key = login_key(state, &input);
    let Some((checked, verdict)) = check.account else {
        lockout::failed(state, conn, &key, None)?;
        sign_in_event(conn, client, "unknown_account", None, "password");
        return Err(ApiError::InvalidCredentials);
    };
    // The account as it is now: a password changed while the old one was being checked no
    // longer opens a session.
    let current = if verdict.matched() {
        db::users::find_by_id(conn, &checked.id)?.filter(|now| verdict.matches(now))
    } else {
        None
    };
    let Some(user) = current else {
        lockout::failed(state, conn, &key, Some((&checked, client)))?;
        sign_in_event(conn, client, "bad_password", Some(&checked.id), "password");
        return Err(ApiError::InvalidCredentials);
    };
    // The password is right: guessing it is over, so the count starts again.
    lockout::clear(state, conn, &key)?;
    ensure_may_sign_in(state, conn, client, &user, "password")?;
    let factor = second_factor(
        state,
        conn,
        client,
        &user,
        SecondProof {
            code: input.code.as_deref(),
            passkey: input.passkey.as_ref(),
        },
        "password",
    )?;
    if let Some(hash) = &check.rehash {
        db::users::set_password_hash(conn, &user.id, hash)?;
    }
    let mut issued = open_session(
        state,
        conn,
        client,
        &user,
        input.remember_me,
        &factor.amr,
        factor.aal,
        "password",
    )?;
    issued.recovery_codes_left = factor.recovery_codes_left;
    Ok(issued)
}

/// What every way in checks once the credentials are right: 403 for a disabled account, and
/// `email_not_verified` while `AUTHGATE_REQUIRE_EMAIL_VERIFICATION` waits for the address
/// (told only after the credentials passed, so nobody else learns it); each refusal audited.
pub fn ensure_may_sign_in(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user: &db::users::UserRow,
    method: &'static str,
) -> Result<(), ApiError> {
    let refusal = if user.disabled {
        Some(("disabled", ApiError::Forbidden("this account is disabled")))
    } else if state.settings.require_email_verification && !user.email_verified {
        Some(("email_not_verified", ApiError::EmailNotVerified))
    } else {
        None
    };
    let Some((outcome, error)) = refusal else {
        return Ok(());
    };
    sign_in_event(conn, client, outcome, Some(&user.id), method);
    Err(error)
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

/// What the second-factor step of a sign-in established.
pub struct SecondFactor {
    pub amr: Vec<&'static str>,
    pub aal: &'static str,
    /// Unused recovery codes, when the sign-in should say so: a recovery code was just spent,
    /// or only a few are left.
    pub recovery_codes_left: Option<i64>,
}

/// Told to the user at sign-in when this few recovery codes are left.
pub const FEW_RECOVERY_CODES: i64 = 2;

/// The second factor a sign-in presents.
#[derive(Default, Clone, Copy)]
pub struct SecondProof<'a> {
    /// A TOTP or recovery code.
    pub code: Option<&'a str>,
    pub passkey: Option<&'a crate::service::passkeys::Assertion>,
}

/// The second-factor step of a sign-in, once the first factor passed: nothing for accounts
/// without TOTP or passkeys; 401 `mfa_required` (listing the account's factors, with passkey
/// options when it has passkeys) without a proof; 401 `invalid_code` for a wrong, replayed or
/// spent TOTP or recovery code (counted toward the TOTP lock); 429 while locked; a passkey's
/// refusals as `passkeys` gives them. A recovery code is audited, counted and mailed about.
pub fn second_factor(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user: &db::users::UserRow,
    proof: SecondProof<'_>,
    method: &'static str,
) -> Result<SecondFactor, ApiError> {
    let first: &'static str = if method == "sms" { "sms" } else { "pwd" };
    if !crate::service::passkeys::has_second_factor(conn, user)? {
        return Ok(SecondFactor {
            amr: vec![first],
            aal: "aal1",
            recovery_codes_left: None,
        });
    }
    let event = |conn: &mut DbConnection, outcome: &'static str| {
        sign_in_event(conn, client, outcome, Some(&user.id), method)
    };
    if let Some(assertion) = proof.passkey {
        if let Err(e) =
            crate::service::passkeys::check_second_factor(state, conn, client, user, assertion)
        {
            event(conn, "bad_passkey");
            return Err(e);
        }
        let left = db::recovery_codes::remaining(conn, &user.id)?;
        return Ok(SecondFactor {
            amr: vec![first, "webauthn"],
            aal: "aal2",
            recovery_codes_left: (left <= FEW_RECOVERY_CODES).then_some(left),
        });
    }
    let Some(code) = proof.code else {
        event(conn, "mfa_required");
        let challenge = crate::service::passkeys::mfa_challenge(state, conn, user)?;
        return Err(ApiError::MfaRequired(Some(Box::new(challenge))));
    };
    let accepted = db::write_transaction(conn, |conn| {
        let factor = crate::service::mfa::check_code(state, conn, client, &user.id, code)?;
        if let Some(Factor::RecoveryCode { .. }) = factor {
            security::queue_change(state, conn, user, client, Change::RecoveryCodeUsed)?;
        }
        Ok::<_, ApiError>(factor)
    });
    match accepted {
        Ok(Some(Factor::Totp)) => {
            let left = db::recovery_codes::remaining(conn, &user.id)?;
            Ok(SecondFactor {
                amr: vec![first, "otp"],
                aal: "aal2",
                recovery_codes_left: (left <= FEW_RECOVERY_CODES).then_some(left),
            })
        }
        Ok(Some(Factor::RecoveryCode { left })) => {
            event(conn, "recovery_code_used");
            state
                .metrics
                .recovery_codes_used
                .with_label_values(&[method])
                .inc();
            Ok(SecondFactor {
                amr: vec![first, "recovery_code"],
                aal: "aal2",
                recovery_codes_left: Some(left),
            })
        }
        Ok(None) => {
            event(conn, "bad_otp");
            Err(ApiError::SecondFactorRejected)
        }
        Err(e) => {
            event(conn, "otp_locked");
            Err(e)
        }
    }
}
