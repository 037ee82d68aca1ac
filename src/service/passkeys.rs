//! Passkeys (WebAuthn): registration, passwordless sign-in and sign-up, and a passkey as the
//! second factor after a password. The cryptography (attestation, COSE keys, signatures, client
//! data, counters) is `webauthn-rs-core`'s; this module holds the policy around it and the
//! ceremony state.
//!
//! Ceremony state lives in `webauthn_challenges`, not in a replica's memory: any replica
//! finishes what another began. The client holds a random state token; the row is keyed by its
//! keyed hash, used once (a replay is told apart from a forgery) and expires after
//! [`CHALLENGE_TTL`]. A sealed token alone could not be single use without such a row anyway.
//!
//! User verification is preferred, not required: an assertion whose authenticator verified the
//! user (PIN, biometrics) gives `aal2`, one that only proved presence `aal1`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationState, COSEAlgorithm, Credential,
    PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState, ResidentKeyRequirement,
    UserVerificationPolicy,
};

use crate::db::{self, passkeys::PasskeyRow, users::UserRow, DbConnection};
use crate::domain::{ClientInfo, DisplayName, Email};
use crate::error::{ApiError, MfaChallenge};
use crate::notify::security::{self, Change};
use crate::service::audit::{self, Event};
use crate::service::mfa::Reauth;
use crate::service::sessions::Issued;
use crate::service::users;
use crate::state::AppState;

pub use crate::crypto::webauthn::CHALLENGE_TTL;
/// Passkeys one account may hold.
pub const MAX_PASSKEYS: i64 = 20;
/// Longest passkey name, in characters.
const NAME_MAX: usize = 64;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What a ceremony's first step answers: the options for `navigator.credentials` (WebAuthn's
/// JSON form) and the state token the finishing call brings back.
#[derive(Debug, Serialize)]
pub struct Options {
    #[serde(rename = "publicKey")]
    pub public_key: serde_json::Value,
    pub state: String,
}

/// A signed assertion (`navigator.credentials.get()`) and the state of the ceremony it answers.
/// Parsed strictly (see [`credential_shape`]) wherever it appears, even where it then goes
/// unused (a second factor sent for an account without one).
#[derive(Debug)]
pub struct Assertion {
    pub credential: Box<PublicKeyCredential>,
    pub state: String,
}

/// A new credential (`navigator.credentials.create()`) and its ceremony's state.
#[derive(Debug)]
pub struct Attestation {
    pub credential: Box<RegisterPublicKeyCredential>,
    pub state: String,
}

/// The JSON a credential and its state arrive in, before their shape is checked.
#[derive(Deserialize)]
struct RawCeremony {
    credential: serde_json::Value,
    state: String,
}

impl Assertion {
    /// From the JSON of `credential.toJSON()` and the options' state.
    pub fn from_parts(credential: serde_json::Value, state: String) -> Result<Self, String> {
        Ok(Self {
            credential: Box::new(checked(credential, &state, "authenticatorData")?),
            state,
        })
    }
}

impl<'de> Deserialize<'de> for Assertion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawCeremony::deserialize(d)?;
        Self::from_parts(raw.credential, raw.state).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Attestation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawCeremony::deserialize(d)?;
        let credential = checked(raw.credential, &raw.state, "attestationObject")
            .map_err(serde::de::Error::custom)?;
        Ok(Self {
            credential: Box::new(credential),
            state: raw.state,
        })
    }
}

/// A credential checked against the shape the API documents, then parsed.
fn checked<T: serde::de::DeserializeOwned>(
    credential: serde_json::Value,
    state: &str,
    kind_field: &str,
) -> Result<T, String> {
    if state.is_empty() {
        return Err("`state` must not be empty".into());
    }
    credential_shape(&credential, kind_field)?;
    serde_json::from_value(credential).map_err(|e| format!("credential: {e}"))
}

