// Generated from openapi.yml by clients/js/scripts/gen-types.mjs: do not edit by hand.
// authgate API 0.1.0: the schemas, and the request body and success answer
// of every operation under /api/v1/auth/ (`Operations`). Regenerate after changing openapi.yml:
//   node clients/js/scripts/gen-types.mjs

export type Accepted = {
  message: string;
};

/** An account's ways in and second factors, never their secrets. */
export type AccountFactors = {
  /** False for an account made with a passkey until a password is set. */
  password: boolean;
  totp: boolean;
  /** The account's passkeys, without their keys. */
  passkeys: Passkey[];
  recovery_codes_left: number;
  phone: string | null;
};

export type AdminCreateInviteRequest = {
  uses?: number;
  /** Seconds until the code expires; left out, it never does. */
  expires_in?: number;
};

export type AdminCreateUserRequest = {
  email: string;
  /** Left out, the account is invited (mailed a code to set its password). */
  password?: string;
  /** Default, the address's local part. */
  name?: string;
  email_verified?: boolean;
  roles?: RoleName[];
};

export type AdminUpdateUserRequest = {
  name?: string;
  email_verified?: boolean;
  disabled?: boolean;
  roles?: RoleName[];
};

/** One account as an admin sees it: the user object (as `GET user/` shows it to its owner), whether it is disabled, its factors (never their secrets), live sessions and its latest 20 audit events. */
export type AdminUser = UserFields & {
  disabled: boolean;
  factors: AccountFactors;
  live_sessions: SessionInfo[];
  recent_events: AuditEvent[];
};

export type AdminUserPage = {
  items: AdminUserSummary[];
  /** Absent on the last page. */
  next_cursor?: string;
};

export type AdminUserSummary = {
  id: string;
  email: string;
  email_verified: boolean;
  name: string;
  disabled: boolean;
  has_password: boolean;
  totp_enabled: boolean;
  roles: RoleName[];
  created_at: string;
  last_sign_in_at: string | null;
};

export type AuditEvent = {
  id: string;
  at: string;
  kind: string;
  outcome: string;
  user_id: string | null;
  /** `cli`, `key:<id>`, `user:<id>` or `erased:<hash>` when an operator acted. */
  actor: string | null;
  method: string | null;
  ip: string | null;
  user_agent: string | null;
  session_id: string | null;
};

export type AuditPage = {
  items: AuditEvent[];
  /** Absent on the last page. */
  next_cursor?: string;
};

/** Bytes as base64url without padding (the WebAuthn JSON form), in its canonical spelling (the unused bits of the last character zero), as browsers write it. */
export type Base64Url = string;

export type BindPhoneRequest = {
  phone: string;
  code: string;
};

export type ChangePasswordRequest = {
  old_password: string;
  password: string;
};

/** One of `code`, or `codes` (two consecutive codes). */
export type ConfirmTotpRequest = {
  code?: string;
  codes?: string[];
};

export type Contact = {
  type: "wechat" | "qq" | "facebook" | "telegram";
  value: string;
};

/** A contact handle from a registration form. */
export type ContactInput = {
  type: "wechat" | "qq" | "facebook" | "telegram";
  /** 1 to 100 characters after trimming, no control characters. */
  value: string;
};

export type DataExport = {
  exported_at: string;
  user: User;
  factors: AccountFactors;
  sessions: ({
    id: string;
    created_at: string;
    last_used_at: string;
    expires_at: string;
    remember_me: boolean;
    amr: string[];
    aal: string;
    ip: string | null;
    user_agent: string | null;
    revoked_at: string | null;
    revoked_reason: string | null;
  })[];
  events: ({
    at: string;
    kind: string;
    outcome: string;
    method: string | null;
    ip: string | null;
    user_agent: string | null;
    session_id: string | null;
  })[];
  pending: {
    email_change: string | null;
    phone_binding: string | null;
    totp_enrollment: boolean;
  };
  messages: ({
    kind: string;
    to: string;
    subject: string;
    status: string;
    created_at: string;
    sent_at: string | null;
  })[];
  /** Events about the account queued for or sent to webhook endpoints (bodies held back). */
  webhooks: ({
    /** The `webhook-id` the endpoint received. */
    event_id: string;
    type: string | null;
    /** The endpoint's id in the settings, never its URL. */
    endpoint: string;
    status: string;
    created_at: string;
    sent_at: string | null;
  })[];
};

