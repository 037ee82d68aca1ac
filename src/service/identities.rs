//! Signing in with an identity provider, and the identities (`provider`, `subject`) linked to
//! accounts.
//!
//! A flow begins at `oauth/{provider}/authorize` (or `user/identities/{provider}/link/`): its
//! `state`, `nonce` and PKCE verifier are kept in `oauth_flows` under the keyed hash of `state`,
//! bound to the browser by a random value in a cookie (only its keyed hash is stored), single
//! use, for [`FLOW_TTL`]. The callback must bring that `state` in that browser; then the code is
//! exchanged and the ID token verified (`clients::oidc`), and the identity decides the account:
//!
//! - an identity already linked signs in to its account;
//! - a new identity whose address no account holds creates one (sign-up rules apply: invite-only
//!   needs `invite_code`), its address marked verified only when the provider vouches for it;
//! - a new identity whose address an account already holds is refused (`account_exists`): linking
//!   it silently would hand the account to whoever controls that address at the provider (a
//!   pre-registered account's takeover). The owner signs in and links, or the operator allows
//!   automatic linking for a provider that verifies addresses (`_AUTO_LINK`);
//! - in link mode, the identity joins the signed-in account (refused if another account has it).
//!
//! An account with a second factor still needs it: the callback then ends with
//! `error=mfa_required`, and `oauth/continue/` takes the code or passkey, as `signin/` does.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clients::oidc::{FlowSecrets, ProviderError, ProviderUser};
use crate::db::{self, DbConnection};
use crate::domain::{ClientInfo, DisplayName, Email};
use crate::error::ApiError;
use crate::service::accounts::{self, SecondProof, SignUpRecord};
use crate::service::audit::{self, Event};
use crate::service::sessions::Issued;
use crate::settings::ReturnTo;
use crate::state::AppState;

/// How long a browser has to come back from the provider (and then to give its second factor).
pub const FLOW_TTL: Duration = Duration::from_secs(600);

/// The cookie binding a flow to the browser that began it.
pub fn binding_cookie_name(settings: &crate::settings::Settings) -> &'static str {
    if settings.cookie_secure {
        "__Host-authgate-oauth"
    } else {
        "authgate-oauth"
    }
}

/// The callback URL registered at the provider.
pub fn redirect_uri(settings: &crate::settings::Settings, provider: &str) -> String {
    format!(
        "{}/api/v1/auth/oauth/{provider}/callback/",
        settings.public_url.trim_end_matches('/')
    )
}

#[derive(Serialize, Deserialize)]
struct Pending {
    nonce: String,
    pkce_verifier: String,
    return_to: String,
    remember_me: bool,
    invite_code: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AwaitingFactor {
    return_to: String,
    remember_me: bool,
}

/// What the flow is for.
pub enum Mode {
    SignIn {
        remember_me: bool,
        invite_code: Option<String>,
    },
    /// Add the identity to this signed-in account.
    Link { user_id: String },
}

/// A flow begun: where the browser goes, and the binding cookie's value.
pub struct Started {
    pub location: String,
    pub binding: String,
}

fn flow_id(state: &AppState, kind: &str, token: &str) -> String {
    state
        .code_key
        .mac_hex(format!("oauth-{kind}:{token}").as_bytes())
}

fn seal(state: &AppState, payload: &impl Serialize, context: &str) -> Result<String, ApiError> {
    let json = serde_json::to_vec(payload).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(base64::engine::general_purpose::STANDARD
        .encode(state.sealer.seal(&json, context.as_bytes())))
}

fn open<T: serde::de::DeserializeOwned>(
    state: &AppState,
    stored: &str,
    context: &str,
) -> Result<T, ApiError> {
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let json = state
        .sealer
        .open(&sealed, context.as_bytes())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e:?}")))?;
    serde_json::from_slice(&json).map_err(|e| ApiError::Internal(e.into()))
}