/// `PublicKeyCredential.toJSON()`'s shape, as the API documents it: `type` `public-key`; `id`,
/// `rawId` and the response's binary fields base64url strings, `kind_field` (the assertion's
/// `authenticatorData` or the registration's `attestationObject`) among them; the optional
/// fields of the right type when present. Extra fields pass.
fn credential_shape(c: &serde_json::Value, kind_field: &str) -> Result<(), String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;
    let b64 = |v: Option<&Value>, name: &str, required: bool| -> Result<(), String> {
        match v {
            None if !required => Ok(()),
            // Decoded as the credential's parser will: canonical, unpadded.
            Some(Value::String(s)) if URL_SAFE_NO_PAD.decode(s).is_ok() => Ok(()),
            _ => Err(format!(
                "credential: `{name}` must be a base64url string without padding"
            )),
        }
    };
    let object = c.as_object().ok_or("credential must be an object")?;
    if object.get("type").and_then(Value::as_str) != Some("public-key") {
        return Err("credential: `type` must be `public-key`".into());
    }
    b64(object.get("id"), "id", true)?;
    b64(object.get("rawId"), "rawId", true)?;
    if !matches!(
        object.get("authenticatorAttachment"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return Err("credential: `authenticatorAttachment` must be a string or null".into());
    }
    if !matches!(
        object.get("clientExtensionResults"),
        None | Some(Value::Object(_))
    ) {
        return Err("credential: `clientExtensionResults` must be an object".into());
    }
    let response = object
        .get("response")
        .and_then(Value::as_object)
        .ok_or("credential: `response` must be an object")?;
    for name in [
        "clientDataJSON",
        "attestationObject",
        "authenticatorData",
        "signature",
    ] {
        let required = name == "clientDataJSON"
            || name == kind_field
            || (kind_field == "authenticatorData" && name == "signature");
        b64(response.get(name), name, required)?;
    }
    if !matches!(response.get("userHandle"), None | Some(Value::Null)) {
        b64(response.get("userHandle"), "userHandle", true)?;
    }
    match response.get("transports") {
        None => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err("credential: `transports` must be an array of strings".into()),
    }
}

/// What a ceremony is for; a state made for one is refused by the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Register,
    SignUp,
    /// Passwordless sign-in, and re-authentication with a passkey.
    SignIn,
    /// After a correct password, for the account's own passkeys.
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignUp => "signup",
            Self::SignIn => "signin",
            Self::SecondFactor => "second_factor",
        }
    }
}

/// Kept between the steps of a registration.
#[derive(Serialize, Deserialize)]
struct RegistrationPayload {
    registration: RegistrationState,
}