export type Discovery = {
  issuer: string;
  jwks_uri: string;
};

/** A P-256 key (ES256). */
export type EcJwk = {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
  kid: string;
  alg: "ES256";
  use: "sig";
};

/** An empty object; fields are ignored. */
export type EmptyRequest = Record<string, unknown>;

/** The envelope of every error response. */
export type Error = {
  /** A stable snake_case code, e.g. `invalid_credentials`. */
  error: string;
  /** A human sentence; never reveals which check failed or internal details. */
  message: string;
};

export type ForgotRequest = {
  email: string;
  /** Captcha token; absent or null is no token (see the conventions above). */
  captcha?: string | null;
};

export type Health = {
  status: "ok";
};

export type HistoryEntry = {
  at: string;
  /** The client IP (through trusted proxies), when known. */
  ip: string | null;
  user_agent: string | null;
  /** How the attempt authenticated, e.g. `password`. */
  method: string | null;
  /** e.g. `success`, `bad_password`, `disabled`. */
  outcome: string;
};

export type Identity = {
  id: string;
  provider: string;
  /** The address the provider gave at the last sign-in. */
  email: string | null;
  created_at: string;
  last_used_at: string | null;
};

/** An invitation code, named by a prefix of its hash. */
export type Invite = InviteFields;

export type InviteCreated = InviteFields & {
  /** The code to hand to the invitee; never shown again. */
  code: string;
};

export type InviteFields = {
  /** The first 16 hex digits of the code's SHA-256, naming it. */
  hash_prefix: string;
  uses: number;
  max_uses: number;
  expires_at: string | null;
  created_at: string;
};

export type InviteList = {
  items: Invite[];
};

/** A public signing key (RFC 7517), one of the supported key types. */
export type Jwk = OkpJwk | EcJwk | RsaJwk;

export type Jwks = {
  keys: Jwk[];
};

/** `return_to`, and the re-authentication of `ReauthRequest` (the password with a TOTP or recovery `code` when TOTP is on, or a `passkey`). An account with neither a password nor a passkey (made by a provider) needs none: its proof is that this session was opened in the last 10 minutes. */
export type LinkIdentityRequest = {
  /** Where the browser goes afterwards; allowed by `AUTHGATE_REDIRECT_URLS`. */
  return_to?: string;
  password?: string;
  code?: string;
  passkey?: PasskeyCredentialWithState;
};

export type LinkIdentityStarted = {
  /** The provider's authorization URL. */
  url: string;
};

/** The `mfa_required` answer of a password sign-in (`signin/`, the `token/` password grant) whose password was right: the `Error` envelope plus the second factors the account has and, when it has passkeys, request options for them. Repeat the same body with `code` (a TOTP or recovery code) or with `passkey` (an assertion made with these options and their `state`). */
export type MfaRequired = {
  error: "mfa_required";
  message: string;
  /** The second factors the account has. */
  factors: ("totp" | "passkey" | "recovery_code")[];
  passkey?: PasskeyRequestOptions;
};

/** An Ed25519 key (EdDSA). */
export type OkpJwk = {
  kty: "OKP";
  crv: "Ed25519";
  /** The public key, base64url without padding. */
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
};

/** A passkey of the caller. Credential ids and public keys are never shown. */
export type Passkey = PasskeyFields;

/** The `AuthenticationResponseJSON` of `navigator.credentials.get()`. */
export type PasskeyAssertionCredential = PasskeyCredential & {
  response?: Record<string, unknown>;
};

export type PasskeyCreationOptions = {
  publicKey: PublicKeyCredentialCreationOptionsJSON;
  /** Opaque; send it back unchanged with the credential. Single use, 5 minutes. */
  state: string;
};