/// The `return_to` a flow will end on: the one given, if `AUTHGATE_REDIRECT_URLS` allows it, or
/// the first rule's target.
pub fn return_to(
    settings: &crate::settings::Settings,
    raw: Option<&str>,
) -> Result<ReturnTo, ApiError> {
    let invalid = || {
        ApiError::validation(
            "invalid_return_to",
            "return_to is not an address AUTHGATE_REDIRECT_URLS allows",
        )
    };
    let raw = match raw {
        Some(r) => r.to_owned(),
        None => settings
            .redirect_urls
            .first()
            .map(|r| r.default_target())
            .ok_or_else(invalid)?,
    };
    ReturnTo::parse(&raw, &settings.redirect_urls).ok_or_else(invalid)
}

/// A well-formed binding value the browser already holds (several tabs share one), or a new one.
fn binding_value(presented: Option<String>) -> String {
    presented
        .filter(|b| b.len() == 43 && crate::crypto::b64url_decode(b).is_some())
        .unwrap_or_else(|| crate::crypto::b64url(&crate::crypto::random_bytes::<32>()))
}

/// Begins a flow: 404 `unknown_provider` or 400 `invalid_return_to` before anything else; a
/// provider that cannot be reached sends the browser back with `error=provider_unavailable`.
pub async fn start(
    state: &Arc<AppState>,
    provider_id: &str,
    return_to: ReturnTo,
    presented_binding: Option<String>,
    mode: Mode,
) -> Result<Started, ApiError> {
    let provider = state
        .providers
        .get(provider_id)
        .ok_or(ApiError::UnknownProvider)?;
    let binding = binding_value(presented_binding);
    let secrets = FlowSecrets::new();
    let redirect = redirect_uri(&state.settings, provider_id);
    let authorization = match state
        .providers
        .authorization(provider, &redirect, &secrets)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(provider = provider_id, error = %e, "provider sign-in could not begin");
            return Ok(Started {
                location: return_to.with_error(e.code()),
                binding,
            });
        }
    };
    let (purpose, user_id, remember_me, invite_code) = match mode {
        Mode::SignIn {
            remember_me,
            invite_code,
        } => ("signin", None, remember_me, invite_code),
        Mode::Link { user_id } => ("link", Some(user_id), false, None),
    };
    let pending = Pending {
        nonce: secrets.nonce.clone(),
        pkce_verifier: secrets.pkce_verifier.clone(),
        return_to: return_to.as_str().to_owned(),
        remember_me,
        invite_code,
    };
    let (provider_id, binding_hash) = (provider_id.to_owned(), flow_id(state, "binding", &binding));
    let id = flow_id(state, "state", &secrets.state);
    crate::service::run::blocking(state, move |state, conn| {
        let payload = seal(state, &pending, &id)?;
        let now = db::now();
        db::write_statement(conn, |conn| {
            db::identities::insert_flow(
                conn,
                &db::identities::NewFlow {
                    id: &id,
                    provider: &provider_id,
                    purpose,
                    user_id: user_id.as_deref(),
                    binding: &binding_hash,
                    payload: &payload,
                    created_at: now,
                    expires_at: now + ttl(),
                },
            )
        })?;
        Ok(())
    })
    .await?;
    Ok(Started {
        location: authorization.url,
        binding,
    })
}

fn ttl() -> chrono::Duration {
    chrono::Duration::from_std(FLOW_TTL).unwrap_or_else(|_| chrono::Duration::zero())
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// Apple's first sign-in only: `{"name":{"firstName":..,"lastName":..}}`.
    #[serde(default)]
    pub user: Option<String>,
}

/// How a callback ends: the browser goes to `location`; `issued` when a session was opened.
pub struct Finished {
    pub location: String,
    pub issued: Option<Issued>,
    /// The binding cookie is still needed (a second factor is awaited).
    pub keep_binding: bool,
}

/// A flow that ended in failure, told to the front end as `?error=<code>`.
struct Failure {
    code: &'static str,
}

impl Failure {
    fn new(code: &'static str) -> Self {
        Self { code }
    }
}