/// Kept between the steps of a sign-up: the account to create once the passkey is made.
#[derive(Serialize, Deserialize)]
struct SignUpPayload {
    registration: RegistrationState,
    user_id: String,
    email: String,
    name: String,
    invite_code: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AuthenticationPayload {
    authentication: AuthenticationState,
}

fn challenge_id(state: &AppState, token: &str) -> String {
    state
        .code_key
        .mac_hex(format!("webauthn:{token}").as_bytes())
}

/// Stores a ceremony's state; the token for the client.
fn store(
    state: &AppState,
    conn: &mut DbConnection,
    purpose: Purpose,
    user_id: Option<&str>,
    payload: &impl Serialize,
) -> Result<String, ApiError> {
    let token = b64(&crate::crypto::random_bytes::<32>());
    let now = db::now();
    let expires_at = now
        + chrono::Duration::from_std(CHALLENGE_TTL).unwrap_or_else(|_| chrono::Duration::zero());
    let payload = serde_json::to_string(payload).map_err(|e| ApiError::Internal(e.into()))?;
    let id = challenge_id(state, &token);
    db::write_statement(conn, |conn| {
        db::passkeys::insert_challenge(
            conn,
            &db::passkeys::NewChallenge {
                id: &id,
                purpose: purpose.as_str(),
                user_id,
                state: &payload,
                created_at: now,
                expires_at,
            },
        )
    })?;
    Ok(token)
}

/// Stores the ceremony's state and pairs its token with the options for the browser.
fn issue_options(
    state: &AppState,
    conn: &mut DbConnection,
    purpose: Purpose,
    user_id: Option<&str>,
    payload: &impl Serialize,
    public_key: serde_json::Value,
) -> Result<Options, ApiError> {
    let token = store(state, conn, purpose, user_id, payload)?;
    Ok(Options {
        public_key,
        state: token,
    })
}

/// A passkey audit event (`method` `passkey`).
fn record(
    conn: &mut DbConnection,
    client: &ClientInfo,
    kind: &'static str,
    outcome: &str,
    user_id: Option<&str>,
) {
    audit::record(
        conn,
        client,
        Event {
            kind,
            outcome,
            user_id,
            session_id: None,
            method: Some("passkey"),
        },
    );
}

fn refused(code: &'static str, message: &'static str) -> ApiError {
    ApiError::validation(code, message)
}

/// Takes the ceremony state the token names, once, committed at once (outside any transaction of
/// the caller, so a ceremony that then fails has still spent its challenge): 400 `challenge_invalid` for a token that was
/// never issued (or for another ceremony), `challenge_used` for a second use, `challenge_expired`
/// past [`CHALLENGE_TTL`].
fn take<T: serde::de::DeserializeOwned>(
    state: &AppState,
    conn: &mut DbConnection,
    token: &str,
    purposes: &[Purpose],
) -> Result<(db::passkeys::ChallengeRow, T), ApiError> {
    let invalid = || {
        refused(
            "challenge_invalid",
            "the passkey request's state is unknown; start again from the options call",
        )
    };
    if token.is_empty() || token.len() > 64 {
        return Err(invalid());
    }
    let id = challenge_id(state, token);
    let row = db::passkeys::find_challenge(conn, &id)?.ok_or_else(invalid)?;
    if !purposes.iter().any(|p| p.as_str() == row.purpose) {
        return Err(invalid());
    }
    let used = || {
        refused(
            "challenge_used",
            "this passkey challenge was already used; start again from the options call",
        )
    };
    if row.used_at.is_some() {
        return Err(used());
    }
    let now = db::now();
    if row.expires_at <= now {
        return Err(refused(
            "challenge_expired",
            "the passkey challenge expired (5 minutes); start again from the options call",
        ));
    }
    if !db::write_statement(conn, |conn| db::passkeys::use_challenge(conn, &id, now))? {
        return Err(used());
    }
    let payload = serde_json::from_str(&row.state).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((row, payload))
}

/// The library's verdict as the client's error: what the client (or an attacker) sent wrong.
fn rejection(e: WebauthnError) -> ApiError {
    tracing::info!(error = ?e, "passkey ceremony refused");
    match e {
        WebauthnError::InvalidRPOrigin => refused(
            "passkey_origin_mismatch",
            "the passkey was used on a page whose origin is not allowed",
        ),
        WebauthnError::InvalidRPIDHash => refused(
            "passkey_rp_id_mismatch",
            "the passkey answer is for another relying party ID",
        ),
        WebauthnError::MismatchedChallenge => refused(
            "challenge_mismatch",
            "the passkey answer signs another challenge than this state's",
        ),
        WebauthnError::CredentialPossibleCompromise => ApiError::PasskeyRejected {
            code: "passkey_cloned",
            message: "the passkey's signature counter went backwards (a copy of it may be in use); the sign-in was refused",
        },
        WebauthnError::CredentialExcludedFromRequest => already_registered(),
        WebauthnError::UserNotVerified => ApiError::PasskeyRejected {
            code: "user_verification_required",
            message: "this passkey was registered with user verification (PIN or biometrics) and must keep using it",
        },
        WebauthnError::CredentialAlteredAlgFromRequest
        | WebauthnError::InvalidClientDataType
        | WebauthnError::ParseNOMFailure
        | WebauthnError::ParseCBORFailure(_)
        | WebauthnError::ParseJSONFailure(_)
        | WebauthnError::MissingAttestationCredentialData => refused(
            "invalid_request",
            "the passkey credential is malformed or not what was asked for",
        ),
        _ => ApiError::PasskeyRejected {
            code: "passkey_invalid",
            message: "the passkey answer did not verify",
        },
    }
}

/// A passkey refusal to a caller who is signed in (registering, re-authenticating): 400, not
/// 401, which would read as an ended session and make a client refresh and retry.
fn signed_in_refusal(e: ApiError) -> ApiError {
    match e {
        ApiError::PasskeyRejected { code, message } => ApiError::validation(code, message),
        other => other,
    }
}

fn already_registered() -> ApiError {
    ApiError::Conflict {
        code: "passkey_already_registered",
        message: "this passkey is already registered".into(),
    }
}

fn unknown_passkey() -> ApiError {
    ApiError::PasskeyRejected {
        code: "unknown_passkey",
        message: "this passkey is not registered here (it may have been removed)",
    }
}

/// The WebAuthn user handle of an account: its id's 16 bytes.
fn user_handle(user_id: &str) -> Result<Vec<u8>, ApiError> {
    uuid::Uuid::parse_str(user_id)
        .map(|u| u.as_bytes().to_vec())
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Options as sent to the browser, with `authenticatorSelection.residentKey` "preferred": a
/// discoverable credential (sign-in without typing a name) where the authenticator can hold one.
fn creation_options(
    state: &AppState,
    user_id: &str,
    email: &str,
    display_name: &str,
    exclude: Vec<Vec<u8>>,
) -> Result<(serde_json::Value, RegistrationState), ApiError> {
    let core = state.relying_party.core()?;
    let builder = core
        .new_challenge_register_builder(&user_handle(user_id)?, email, display_name)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("passkey options: {e:?}")))?
        .attestation(AttestationConveyancePreference::None)
        .user_verification_policy(UserVerificationPolicy::Preferred)
        .credential_algorithms(vec![
            COSEAlgorithm::ES256,
            COSEAlgorithm::EDDSA,
            COSEAlgorithm::RS256,
        ])
        .exclude_credentials(Some(exclude));
    let (mut options, registration) = core
        .generate_challenge_register(builder)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("passkey options: {e:?}")))?;
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
    }
    let json =
        serde_json::to_value(&options.public_key).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((json, registration))
}