/** A `PublicKeyCredential` as its `toJSON()` gives it (WebAuthn Level 3): the `RegistrationResponseJSON` of `navigator.credentials.create()` (the `response` has `attestationObject`) or the `AuthenticationResponseJSON` of `navigator.credentials.get()` (the `response` has `authenticatorData`, `signature` and `userHandle`). Binary values are base64url without padding. Fields that browsers or extensions add are accepted. */
export type PasskeyCredential = {
  id: Base64Url;
  rawId: Base64Url;
  type: "public-key";
  response: {
    clientDataJSON: Base64Url;
    attestationObject?: Base64Url;
    authenticatorData?: Base64Url;
    signature?: Base64Url;
    userHandle?: string | null;
    transports?: string[];
  };
  clientExtensionResults?: Record<string, unknown>;
  authenticatorAttachment?: string | null;
};

/** An assertion and the `state` of the options it answers. */
export type PasskeyCredentialWithState = {
  credential: PasskeyAssertionCredential;
  /** The `state` of the options answer, unchanged. */
  state: string;
};

/** The fields of a passkey (see `Passkey`). */
export type PasskeyFields = {
  /** authgate's id of the passkey (not the WebAuthn credential id). */
  id: string;
  name: string;
  created_at: string;
  /** When it was last used; null before its first use. */
  last_used_at: string | null;
  /** The authenticator model's AAGUID as it reported it (all zeros when it reported none). */
  aaguid: string;
  /** The authenticator's name, e.g. `Google Password Manager`, when its AAGUID is known; else null. */
  authenticator: string | null;
  /** The authenticator says the passkey is synced or backed up (a multi-device passkey). */
  backed_up: boolean;
  /** The authenticator verified the user (biometrics or a PIN) when the passkey was registered. */
  user_verified: boolean;
};

export type PasskeyList = {
  passkeys: Passkey[];
};

/** The passkey just registered; `recovery_codes` only when it was the account's first second factor (shown this once). */
export type PasskeyRegistration = PasskeyFields & {
  recovery_codes?: RecoveryCodeList;
};

/** The `RegistrationResponseJSON` of `navigator.credentials.create()`. */
export type PasskeyRegistrationCredential = PasskeyCredential & {
  response?: Record<string, unknown>;
};

/** A new credential and the `state` of the options it was made with. */
export type PasskeyRegistrationWithState = {
  credential: PasskeyRegistrationCredential;
  /** The `state` of the options answer, unchanged. */
  state: string;
};

export type PasskeyRequestOptions = {
  publicKey: PublicKeyCredentialRequestOptionsJSON;
  /** Opaque; send it back unchanged with the assertion. Single use, 5 minutes. */
  state: string;
};

export type PasskeySignInRequest = {
  credential: PasskeyAssertionCredential;
  /** The `state` of `signin/passkey/options/`, unchanged. */
  state: string;
  /** As at `signin/`. */
  remember_me?: boolean;
};

export type PasskeySignUpOptionsRequest = {
  /** Normalised and checked as at `signup/`; it becomes the passkey's user name. */
  email: string;
  /** Display name, as at `signup/`. */
  name: string;
  /** Invitation code; required when `AUTHGATE_INVITE_ONLY=true`. */
  invite_code?: string | null;
  /** Captcha response token; required when `AUTHGATE_CAPTCHA_PROVIDER` is set, ignored otherwise. */
  captcha?: string | null;
};

/** The user object of the new account and its ten recovery codes, shown this once. */
export type PasskeySignUpResult = UserFields & {
  recovery_codes: RecoveryCodeList;
};

export type PhoneBindingCodeRequest = {
  /** International form (`+` and country code); normalised to E.164. */
  phone: string;
  /** The current password (re-authentication; required unless `passkey` is given). */
  password?: string;
  /** A current TOTP code; required with `password` when TOTP is on. */
  code?: string;
  /** Re-authentication with a passkey instead of `password` and `code` (see `ReauthRequest`). */
  passkey?: PasskeyCredentialWithState;
};

export type PhoneRequest = {
  /** International form (`+` and country code); normalised to E.164. */
  phone: string;
  captcha?: string | null;
};

export type ProviderContinueRequest = {
  /** A TOTP or recovery code. */
  code?: string;
  passkey?: PasskeyCredentialWithState;
};

export type ProviderList = {
  providers: {
    id: string;
  }[];
};