/// Takes the flow `state` names, once: its row and opened payload, or why not.
fn take_flow(
    state: &AppState,
    conn: &mut DbConnection,
    provider_id: &str,
    state_param: &str,
    binding: Option<&str>,
) -> Result<(db::identities::FlowRow, Option<Pending>), Failure> {
    let invalid = || Failure::new("invalid_state");
    if state_param.is_empty() || state_param.len() > 128 {
        return Err(invalid());
    }
    let id = flow_id(state, "state", state_param);
    let row = db::identities::find_flow(conn, &id)
        .map_err(|_| Failure::new("temporarily_unavailable"))?
        .filter(|r| r.provider == provider_id && (r.purpose == "signin" || r.purpose == "link"))
        .ok_or_else(invalid)?;
    let pending: Option<Pending> = open(state, &row.payload, &id).ok();
    let Some(binding) = binding else {
        return Err(invalid());
    };
    let presented = flow_id(state, "binding", binding);
    if aws_lc_rs::constant_time::verify_slices_are_equal(
        presented.as_bytes(),
        row.binding.as_bytes(),
    )
    .is_err()
    {
        return Err(invalid());
    }
    if row.used_at.is_some() {
        return Err(Failure::new("state_used"));
    }
    let now = db::now();
    if row.expires_at <= now {
        return Err(Failure::new("state_expired"));
    }
    match db::write_statement(conn, |conn| db::identities::use_flow(conn, &id, now)) {
        Ok(true) => Ok((row, pending)),
        Ok(false) => Err(Failure::new("state_used")),
        Err(_) => Err(Failure::new("temporarily_unavailable")),
    }
}

/// The provider's callback: always ends with a redirect to an allowed URL, the session's cookies
/// when one was opened, or `?error=<code>`: `invalid_state` (unknown, another browser's or
/// another provider's), `state_used`, `state_expired`, `access_denied` (the user declined),
/// `provider_error`, `provider_unavailable`, `code_exchange_failed`, `invalid_id_token`,
/// `invalid_provider_user`, `email_required`, `account_exists`, `identity_in_use`,
/// `invalid_invite_code`, `account_disabled`, `email_not_verified`, `mfa_required`.
/// `None` when not even a default return URL is configured for an unknown `state`.
pub async fn callback(
    state: &Arc<AppState>,
    client: ClientInfo,
    provider_id: &str,
    params: CallbackParams,
    binding: Option<String>,
) -> Result<Finished, ApiError> {
    let fallback = return_to(&state.settings, None).ok();
    let Some(provider) = state.providers.get(provider_id) else {
        return Err(ApiError::UnknownProvider);
    };
    let (provider_id, state_param) = (
        provider_id.to_owned(),
        params.state.clone().unwrap_or_default(),
    );
    let taken = {
        let (provider_id, binding) = (provider_id.clone(), binding.clone());
        crate::service::run::blocking(state, move |state, conn| {
            Ok(take_flow(
                state,
                conn,
                &provider_id,
                &state_param,
                binding.as_deref(),
            ))
        })
        .await?
    };
    let fail = |to: Option<&ReturnTo>, f: Failure| -> Result<Finished, ApiError> {
        match to.or(fallback.as_ref()) {
            Some(to) => Ok(Finished {
                location: to.with_error(f.code),
                issued: None,
                keep_binding: false,
            }),
            None => Err(ApiError::validation(f.code, "the provider sign-in failed")),
        }
    };
    let (row, pending) = match taken {
        Ok((row, Some(pending))) => (row, pending),
        Ok((_, None)) => return fail(None, Failure::new("invalid_state")),
        Err(f) => {
            audit_flow(state, &client, None, f.code).await;
            return fail(None, f);
        }
    };
    let Some(to) = ReturnTo::parse(&pending.return_to, &state.settings.redirect_urls) else {
        // The rules changed since the flow began.
        return fail(None, Failure::new("invalid_return_to"));
    };
    if let Some(error) = params.error.as_deref() {
        let code = if error == "access_denied" {
            "access_denied"
        } else {
            "provider_error"
        };
        audit_flow(state, &client, row.user_id.clone(), code).await;
        return fail(Some(&to), Failure::new(code));
    }
    let Some(code) = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048)
    else {
        return fail(Some(&to), Failure::new("provider_error"));
    };
    let secrets = FlowSecrets {
        state: String::new(),
        nonce: pending.nonce.clone(),
        pkce_verifier: pending.pkce_verifier.clone(),
    };
    let redirect = redirect_uri(&state.settings, &provider_id);
    let mut user = match state
        .providers
        .exchange(provider, &redirect, code, &secrets)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            match &e {
                ProviderError::Unavailable(_) => {
                    tracing::warn!(provider = %provider_id, error = %e, "provider sign-in failed")
                }
                _ => {
                    tracing::info!(provider = %provider_id, error = %e, "provider sign-in refused")
                }
            }
            state.metrics.signins.with_label_values(&[e.code()]).inc();
            audit_flow(state, &client, row.user_id.clone(), e.code()).await;
            return fail(Some(&to), Failure::new(e.code()));
        }
    };
    if user.name.is_none() {
        user.name = params.user.as_deref().and_then(apple_name);
    }
    let config = provider.config.clone();
    let outcome = if row.purpose == "link" {
        let user_id = row.user_id.clone().unwrap_or_default();
        crate::service::run::blocking(state, move |_, conn| {
            link(conn, &client, &config, &user_id, &user)
        })
        .await
        .map(|()| Finished {
            location: to.as_str().to_owned(),
            issued: None,
            keep_binding: false,
        })
    } else {
        sign_in(state, client, config, user, pending, to.clone(), binding).await
    };
    match outcome {
        Ok(finished) => Ok(finished),
        Err(ApiError::Validation { code, .. }) => fail(Some(&to), Failure::new(code)),
        Err(ApiError::Conflict { code, .. }) => fail(Some(&to), Failure::new(code)),
        Err(ApiError::EmailTaken) => fail(Some(&to), Failure::new("account_exists")),
        Err(ApiError::Forbidden(_)) => fail(Some(&to), Failure::new("account_disabled")),
        Err(ApiError::EmailNotVerified) => fail(Some(&to), Failure::new("email_not_verified")),
        Err(ApiError::Unavailable(_)) => fail(Some(&to), Failure::new("temporarily_unavailable")),
        Err(e) => Err(e),
    }
}