/// Request options for `credentials`' owners (empty: any discoverable passkey of this RP).
fn request_options(
    state: &AppState,
    credentials: Vec<Credential>,
) -> Result<(serde_json::Value, AuthenticationState), ApiError> {
    let core = state.relying_party.core()?;
    let builder = core
        .new_challenge_authenticate_builder(credentials, Some(UserVerificationPolicy::Preferred))
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("passkey options: {e:?}")))?;
    let (options, authentication) = core
        .generate_challenge_authenticate(builder)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("passkey options: {e:?}")))?;
    let json =
        serde_json::to_value(&options.public_key).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((json, authentication))
}

fn stored_credential(row: &PasskeyRow) -> Result<Credential, ApiError> {
    serde_json::from_str(&row.credential).map_err(|e| ApiError::Internal(e.into()))
}

/// A passkey as the API shows it: no key material.
#[derive(Debug, Serialize)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub aaguid: String,
    /// The authenticator's product, when its AAGUID is a known one.
    pub authenticator: Option<&'static str>,
    /// Synced to the provider's cloud (a multi-device passkey) rather than bound to one device.
    pub backed_up: bool,
    /// The authenticator verified the user (PIN, biometrics) when the passkey was made.
    pub user_verified: bool,
}

impl From<PasskeyRow> for PasskeyView {
    fn from(row: PasskeyRow) -> Self {
        Self {
            authenticator: authenticator_name(&row.aaguid),
            id: row.id,
            name: row.name,
            created_at: users::rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(users::rfc3339),
            aaguid: row.aaguid,
            backed_up: row.backed_up,
            user_verified: row.user_verified,
        }
    }
}

/// Well-known AAGUIDs of passkey providers, so a list of passkeys reads as something a person
/// recognises. Unknown ones (and the all-zero AAGUID of attestation `none`) show no name.
fn authenticator_name(aaguid: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        (
            "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4",
            "Google Password Manager",
        ),
        ("adce0002-35bc-c60a-648b-0b25f1f05503", "Chrome on Mac"),
        ("fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "iCloud Keychain"),
        ("08987058-cadc-4b81-b6e1-30de50dcbe96", "Windows Hello"),
        ("9ddd1817-af5a-4672-a2b9-3e3dd95000a9", "Windows Hello"),
        ("6028b017-b1d4-4c02-b4b3-afcdafc96bb2", "Windows Hello"),
        ("bada5566-a7aa-401f-bd96-45619a55120d", "1Password"),
        ("d548826e-79b4-db40-a3d8-11116f7e8349", "Bitwarden"),
        ("531126d6-e717-415c-9320-3d9aa6981239", "Dashlane"),
        ("53414d53-554e-4700-0000-000000000000", "Samsung Pass"),
    ];
    KNOWN.iter().find(|(id, _)| *id == aaguid).map(|(_, n)| *n)
}