/** WebAuthn Level 3 `PublicKeyCredentialCreationOptionsJSON`, ready for `PublicKeyCredential.parseCreationOptionsFromJSON()`. Binary values (`challenge`, `user.id`, `excludeCredentials[].id`) are base64url without padding. Members not listed here may appear. */
export type PublicKeyCredentialCreationOptionsJSON = {
  rp: {
    /** The relying party ID, `AUTHGATE_WEBAUTHN_RP_ID`. */
    id?: string;
    /** `AUTHGATE_WEBAUTHN_RP_NAME`. */
    name: string;
  };
  user: {
    id: Base64Url;
    /** The account's email. */
    name: string;
    displayName: string;
  };
  challenge: Base64Url;
  pubKeyCredParams: {
    type: "public-key";
    /** COSE algorithm; -7 (ES256), -8 (EdDSA), -257 (RS256). */
    alg: number;
  }[];
  timeout?: number | null;
  excludeCredentials?: PublicKeyCredentialDescriptorJSON[] | null;
  authenticatorSelection?: Record<string, unknown> | null;
  attestation?: string | null;
};

export type PublicKeyCredentialDescriptorJSON = {
  id: Base64Url;
  type: "public-key";
  transports?: string[] | null;
};

/** WebAuthn Level 3 `PublicKeyCredentialRequestOptionsJSON`, ready for `PublicKeyCredential.parseRequestOptionsFromJSON()`. Binary values (`challenge`, `allowCredentials[].id`) are base64url without padding. Members not listed here may appear. */
export type PublicKeyCredentialRequestOptionsJSON = {
  challenge: Base64Url;
  rpId?: string | null;
  timeout?: number | null;
  /** Absent or empty for a passwordless sign-in (discoverable credentials); the user's passkeys when a passkey is asked as the second factor. */
  allowCredentials?: PublicKeyCredentialDescriptorJSON[] | null;
  userVerification?: string | null;
};

export type Readiness = {
  status: "ready";
  /** Each check made and its result; an excluded check is absent. */
  checks: {
    database?: "ok";
    keys: "ok";
  };
};

/** Full re-authentication, one of two forms. Either the current `password`, and a current TOTP `code` or an unused recovery code, which it spends (required when TOTP is on, ignored otherwise); or `passkey`: an assertion by one of the caller's own passkeys made with user verification (biometrics or a PIN), with the options of `signin/passkey/options/` and their `state`, which stands for both (an account without a password re-authenticates this way). Without either, 400 `reauthentication_required`; a refused passkey answers as at `signin/passkey/`. */
export type ReauthRequest = {
  password?: string;
  code?: string;
  passkey?: PasskeyCredentialWithState;
};

/** Ten single-use recovery codes. */
export type RecoveryCodeList = string[];

export type RegisterPasskeyRequest = {
  credential: PasskeyRegistrationCredential;
  /** The `state` of `mfa/passkeys/register/options/`, unchanged. */
  state: string;
  /** 1 to 64 characters, no control characters. Absent or null names the passkey after its authenticator when it is known, else "Passkey". */
  name?: string | null;
};

export type RenamePasskeyRequest = {
  /** 1 to 64 characters, no control characters. */
  name: string;
};

export type ResendRequest = {
  /** The account's address, when the request carries no credentials (absent or null otherwise). */
  email?: string | null;
  /** Captcha token; absent or null is no token (see the conventions above). */
  captcha?: string | null;
};

export type ResetRequest = {
  email: string;
  /** The 6-digit code from the reset mail. */
  code: string;
  /** At least 8 characters, at most 1024 bytes. */
  password: string;
};

export type RevokeRequest = {
  token: string;
};

/** A role, a lower-case name carried in the `roles` claim. */
export type RoleName = string;

/** An RSA key (RS256). */
export type RsaJwk = {
  kty: "RSA";
  n: string;
  e: string;
  kid: string;
  alg: "RS256";
  use: "sig";
};

export type ServiceInfo = {
  name: "authgate";
  /** The crate version, e.g. `0.1.0`. */
  version: string;
  /** The server's current time (UTC, milliseconds). */
  now: string;
  /** The client IP as seen through the configured trusted proxies; null when unknown. */
  ip: string | null;
};

/** A live session, as `GET sessions/` lists it. */
export type SessionInfo = {
  id: string;
  created_at: string;
  last_used_at: string;
  ip: string | null;
  user_agent: string | null;
  remember_me: boolean;
  current: boolean;
};