/// The display name Apple posts on the first sign-in only.
fn apple_name(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct AppleUser {
        name: Option<AppleName>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct AppleName {
        first_name: Option<String>,
        last_name: Option<String>,
    }
    let name = serde_json::from_str::<AppleUser>(raw).ok()?.name?;
    let full = [name.first_name, name.last_name]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!full.trim().is_empty()).then_some(full)
}

async fn audit_flow(
    state: &Arc<AppState>,
    client: &ClientInfo,
    user_id: Option<String>,
    outcome: &str,
) {
    let (client, outcome) = (client.clone(), outcome.to_owned());
    let _ = crate::service::run::blocking(state, move |_, conn| {
        audit::record(
            conn,
            &client,
            Event {
                kind: "signin",
                outcome: &outcome,
                user_id: user_id.as_deref(),
                session_id: None,
                method: Some("oauth"),
            },
        );
        Ok(())
    })
    .await;
}

fn verified_email(config: &crate::settings::ProviderConfig, user: &ProviderUser) -> Option<Email> {
    let email = Email::parse(user.email.as_deref()?).ok()?;
    (user.email_verified && config.vouches_for_email()).then_some(email)
}

/// Link mode: the identity joins `user_id`'s account.
fn link(
    conn: &mut DbConnection,
    client: &ClientInfo,
    config: &crate::settings::ProviderConfig,
    user_id: &str,
    user: &ProviderUser,
) -> Result<(), ApiError> {
    crate::service::users::active(conn, user_id)
        .map_err(|_| ApiError::Forbidden("this account is disabled"))?;
    if let Some(existing) = db::identities::find(conn, &config.id, &user.subject)? {
        if existing.user_id == user_id {
            return Ok(());
        }
        return Err(ApiError::Conflict {
            code: "identity_in_use",
            message: "this identity is linked to another account".into(),
        });
    }
    insert_identity(conn, client, config, user_id, user, "identity_linked")
}