/// The AAGUID in a registration's attested credential data (bytes 37..53 of the authenticator
/// data inside the CBOR attestation object); the nil UUID when absent.
fn aaguid(credential: &RegisterPublicKeyCredential) -> String {
    let object: Result<serde_cbor_2::Value, _> =
        serde_cbor_2::from_slice(credential.response.attestation_object.as_ref());
    let auth_data = match object {
        Ok(serde_cbor_2::Value::Map(map)) => map
            .get(&serde_cbor_2::Value::Text("authData".into()))
            .and_then(|v| match v {
                serde_cbor_2::Value::Bytes(b) => Some(b.clone()),
                _ => None,
            }),
        _ => None,
    };
    auth_data
        .and_then(|d| d.get(37..53).map(<[u8]>::to_vec))
        .and_then(|b| uuid::Uuid::from_slice(&b).ok())
        .unwrap_or_default()
        .to_string()
}

/// A passkey's name as given: trimmed, 1 to 64 characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "invalid_name",
            "a passkey name is 1 to 64 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Creation options for a new passkey of the signed-in user, after full re-authentication.
pub fn registration_options(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    proof: &Reauth,
) -> Result<Options, ApiError> {
    let user = crate::service::mfa::reauthenticate(state, conn, client, user_id, proof)?;
    let existing = db::passkeys::for_user(conn, &user.id)?;
    if i64::try_from(existing.len()).unwrap_or(i64::MAX) >= MAX_PASSKEYS {
        return Err(ApiError::Conflict {
            code: "too_many_passkeys",
            message: format!("an account holds at most {MAX_PASSKEYS} passkeys; remove one first"),
        });
    }
    let exclude = existing
        .iter()
        .map(|p| stored_credential(p).map(|c| c.cred_id.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    let (public_key, registration) =
        creation_options(state, &user.id, &user.email, &user.name, exclude)?;
    issue_options(
        state,
        conn,
        Purpose::Register,
        Some(&user.id),
        &RegistrationPayload { registration },
        public_key,
    )
}

/// A registered passkey, and the recovery codes issued with it when it was the account's first
/// second factor (shown once).
pub struct Registered {
    pub passkey: PasskeyView,
    pub recovery_codes: Option<Vec<String>>,
}

/// Verifies a new credential against the options the user was given and stores it.
pub fn register(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    attestation: &Attestation,
    name: Option<String>,
) -> Result<Registered, ApiError> {
    let (row, payload): (_, RegistrationPayload) =
        take(state, conn, &attestation.state, &[Purpose::Register])?;
    if row.user_id.as_deref() != Some(user_id) {
        return Err(refused(
            "challenge_invalid",
            "the passkey request's state is unknown; start again from the options call",
        ));
    }
    db::write_transaction(conn, |conn| {
        let user = users::active(conn, user_id)?;
        let had_second_factor = has_second_factor(conn, &user)?;
        let passkey = store_credential(
            state,
            conn,
            &user.id,
            &attestation.credential,
            &payload.registration,
            name,
        )
        .map_err(signed_in_refusal)?;
        let recovery_codes = if had_second_factor {
            None
        } else {
            Some(crate::service::mfa::issue_recovery_codes(
                state, conn, &user.id,
            )?)
        };
        security::queue_change(state, conn, &user, client, Change::PasskeyAdded)?;
        record(conn, client, "passkey_added", "success", Some(&user.id));
        Ok(Registered {
            passkey,
            recovery_codes,
        })
    })
}

/// Checks the attestation and inserts the passkey, in the caller's transaction.
fn store_credential(
    state: &AppState,
    conn: &mut DbConnection,
    user_id: &str,
    credential: &RegisterPublicKeyCredential,
    registration: &RegistrationState,
    name: Option<String>,
) -> Result<PasskeyView, ApiError> {
    // Told apart before the library, which reports an excluded credential as an altered
    // algorithm; the unique index below stands behind it whatever id the client claims.
    if db::passkeys::find_by_credential_id(conn, &b64(&credential.raw_id))?.is_some() {
        return Err(already_registered());
    }
    let verified = state
        .relying_party
        .core()?
        .register_credential(credential, registration, None)
        .map_err(rejection)?;
    let aaguid = aaguid(credential);
    let name = match name {
        Some(n) => n,
        None => authenticator_name(&aaguid).unwrap_or("Passkey").to_owned(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let credential_id = b64(verified.cred_id.as_ref());
    let json = serde_json::to_string(&verified).map_err(|e| ApiError::Internal(e.into()))?;
    let now = db::now();
    match db::passkeys::insert(
        conn,
        &db::passkeys::NewPasskey {
            id: &id,
            user_id,
            credential_id: &credential_id,
            credential: &json,
            name: &name,
            aaguid: &aaguid,
            backed_up: verified.backup_state,
            user_verified: verified.user_verified,
            created_at: now,
        },
    ) {
        Ok(()) => {}
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => return Err(already_registered()),
        Err(e) => return Err(e.into()),
    }
    let row = db::passkeys::find_own(conn, user_id, &id)?.ok_or(ApiError::NotFound)?;
    Ok(row.into())
}

/// Whether a password sign-in of the account needs a second factor: TOTP or a passkey.
pub fn has_second_factor(conn: &mut DbConnection, user: &UserRow) -> Result<bool, ApiError> {
    Ok(user.totp_secret.is_some() || db::passkeys::count_for_user(conn, &user.id)? > 0)
}

pub fn list(conn: &mut DbConnection, user_id: &str) -> Result<Vec<PasskeyView>, ApiError> {
    users::active(conn, user_id)?;
    Ok(db::passkeys::for_user(conn, user_id)?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub fn rename(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    id: &str,
    name: &str,
) -> Result<PasskeyView, ApiError> {
    db::write_transaction(conn, |conn| {
        let user = users::active(conn, user_id)?;
        if db::passkeys::rename(conn, user_id, id, name)? == 0 {
            return Err(ApiError::NotFound);
        }
        security::queue_change(state, conn, &user, client, Change::PasskeyRenamed)?;
        let row = db::passkeys::find_own(conn, user_id, id)?.ok_or(ApiError::NotFound)?;
        Ok(row.into())
    })
}

/// Removes a passkey after full re-authentication. 409 `last_sign_in_method` when it is the
/// last passkey of an account without a password; the recovery codes go with the last second
/// factor.
pub fn remove(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user_id: &str,
    id: &str,
    proof: &Reauth,
) -> Result<(), ApiError> {
    if db::passkeys::find_own(conn, user_id, id)?.is_none() {
        return Err(ApiError::NotFound);
    }
    let user = crate::service::mfa::reauthenticate(state, conn, client, user_id, proof)?;
    db::write_transaction(conn, |conn| {
        let count = db::passkeys::count_for_user(conn, &user.id)?;
        if count <= 1 && !user.has_password {
            return Err(ApiError::Conflict {
                code: "last_sign_in_method",
                message: "this is the account's only way to sign in: set a password (through a password reset) or add another passkey first".into(),
            });
        }
        if db::passkeys::delete_own(conn, &user.id, id)? == 0 {
            return Err(ApiError::NotFound);
        }
        if count <= 1 && user.totp_secret.is_none() {
            db::recovery_codes::delete_all(conn, &user.id)?;
        }
        security::queue_change(state, conn, &user, client, Change::PasskeyRemoved)?;
        record(conn, client, "passkey_removed", "success", Some(&user.id));
        Ok(())
    })
}

/// Request options for a passwordless sign-in (or a re-authentication with a passkey): no user
/// named, so any discoverable passkey of this relying party can answer, and the browser may
/// offer them as autofill (conditional mediation).
pub fn sign_in_options(state: &AppState, conn: &mut DbConnection) -> Result<Options, ApiError> {
    let (public_key, authentication) = request_options(state, Vec::new())?;
    issue_options(
        state,
        conn,
        Purpose::SignIn,
        None,
        &AuthenticationPayload { authentication },
        public_key,
    )
}

/// A verified assertion: whose passkey, and whether the authenticator verified the user.
pub struct Verified {
    pub user: UserRow,
    pub user_verified: bool,
}

/// Verifies an assertion against its ceremony and the stored passkey, then records the new
/// counter. With `owner`, the passkey must be that user's.
fn verify(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    assertion: &Assertion,
    purposes: &[Purpose],
    owner: Option<&str>,
) -> Result<Verified, ApiError> {
    let (row, payload): (_, AuthenticationPayload) = take(state, conn, &assertion.state, purposes)?;
    let credential = &assertion.credential;
    let stored_row =
        db::passkeys::find_by_credential_id(conn, &b64(credential.get_credential_id()))?
            .filter(|p| owner.is_none_or(|o| o == p.user_id))
            .filter(|p| row.user_id.as_deref().is_none_or(|u| u == p.user_id))
            .ok_or_else(unknown_passkey)?;
    if let Some(handle) = credential.get_user_unique_id() {
        if handle != user_handle(&stored_row.user_id)?.as_slice() {
            return Err(unknown_passkey());
        }
    }
    let user = db::users::find_by_id(conn, &stored_row.user_id)?.ok_or_else(unknown_passkey)?;
    let mut stored = stored_credential(&stored_row)?;
    let result = match state.relying_party.core()?.authenticate_single_credential(
        credential,
        &payload.authentication,
        &stored,
    ) {
        Ok(r) => r,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            tracing::warn!(
                user_id = %user.id,
                passkey = %stored_row.id,
                "passkey signature counter went backwards: possible clone"
            );
            record(conn, client, "signin", "passkey_cloned", Some(&user.id));
            db::write_transaction(conn, |conn| {
                security::queue_change(state, conn, &user, client, Change::PasskeyCloned)
            })?;
            return Err(rejection(WebauthnError::CredentialPossibleCompromise));
        }
        Err(e) => return Err(rejection(e)),
    };
    stored.counter = result.counter();
    stored.backup_state = result.backup_state();
    stored.backup_eligible = result.backup_eligible();
    let updated = serde_json::to_string(&stored).map_err(|e| ApiError::Internal(e.into()))?;
    let recorded = db::write_statement(conn, |conn| {
        db::passkeys::record_use(
            conn,
            &stored_row.id,
            &stored_row.credential,
            &updated,
            result.backup_state(),
            db::now(),
        )
    })?;
    if !recorded {
        // Another assertion of this passkey was recorded since it was read: a concurrent use
        // with the same counter is what a clone looks like.
        return Err(rejection(WebauthnError::CredentialPossibleCompromise));
    }
    Ok(Verified {
        user,
        user_verified: result.user_verified(),
    })
}

/// A passwordless sign-in: the assertion is verified, then the session opens as a password
/// sign-in's does. `amr` is `webauthn`; `aal2` when the authenticator verified the user.
pub fn sign_in(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    assertion: &Assertion,
    remember_me: bool,
) -> Result<Issued, ApiError> {
    let result = sign_in_checked(state, conn, client, assertion, remember_me);
    crate::service::accounts::count_sign_in(state, &result);
    result
}

fn sign_in_checked(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    assertion: &Assertion,
    remember_me: bool,
) -> Result<Issued, ApiError> {
    let verified = match verify(state, conn, client, assertion, &[Purpose::SignIn], None) {
        Ok(v) => v,
        Err(e) => {
            if matches!(e, ApiError::PasskeyRejected { code, .. } if code != "passkey_cloned") {
                record(conn, client, "signin", e.code(), None);
            }
            return Err(e);
        }
    };
    let user = verified.user;
    crate::service::accounts::ensure_may_sign_in(state, conn, client, &user, "passkey")?;
    let aal = if verified.user_verified {
        "aal2"
    } else {
        "aal1"
    };
    crate::service::accounts::open_session(
        state,
        conn,
        client,
        &user,
        remember_me,
        &["webauthn"],
        aal,
        "passkey",
    )
}

/// The passkey continuation of a password sign-in that needs a second factor: request options
/// listing the account's passkeys (the password was right, so naming them reveals nothing new).
/// `None` for an account without passkeys.
pub fn second_factor_options(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<Option<Options>, ApiError> {
    let credentials = db::passkeys::for_user(conn, &user.id)?
        .iter()
        .map(stored_credential)
        .collect::<Result<Vec<_>, _>>()?;
    if credentials.is_empty() {
        return Ok(None);
    }
    let (public_key, authentication) = request_options(state, credentials)?;
    issue_options(
        state,
        conn,
        Purpose::SecondFactor,
        Some(&user.id),
        &AuthenticationPayload { authentication },
        public_key,
    )
    .map(Some)
}

/// What a sign-in needing a second factor tells the client: the factors the account has, and
/// the passkey options when it has passkeys.
pub fn mfa_challenge(
    state: &AppState,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<MfaChallenge, ApiError> {
    let passkey = second_factor_options(state, conn, user)?;
    let mut factors = Vec::new();
    if user.totp_secret.is_some() {
        factors.push("totp");
    }
    if passkey.is_some() {
        factors.push("passkey");
    }
    if db::recovery_codes::remaining(conn, &user.id)? > 0 {
        factors.push("recovery_code");
    }
    Ok(MfaChallenge {
        factors,
        passkey: passkey
            .map(|o| serde_json::to_value(o).map_err(|e| ApiError::Internal(e.into())))
            .transpose()?,
    })
}

/// A passkey as the second factor of `user`'s sign-in (outside any transaction): any of the
/// user's passkeys, answering either the continuation's challenge or a discoverable one.
pub fn check_second_factor(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user: &UserRow,
    assertion: &Assertion,
) -> Result<(), ApiError> {
    verify(
        state,
        conn,
        client,
        assertion,
        &[Purpose::SecondFactor, Purpose::SignIn],
        Some(&user.id),
    )
    .map(drop)
}

/// A passkey assertion as full re-authentication (in place of the password and code): one of
/// the user's own passkeys, with user verification (possession and PIN or biometrics: two
/// factors in one gesture).
pub fn reauthenticate(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    user: &UserRow,
    assertion: &Assertion,
) -> Result<(), ApiError> {
    let verified = verify(
        state,
        conn,
        client,
        assertion,
        &[Purpose::SignIn, Purpose::SecondFactor],
        Some(&user.id),
    )
    .map_err(signed_in_refusal)?;
    if !verified.user_verified {
        return Err(ApiError::validation(
            "reauthentication_required",
            "re-authenticating with a passkey needs user verification (PIN or biometrics); use the password instead",
        ));
    }
    Ok(())
}

/// A sign-up with a passkey instead of a password.
pub struct PasskeySignUp {
    pub email: Email,
    pub name: DisplayName,
    pub invite_code: Option<String>,
}

/// Creation options for the account to be. Nothing is written but the ceremony state: the
/// account is created when the passkey is (a taken address answers then, as `signup/` does).
pub fn sign_up_options(
    state: &AppState,
    conn: &mut DbConnection,
    input: PasskeySignUp,
) -> Result<Options, ApiError> {
    let user_id = uuid::Uuid::new_v4().to_string();
    let (public_key, registration) = creation_options(
        state,
        &user_id,
        input.email.as_str(),
        input.name.as_str(),
        Vec::new(),
    )?;
    issue_options(
        state,
        conn,
        Purpose::SignUp,
        None,
        &SignUpPayload {
            registration,
            user_id,
            email: input.email.as_str().to_owned(),
            name: input.name.as_str().to_owned(),
            invite_code: input.invite_code,
        },
        public_key,
    )
}

/// A passkey sign-up's outcome: the account, its session (none while the address must be
/// verified first) and its first recovery codes.
pub struct SignedUp {
    pub user: UserRow,
    pub issued: Option<Issued>,
    pub recovery_codes: Vec<String>,
}

/// Creates the account with its passkey. `unusable_hash` is a password hash of random bytes
/// nobody knows (the account has no password until one is set through a reset).
pub fn sign_up(
    state: &AppState,
    conn: &mut DbConnection,
    client: &ClientInfo,
    attestation: &Attestation,
    unusable_hash: &str,
) -> Result<SignedUp, ApiError> {
    let (_, payload): (_, SignUpPayload) =
        take(state, conn, &attestation.state, &[Purpose::SignUp])?;
    let record = crate::service::accounts::SignUpRecord {
        id: &payload.user_id,
        email: &payload.email,
        name: &payload.name,
        contact: None,
        invite_code: payload.invite_code.as_deref(),
        has_password: false,
        remember_me: false,
    };
    let (user, issued, recovery_codes) = crate::service::accounts::create_signed_up(
        state,
        conn,
        client,
        &record,
        unusable_hash,
        &["webauthn"],
        "passkey",
        |conn, user| {
            let passkey = store_credential(
                state,
                conn,
                &user.id,
                &attestation.credential,
                &payload.registration,
                None,
            )?;
            let codes = crate::service::mfa::issue_recovery_codes(state, conn, &user.id)?;
            let aal = if passkey.user_verified {
                "aal2"
            } else {
                "aal1"
            };
            Ok((codes, aal))
        },
    )?;
    Ok(SignedUp {
        user,
        issued,
        recovery_codes,
    })
}