export type SessionList = {
  sessions: SessionInfo[];
};

export type SignInRequest = {
  /** The account's email (normalised like at sign-up). Anything else answers 401 `invalid_credentials`. */
  login: string;
  /** Not empty, at most 1024 bytes (UTF-8). No minimum length is enforced at sign-in. */
  password: string;
  /** A persistent refresh cookie and the longer remember-me session lifetime (30 days by default). */
  remember_me?: boolean;
  /** Captcha response token (reCAPTCHA, hCaptcha or Turnstile); required when `AUTHGATE_CAPTCHA_PROVIDER` is set, ignored otherwise. */
  captcha?: string | null;
  /** TOTP code from the authenticator app, or an unused recovery code; one second factor (this or `passkey`) is required when the account has TOTP or passkeys. */
  code?: string | null;
  /** A passkey as the second factor, after 401 `mfa_required`, that is an assertion made with the answer's `passkey` options, and their `state`. Absent or null is none. */
  passkey?: PasskeyCredentialWithState | null;
};

export type SignUpRequest = {
  /** Normalised (trimmed, NFC, lower-cased) and checked loosely: one `@`, a local part of at most 64 bytes, a dotted domain, no spaces, control or invisible characters; at most 254 bytes. */
  email: string;
  /** At least 8 characters and at most 1024 bytes (UTF-8); every byte is significant. */
  password: string;
  /** Display name; 1 to 100 characters after trimming, no control or bidi-override characters. */
  name: string;
  contact?: ContactInput | null;
  /** Captcha response token (reCAPTCHA, hCaptcha or Turnstile); required when `AUTHGATE_CAPTCHA_PROVIDER` is set, ignored otherwise. */
  captcha?: string | null;
  /** Invitation code; required when `AUTHGATE_INVITE_ONLY=true`. */
  invite_code?: string | null;
};

export type SmsSignInRequest = {
  phone: string;
  /** The SMS code. */
  code: string;
  /** TOTP code; required when the account has TOTP enabled. */
  code_totp?: string | null;
  remember_me?: boolean;
};

export type TokenRequest = {
  grant_type: "password" | "refresh_token" | "passkey";
  /** Email (password grant). Fields of the other grant are ignored, and null is the same as absent, for every optional field. */
  login?: string | null;
  /** Password grant. */
  password?: string | null;
  /** Password and passkey grants; the session lives 30 days instead of 24 hours. */
  remember_me?: boolean;
  /** Refresh grant. */
  refresh_token?: string | null;
  /** TOTP or recovery code (password grant); a second factor (this or `passkey`) is required when the account has TOTP or passkeys; absent or null is no code (as on `signin/`). */
  code?: string | null;
  /** A passkey as the second factor of the password grant, after 401 `mfa_required` (as on `signin/`). */
  passkey?: PasskeyCredentialWithState | null;
  /** Passkey grant; the assertion as `PublicKeyCredential.toJSON()` gives it. */
  credential?: PasskeyAssertionCredential | null;
  /** Passkey grant; the `state` of `signin/passkey/options/`, unchanged. */
  state?: string | null;
  /** Captcha token; absent or null is no token (see the conventions above). */
  captcha?: string | null;
};

export type TokenResponse = {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  user: User;
};

export type TotpEnrollment = {
  /** The secret in base32, for manual entry. */
  secret: string;
  otpauth_url: string;
};

export type UpdateUserRequest = {
  /** The new display name; absent or null leaves it unchanged. */
  name?: string | null;
  /** An https URL, or null to remove the avatar. */
  avatar?: string | null;
  /** A new address: a code is mailed to it and the change applies on verification. Absent or null leaves the address unchanged. Requires `password` (and `code` with TOTP on). */
  email?: string | null;
  /** The current password; required with `email` (re-authentication) unless `passkey` is given. */
  password?: string | null;
  /** A current TOTP code; required with `email` and `password` when TOTP is on. */
  code?: string | null;
  /** Re-authentication with a passkey instead of `password` and `code` (see `ReauthRequest`); absent or null is none. */
  passkey?: PasskeyCredentialWithState | null;
};

/** The user object (the fields of `GET user/`), returned by sign-up and `GET user/`. */
export type User = UserFields;