fn insert_identity(
    conn: &mut DbConnection,
    client: &ClientInfo,
    config: &crate::settings::ProviderConfig,
    user_id: &str,
    user: &ProviderUser,
    kind: &'static str,
) -> Result<(), ApiError> {
    let now = db::now();
    let id = uuid::Uuid::now_v7().to_string();
    db::write_statement(conn, |conn| {
        db::identities::insert(
            conn,
            &db::identities::NewIdentity {
                id: &id,
                user_id,
                provider: &config.id,
                subject: &user.subject,
                email: user.email.as_deref(),
                created_at: now,
                last_used_at: Some(now),
            },
        )
    })
    .map_err(|e| match ApiError::from(e) {
        ApiError::EmailTaken => ApiError::Conflict {
            code: "identity_in_use",
            message: "this identity is linked to another account".into(),
        },
        other => other,
    })?;
    audit::record(
        conn,
        client,
        Event {
            kind,
            outcome: "success",
            user_id: Some(user_id),
            session_id: None,
            method: Some("oauth"),
        },
    );
    Ok(())
}

/// Which account the identity signs in to, decided on the blocking pool.
enum Decision {
    Existing(Box<db::users::UserRow>),
    /// No account holds the identity or its address: create one.
    Create {
        email: Email,
        verified: bool,
    },
}