/** The fields of the user object (see `User`); open, so that answers which add to it (`PasskeySignUpResult`) can say so. */
export type UserFields = {
  id: string;
  /** The normalised email address. */
  email: string;
  email_verified: boolean;
  name: string;
  avatar: string | null;
  /** E.164, or null. */
  phone: string | null;
  totp_enabled: boolean;
  /** Unused recovery codes (0 without a second factor). */
  recovery_codes_left: number;
  /** Whether the account has a password; false for an account created with a passkey (`signup/passkey/`), which signs in and re-authenticates with its passkeys. */
  has_password: boolean;
  /** The number of passkeys registered (`GET mfa/passkeys/` lists them). */
  passkeys: number;
  /** The account's roles (granted by an operator, or `AUTHGATE_DEFAULT_ROLES` at sign-up), as the next access token carries them in its `roles` claim. */
  roles: string[];
  /** Identities at providers linked to the account, oldest first. */
  identities: Identity[];
  /** The address an email change waits to move to (its code went there), until it is verified, cancelled (`DELETE user/email-change/`) or expires; else null. */
  pending_email: string | null;
  contact: Contact | null;
  created_at: string;
  updated_at: string;
  last_sign_in_at: string | null;
  /** The number of live sessions (not revoked, not expired, not idle). */
  sessions: number;
  /** The latest sign-in and sign-up attempts, newest first (at most 10). */
  history: HistoryEntry[];
};

export type VerifyEmailRequest = {
  /** The 6-digit code from the mail. */
  verification_code: string;
  /** The account's address, when the request carries no credentials. */
  email?: string;
};

export type WebhookMfaChanged = {
  type: "mfa.changed";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    factor: "totp" | "passkey" | "phone" | "recovery_codes" | "all";
    change: "added" | "removed" | "replaced" | "reset";
  };
};

export type WebhookPasswordChanged = {
  type: "password.changed";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    how: "changed" | "reset" | "operator";
  };
};

export type WebhookRoleChanged = {
  type: "role.changed";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    role: string;
    granted: boolean;
  };
};

export type WebhookSessionCreated = {
  type: "session.created";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    /** The session's id (the tokens' `sid`). */
    session_id: string;
    aal: "aal1" | "aal2";
    /** The methods used, as in the token's `amr`. */
    amr: string[];
  };
};

export type WebhookSessionRevoked = {
  type: "session.revoked";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    /** The session's id (the tokens' `sid`). */
    session_id: string;
    /** `logout`, `user_revoked`, `revoke_others`, `password_change`, `password_reset`, `expired`, `refresh_token_reused`, `user_disabled`, `roles_changed`, `admin_*`, ... */
    reason: string;
  };
};

export type WebhookUserCreated = {
  type: "user.created";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    email: string;
    email_verified: boolean;
    name: string;
    /** How it was made: `password`, `passkey`, `operator`, ... */
    method: string;
  };
};

export type WebhookUserDeleted = {
  type: "user.deleted";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
  };
};

export type WebhookUserDisabled = {
  type: "user.disabled";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    disabled: boolean;
  };
};

export type WebhookUserEmailChanged = {
  type: "user.email_changed";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    /** The address the account has now. */
    email: string;
    previous_email: string;
    reverted: boolean;
  };
};

export type WebhookUserUpdated = {
  type: "user.updated";
  /** When it happened (RFC 3339, UTC). */
  timestamp: string;
  data: {
    /** The account's id (the tokens' `sub`). */
    user_id: string;
    changed: ("name" | "avatar" | "email_verified")[];
  };
};