fn decide(
    conn: &mut DbConnection,
    client: &ClientInfo,
    config: &crate::settings::ProviderConfig,
    user: &ProviderUser,
) -> Result<Decision, ApiError> {
    if let Some(identity) = db::identities::find(conn, &config.id, &user.subject)? {
        db::write_statement(conn, |conn| {
            db::identities::touch(conn, &identity.id, user.email.as_deref(), db::now())
        })?;
        let account = db::users::find_by_id(conn, &identity.user_id)?.ok_or(ApiError::NotFound)?;
        return Ok(Decision::Existing(Box::new(account)));
    }
    let verified = verified_email(config, user);
    let email = match (&verified, user.email.as_deref().map(Email::parse)) {
        (Some(e), _) => e.clone(),
        (None, Some(Ok(e))) => e,
        _ => {
            return Err(ApiError::validation(
                "email_required",
                "the provider gave no usable email address",
            ))
        }
    };
    if let Some(account) = db::users::find_by_email(conn, email.as_str())? {
        // Only an address the provider vouches for, on a provider the operator trusts to link.
        if config.auto_link && verified.is_some() {
            insert_identity(conn, client, config, &account.id, user, "identity_linked")?;
            return Ok(Decision::Existing(Box::new(account)));
        }
        return Err(ApiError::Conflict {
            code: "account_exists",
            message: "an account with this address exists; sign in to it and link the provider"
                .into(),
        });
    }
    Ok(Decision::Create {
        email,
        verified: verified.is_some(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn sign_in(
    state: &Arc<AppState>,
    client: ClientInfo,
    config: crate::settings::ProviderConfig,
    user: ProviderUser,
    pending: Pending,
    to: ReturnTo,
    binding: Option<String>,
) -> Result<Finished, ApiError> {
    let decision = {
        let (client, config, user) = (client.clone(), config.clone(), user.clone());
        crate::service::run::blocking(state, move |_, conn| decide(conn, &client, &config, &user))
            .await?
    };
    let account = match decision {
        Decision::Existing(account) => *account,
        Decision::Create { email, verified } => {
            let hash = crate::service::run::hashing(state, |state| {
                crate::service::password::unusable()
                    .and_then(|p| state.hasher.hash(&p).map_err(ApiError::Internal))
            })
            .await??;
            let name = user
                .name
                .as_deref()
                .and_then(|n| DisplayName::parse(n).ok())
                .or_else(|| DisplayName::parse(email.as_str().split('@').next().unwrap_or("")).ok())
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default();
            let (client2, config2, user2) = (client.clone(), config.clone(), user.clone());
            let (invite_code, remember_me) = (pending.invite_code.clone(), pending.remember_me);
            let issued = crate::service::run::blocking(state, move |state, conn| {
                let id = uuid::Uuid::new_v4().to_string();
                let record = SignUpRecord {
                    id: &id,
                    email: email.as_str(),
                    name: &name,
                    contact: None,
                    invite_code: invite_code.as_deref(),
                    has_password: false,
                    remember_me,
                };
                let (_, issued, ()) = accounts::create_signed_up(
                    state,
                    conn,
                    &client2,
                    &record,
                    &hash,
                    &["oauth"],
                    "oauth",
                    |conn, account| {
                        if verified {
                            db::users::set_email_verified(conn, &account.id, db::now())?;
                        }
                        insert_identity(
                            conn,
                            &client2,
                            &config2,
                            &account.id,
                            &user2,
                            "identity_linked",
                        )?;
                        Ok(((), "aal1"))
                    },
                )?;
                Ok(issued)
            })
            .await?;
            crate::notify::wake(state);
            return Ok(match issued {
                Some(issued) => Finished {
                    location: to.as_str().to_owned(),
                    issued: Some(issued),
                    keep_binding: false,
                },
                None => Finished {
                    location: to.with_error("email_not_verified"),
                    issued: None,
                    keep_binding: false,
                },
            });
        }
    };
    let remember_me = pending.remember_me;
    let trusted_mfa = config.trust_mfa && user.mfa;
    let provider_id = config.id.clone();
    let result = crate::service::run::blocking(state, move |state, conn| {
        accounts::ensure_may_sign_in(state, conn, &client, &account, "oauth")?;
        let needs_factor =
            !trusted_mfa && crate::service::passkeys::has_second_factor(conn, &account)?;
        if needs_factor {
            let Some(binding) = binding else {
                return Err(ApiError::validation(
                    "invalid_state",
                    "the flow's cookie is missing",
                ));
            };
            await_factor(
                state,
                conn,
                &account.id,
                &binding,
                &provider_id,
                to.as_str(),
                remember_me,
            )?;
            audit::record(
                conn,
                &client,
                Event {
                    kind: "signin",
                    outcome: "mfa_required",
                    user_id: Some(&account.id),
                    session_id: None,
                    method: Some("oauth"),
                },
            );
            return Ok(Finished {
                location: to.with_error("mfa_required"),
                issued: None,
                keep_binding: true,
            });
        }
        let (amr, aal): (&[&'static str], _) = if trusted_mfa {
            (&["oauth", "mfa"], "aal2")
        } else {
            (&["oauth"], "aal1")
        };
        let issued = accounts::open_session(
            state,
            conn,
            &client,
            &account,
            remember_me,
            amr,
            aal,
            "oauth",
        )?;
        Ok(Finished {
            location: to.as_str().to_owned(),
            issued: Some(issued),
            keep_binding: false,
        })
    })
    .await;
    let outcome = match &result {
        Ok(Finished {
            issued: Some(_), ..
        }) => "success",
        Ok(_) => "mfa_required",
        Err(_) => "error",
    };
    state.metrics.signins.with_label_values(&[outcome]).inc();
    result
}

/// Keeps a provider sign-in waiting for its second factor, keyed by the browser's binding
/// cookie (one per browser: a newer one replaces it).
fn await_factor(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    binding: &str,
    provider: &str,
    return_to: &str,
    remember_me: bool,
) -> Result<(), ApiError> {
    let id = flow_id(state, "mfa", binding);
    let payload = seal(
        state,
        &AwaitingFactor {
            return_to: return_to.to_owned(),
            remember_me,
        },
        &id,
    )?;
    let now = db::now();
    db::write_transaction(conn, |conn| {
        db::identities::delete_flow(conn, &id)?;
        db::identities::insert_flow(
            conn,
            &db::identities::NewFlow {
                id: &id,
                provider,
                purpose: "mfa",
                user_id: Some(user_id),
                binding: &flow_id(state, "binding", binding),
                payload: &payload,
                created_at: now,
                expires_at: now + ttl(),
            },
        )?;
        Ok::<_, ApiError>(())
    })
}

/// `oauth/continue/`: the second factor of a provider sign-in that awaits one in this browser.
/// 401 `mfa_required` (with the account's factors) without a proof, `invalid_code` for a wrong
/// one (counted toward the TOTP lock, the wait goes on); 401 `invalid_state` when nothing awaits.
pub fn continue_sign_in(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    binding: Option<&str>,
    proof: SecondProof<'_>,
) -> Result<Issued, ApiError> {
    let nothing = || ApiError::NoPendingSignIn;
    let binding = binding.ok_or_else(nothing)?;
    let id = flow_id(state, "mfa", binding);
    let now = db::now();
    let row = db::identities::find_flow(conn, &id)?
        .filter(|r| r.purpose == "mfa" && r.used_at.is_none() && r.expires_at > now)
        .ok_or_else(nothing)?;
    let waiting: AwaitingFactor = open(state, &row.payload, &id)?;
    let user_id = row.user_id.clone().ok_or_else(nothing)?;
    let account = db::users::find_by_id(conn, &user_id)?.ok_or_else(nothing)?;
    accounts::ensure_may_sign_in(state, conn, client, &account, "oauth")?;
    let factor = accounts::second_factor(state, conn, client, &account, proof, "oauth")?;
    if !db::write_statement(conn, |conn| db::identities::use_flow(conn, &id, now))? {
        return Err(nothing());
    }
    let mut amr = vec!["oauth"];
    amr.extend(factor.amr.iter().skip(1));
    let mut issued = accounts::open_session(
        state,
        conn,
        client,
        &account,
        waiting.remember_me,
        &amr,
        factor.aal,
        "oauth",
    )?;
    issued.recovery_codes_left = factor.recovery_codes_left;
    Ok(issued)
}

/// How recent a sign-in stands in for re-authentication when linking, on an account that has
/// nothing else to prove itself with (no password, no passkey).
pub const FRESH_SIGN_IN: Duration = Duration::from_secs(600);

/// Whether linking needs the full re-authentication: an account with a password or a passkey
/// proves itself with one, as for any new way in (a stolen session must not add the thief's
/// identity). An account made by a provider has neither: its proof is a sign-in of the last
/// [`FRESH_SIGN_IN`] (this session's), else 400 `reauthentication_required`.
pub fn link_needs_reauthentication(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
) -> Result<bool, ApiError> {
    let account = crate::service::users::active(conn, user_id)?;
    if account.has_password || db::passkeys::count_for_user(conn, user_id)? > 0 {
        return Ok(true);
    }
    let fresh = db::now()
        - chrono::Duration::from_std(FRESH_SIGN_IN).unwrap_or_else(|_| chrono::Duration::zero());
    match db::sessions::find(conn, session_id)? {
        Some(s) if s.user_id == user_id && s.created_at >= fresh => Ok(false),
        _ => Err(ApiError::validation(
            "reauthentication_required",
            "sign in again (within 10 minutes) before linking another provider",
        )),
    }
}

/// An identity as `GET user/` shows it.
#[derive(Debug, Serialize)]
pub struct IdentityView {
    pub id: String,
    pub provider: String,
    pub email: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<db::identities::IdentityRow> for IdentityView {
    fn from(row: db::identities::IdentityRow) -> Self {
        use crate::service::users::rfc3339;
        Self {
            id: row.id,
            provider: row.provider,
            email: row.email,
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

pub fn list(conn: &mut DbConnection, user_id: &str) -> Result<Vec<IdentityView>, ApiError> {
    Ok(db::identities::for_user(conn, user_id)?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Unlinks the user's identity `id` (the caller re-authenticated): 404 for an unknown id or
/// another user's; 409 `last_sign_in_method` when the account would be left with no password,
/// passkey or other identity to sign in with.
pub fn unlink(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    id: &str,
    proof: &crate::service::mfa::Reauth,
) -> Result<(), ApiError> {
    if !db::identities::for_user(conn, user_id)?
        .iter()
        .any(|i| i.id == id)
    {
        return Err(ApiError::NotFound);
    }
    let account = crate::service::mfa::reauthenticate(state, conn, client, user_id, proof)?;
    let identities = db::identities::for_user(conn, user_id)?;
    let other_ways = account.has_password
        || identities.len() > 1
        || db::passkeys::count_for_user(conn, user_id)? > 0;
    if !other_ways {
        return Err(ApiError::Conflict {
            code: "last_sign_in_method",
            message: "this is the account's only way to sign in; set a password (reset) or add a passkey first".into(),
        });
    }
    db::write_statement(conn, |conn| db::identities::delete_own(conn, user_id, id))?;
    audit::record(
        conn,
        client,
        Event {
            kind: "identity_unlinked",
            outcome: "success",
            user_id: Some(user_id),
            session_id: None,
            method: Some("oauth"),
        },
    );
    Ok(())
}