/** Every operation under /api/v1/auth/: method, path (below /api/v1/auth/), success statuses, request body (`never`: none) and success answer (`null`: no body). */
export interface Operations {
  /** Bind the phone number with the code it received */
  bindPhone: {
    method: "POST";
    path: "user/phone/";
    status: 200;
    request: BindPhoneRequest;
    response: User;
  };
  /** Cancel a pending email change */
  cancelEmailChange: {
    method: "DELETE";
    path: "user/email-change/";
    status: 204;
    request: never;
    response: null;
  };
  /** Change the password */
  changePassword: {
    method: "POST";
    path: "user/password/";
    status: 204;
    request: ChangePasswordRequest;
    response: null;
  };
  /** Enable TOTP with a code from the app */
  confirmTotp: {
    method: "POST";
    path: "mfa/totp/confirm/";
    status: 200;
    request: ConfirmTotpRequest;
    response: {
      recovery_codes: RecoveryCodeList;
    };
  };
  /** Remove one of the caller's passkeys */
  deletePasskey: {
    method: "DELETE";
    path: "mfa/passkeys/{id}/";
    status: 204;
    request: ReauthRequest;
    response: null;
  };
  /** Delete the account */
  deleteUser: {
    method: "DELETE";
    path: "user/";
    status: 204;
    request: ReauthRequest;
    response: null;
  };
  /** Turn TOTP off */
  disableTotp: {
    method: "DELETE";
    path: "mfa/totp/";
    status: 204;
    request: ReauthRequest;
    response: null;
  };
  /** Start TOTP enrollment */
  enrollTotp: {
    method: "POST";
    path: "mfa/totp/";
    status: 200;
    request: ReauthRequest;
    response: TotpEnrollment;
  };
  /** Export everything held about the account */
  exportUserData: {
    method: "POST";
    path: "user/export/";
    status: 200;
    request: ReauthRequest;
    response: DataExport;
  };
  /** Mail a password reset code */
  forgotPassword: {
    method: "POST";
    path: "password/forgot/";
    status: 202;
    request: ForgotRequest;
    response: Accepted;
  };
  /** Forward-auth check for reverse proxies */
  forwardAuth: {
    method: "GET";
    path: "verify/";
    status: 204;
    request: never;
    response: null;
  };
  /** Forward-auth check (POST, as some proxies send it) */
  forwardAuthPost: {
    method: "POST";
    path: "verify/";
    status: 204;
    request: never;
    response: null;
  };
  /** The signed-in user */
  getUser: {
    method: "GET";
    path: "user/";
    status: 200;
    request: never;
    response: User;
  };
  /** Link an identity at a provider to the signed-in account */
  linkIdentity: {
    method: "POST";
    path: "user/identities/{provider}/link/";
    status: 200;
    request: LinkIdentityRequest;
    response: LinkIdentityStarted;
  };
  /** The caller's passkeys */
  listPasskeys: {
    method: "GET";
    path: "mfa/passkeys/";
    status: 200;
    request: never;
    response: PasskeyList;
  };
  /** The identity providers users may sign in with */
  listProviders: {
    method: "GET";
    path: "oauth/providers/";
    status: 200;
    request: never;
    response: ProviderList;
  };
  /** The caller's live sessions */
  listSessions: {
    method: "GET";
    path: "sessions/";
    status: 200;
    request: never;
    response: SessionList;
  };
  /** End the session and clear the cookies */
  logout: {
    method: "POST";
    path: "custom-logout/";
    status: 204;
    request: never;
    response: null;
  };
  /** Start adding a passkey to the account */
  passkeyRegistrationOptions: {
    method: "POST";
    path: "mfa/passkeys/register/options/";
    status: 200;
    request: ReauthRequest;
    response: PasskeyCreationOptions;
  };
  /** Sign in with a passkey */
  passkeySignIn: {
    method: "POST";
    path: "signin/passkey/";
    status: 204;
    request: PasskeySignInRequest;
    response: null;
  };
  /** Start a passwordless sign-in with a passkey */
  passkeySignInOptions: {
    method: "POST";
    path: "signin/passkey/options/";
    status: 200;
    request: EmptyRequest;
    response: PasskeyRequestOptions;
  };
  /** Finish a sign-up with a passkey */
  passkeySignUp: {
    method: "POST";
    path: "signup/passkey/";
    status: 201;
    request: PasskeyRegistrationWithState;
    response: PasskeySignUpResult;
  };
  /** Start a sign-up with a passkey (no password) */
  passkeySignUpOptions: {
    method: "POST";
    path: "signup/passkey/options/";
    status: 200;
    request: PasskeySignUpOptionsRequest;
    response: PasskeyCreationOptions;
  };
  /** Give the second factor of a provider sign-in */
  providerContinue: {
    method: "POST";
    path: "oauth/continue/";
    status: 204;
    request: ProviderContinueRequest;
    response: null;
  };
  /** Rotate the session cookies */
  refreshSession: {
    method: "POST";
    path: "custom-refresh/";
    status: 204;
    request: never;
    response: null;
  };
  /** Finish adding a passkey */
  registerPasskey: {
    method: "POST";
    path: "mfa/passkeys/register/";
    status: 201;
    request: RegisterPasskeyRequest;
    response: PasskeyRegistration;
  };
  /** Rename one of the caller's passkeys */
  renamePasskey: {
    method: "PATCH";
    path: "mfa/passkeys/{id}/";
    status: 200;
    request: RenamePasskeyRequest;
    response: Passkey;
  };
  /** Create a new set of recovery codes */
  replaceRecoveryCodes: {
    method: "POST";
    path: "mfa/recovery-codes/";
    status: 200;
    request: ReauthRequest;
    response: {
      recovery_codes: RecoveryCodeList;
    };
  };
  /** Send a code to a new phone number */
  requestPhoneBindingCode: {
    method: "POST";
    path: "user/phone/code/";
    status: 202;
    request: PhoneBindingCodeRequest;
    response: Accepted;
  };
  /** Send a sign-in code by SMS */
  requestSmsCode: {
    method: "POST";
    path: "sms/code/";
    status: 202;
    request: PhoneRequest;
    response: Accepted;
  };
  /** Mail a new verification code */
  resendVerification: {
    method: "POST";
    path: "verify-email/resend/";
    status: 202;
    request: ResendRequest;
    response: Accepted;
  };
  /** Set a new password with a reset code */
  resetPassword: {
    method: "POST";
    path: "password/reset/";
    status: 204;
    request: ResetRequest;
    response: null;
  };
  /** Undo an email change from the old address */
  revertEmailChange: {
    method: "POST";
    path: "email-change/revert/";
    status: 204;
    request: {
      email: string;
      code: string;
    };
    response: null;
  };
  /** End every session of the caller but the current one */
  revokeOtherSessions: {
    method: "POST";
    path: "sessions/revoke-others/";
    status: 204;
    request: never;
    response: null;
  };
  /** End one of the caller's sessions */
  revokeSession: {
    method: "DELETE";
    path: "sessions/{id}/";
    status: 204;
    request: never;
    response: null;
  };
  /** End the session a token belongs to (RFC 7009 style) */
  revokeToken: {
    method: "POST";
    path: "token/revoke/";
    status: 200;
    request: RevokeRequest;
    response: null;
  };
  /** Sign in with email and password */
  signIn: {
    method: "POST";
    path: "signin/";
    status: 204;
    request: SignInRequest;
    response: null;
  };
  /** Create an account and sign it in */
  signUp: {
    method: "POST";
    path: "signup/";
    status: 201;
    request: SignUpRequest;
    response: User;
  };
  /** Sign in with an SMS code */
  smsSignIn: {
    method: "POST";
    path: "sms/signin/";
    status: 204;
    request: SmsSignInRequest;
    response: null;
  };
  /** Tokens in the body, for clients that keep them (mobile, CLI, servers) */
  token: {
    method: "POST";
    path: "token/";
    status: 200;
    request: TokenRequest;
    response: TokenResponse;
  };
  /** Remove the phone number */
  unbindPhone: {
    method: "DELETE";
    path: "user/phone/";
    status: 204;
    request: ReauthRequest;
    response: null;
  };
  /** Unlink one of the caller's identities */
  unlinkIdentity: {
    method: "DELETE";
    path: "user/identities/{id}/";
    status: 204;
    request: ReauthRequest;
    response: null;
  };
  /** Change name, avatar or email */
  updateUser: {
    method: "PATCH";
    path: "user/";
    status: 200;
    request: UpdateUserRequest;
    response: User;
  };
  /** Verify the address (or confirm a pending email change) with a mailed code */
  verifyEmail: {
    method: "POST";
    path: "verify-email/";
    status: 200;
    request: VerifyEmailRequest;
    response: User;
  };
}

/** The request body of an operation. */
export type RequestOf<K extends keyof Operations> = Operations[K]['request'];
/** The success answer of an operation. */
export type ResponseOf<K extends keyof Operations> = Operations[K]['response'];
