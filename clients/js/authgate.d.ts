import type * as Api from './api-types';

/** authgate's request and answer types, generated from its openapi.yml (`api-types.d.ts`). */
export type { Api };

/** An error answered by authgate: the `{error, message}` envelope plus the HTTP status. */
export declare class AuthgateError extends Error {
  readonly name: 'AuthgateError';
  /** HTTP status, e.g. 401, 409, 429. */
  readonly status: number;
  /** The envelope's snake_case code, e.g. `invalid_credentials`, `csrf_rejected`. */
  readonly error: string;
  readonly response: Response;
  constructor(status: number, error: string, message: string, response: Response);
}

/** A sign-in that is done: the session cookies are set (`SIGNED_IN` went out). */
export interface SignedIn {
  status: 'signed_in';
}

/**
 * A sign-in whose password (or SMS code) was right and that needs a second factor: authgate
 * answered 401 `mfa_required`. Nothing is thrown; finish it with `withCode` or `withPasskey`, each
 * of which resends the same sign-in body plus the factor. A wrong code is thrown as an
 * `AuthgateError` (401 `invalid_code`) and `withCode` can be called again.
 */
export interface MfaRequired {
  status: 'mfa_required';
  /** The account's second factors, e.g. `['totp', 'passkey', 'recovery_code']`. */
  readonly factors: string[];
  /** Whether authgate offered a passkey challenge with it (the account has passkeys). */
  readonly passkeyOffered: boolean;
  /** The offered passkey challenge while unspent, else null. */
  readonly passkey: PasskeyOptions<PasskeyRequestOptionsJSON> | null;
  /**
   * Resends the sign-in with a TOTP or recovery `code` (`code_totp` for an SMS sign-in).
   * `captcha`: a fresh token when a captcha provider is configured (the resent sign-in is checked again).
   */
  withCode(code: string, options?: { captcha?: string }): Promise<SignInResult>;
  /**
   * Asks the browser for one of the account's passkeys and resends the sign-in with it (password
   * sign-in only). After a cancelled prompt, call it again; once a passkey was sent, the next call
   * gets a new challenge by resending the password first.
   */
  withPasskey(options?: { signal?: AbortSignal; captcha?: string }): Promise<SignInResult>;
}

/** What `signin` and `signInWithSms` resolve to: discriminate on `status`. */
export type SignInResult = SignedIn | MfaRequired;

/** An options answer of authgate's passkey endpoints: WebAuthn options (JSON form) and the opaque state. */
export interface PasskeyOptions<T> {
  publicKey: T;
  state: string;
}

/** WebAuthn request options in their JSON form (binary values as base64url), as authgate sends them. */
export interface PasskeyRequestOptionsJSON {
  challenge: string;
  rpId?: string;
  timeout?: number;
  userVerification?: 'required' | 'preferred' | 'discouraged';
  allowCredentials?: { type: 'public-key'; id: string; transports?: string[] }[];
  [field: string]: unknown;
}

/** A passkey assertion made beforehand, as authgate takes it in re-authentication bodies. */
export interface PasskeyAssertion {
  /** `PublicKeyCredential.toJSON()` of the assertion. */
  credential: unknown;
  state: string;
}

/**
 * Full re-authentication for changes to how the account signs in: the password (plus a TOTP or
 * recovery `code` when TOTP is on), or `passkey: true` to confirm with one of the account's
 * passkeys (a browser prompt), or a `PasskeyAssertion` made beforehand.
 */
export type Reauthentication =
  | { password: string; code?: string; passkey?: undefined }
  | { passkey: true | PasskeyAssertion; password?: undefined; code?: undefined };

/** A registered passkey, as `GET mfa/passkeys/` lists it. */
export type Passkey = Api.Passkey;

/** `registerPasskey`'s answer: the passkey, plus recovery codes when it was the account's first second factor. */
export type RegisteredPasskey = Api.PasskeyRegistration;

export interface RegisterPasskeyOptions {
  password?: string;
  code?: string;
  passkey?: true | PasskeyAssertion;
  /** Defaults to the authenticator's display name, or `Passkey`. */
  name?: string;
  /** Aborts the browser prompt. */
  signal?: AbortSignal;
}

export interface SignInWithPasskeyOptions {
  /**
   * Offer the passkeys in the autofill of an `autocomplete="username webauthn"` field instead of
   * a prompt (check `passkeySupport().conditional` first). The promise stays pending until the
   * user picks one or `signal` aborts it; any other passkey call of this client aborts it too.
   */
  conditional?: boolean;
  signal?: AbortSignal;
  /** A persistent refresh cookie, as `remember_me` at `signin/`. */
  rememberMe?: boolean;
}

export interface SignUpWithPasskeyOptions {
  email: string;
  name: string;
  inviteCode?: string;
  /** The captcha provider's token, when authgate requires one. */
  captcha?: string;
  signal?: AbortSignal;
}

/** What the browser offers for passkeys. */
export interface PasskeySupport {
  /** WebAuthn (which also needs a secure context: https, or http://localhost). */
  passkeys: boolean;
  /** Passkeys in the autofill (conditional mediation). */
  conditional: boolean;
}

export declare function passkeySupport(): Promise<PasskeySupport>;

export interface ClientOptions {
  /** authgate's origin, e.g. `https://auth.example.com`; empty or omitted for the page's own origin. */
  baseUrl?: string;
  /** A `fetch` implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** Name of the cross-tab lock (default `authgate-refresh`). */
  lockName?: string;
  /**
   * Read the session hint cookie (default true). Set false when this page cannot read it:
   * authgate on another origin without a shared `AUTHGATE_COOKIE_DOMAIN`, on another site, or
   * with `AUTHGATE_SESSION_HINT_COOKIE_NAME` empty. Then `hasSession()` is the last thing the
   * client learnt (true until a sign-out or an ended session), `sessionExpiresAt()` is null, a 401
   * always tries a refresh, and nothing is refreshed proactively.
   */
  sessionHint?: boolean;
  /** The session hint cookie's name (`AUTHGATE_SESSION_HINT_COOKIE_NAME`; default `authgate_session`). */
  hintCookieName?: string;
  /** Refresh shortly before the access token expires while the tab is visible (default true). */
  autoRefresh?: boolean;
  /** How long before the expiry to refresh (default 30; at most half the token's lifetime). */
  refreshLeadSeconds?: number;
}

/** `signup`'s body: `POST signup/`'s (`email`, `password`, `name`; `captcha`, `invite_code`, `contact` when needed). */
export type SignupBody = Api.SignUpRequest;

/** `signin`'s body: `POST signin/`'s, with `email` accepted for `login`. */
export type SigninBody = Omit<Api.SignInRequest, 'login'> & ({ login: string; email?: string } | { email: string; login?: undefined });

/** The user object of `GET user/` (every field: `Api.UserFields`). */
export type User = Api.User;

/** `signUpWithPasskey`'s answer: the user, plus the account's recovery codes (shown once). */
export type PasskeyUser = Api.PasskeySignUpResult;

/** A live session, as `listSessions` gives it (`current` marks the caller's). */
export type SessionInfo = Api.SessionList['sessions'][number];

/** Auth state events, delivered in every tab of the origin (see `onAuthStateChange`). */
export type AuthEvent = 'SIGNED_IN' | 'SIGNED_OUT' | 'TOKEN_REFRESHED' | 'USER_UPDATED' | 'SESSION_EXPIRED';

/**
 * What an event says about the session: `null` for `SIGNED_OUT` and `SESSION_EXPIRED`; otherwise
 * `expiresAt`, the access token's expiry from the session hint (Unix seconds; null when the hint
 * is not readable), and `user` when the call that caused the event answered the user
 * (`signup`, `verifyEmail`, `updateUser`, `bindPhone`).
 */
export interface AuthSession {
  expiresAt: number | null;
  user?: User;
}

export type AuthStateListener = (event: AuthEvent, session: AuthSession | null) => void;

/** Re-authentication fields of a call body: `password` (+ `code` with TOTP on), or `passkey`. */
export type WithReauth<T> = Omit<T, 'password' | 'code' | 'passkey'> & Reauthentication & { signal?: AbortSignal };

export interface AuthgateClient {
  /** Whether a session probably exists (the session hint cookie is there); no request. */
  hasSession(): boolean;
  /** The access token's expiry (Unix seconds) from the session hint; null without one. */
  sessionExpiresAt(): number | null;
  /**
   * Calls `listener(event, session)` on every auth state change of this client and of the other
   * tabs' clients of the same authgate (BroadcastChannel). Returns the unsubscribe function.
   */
  onAuthStateChange(listener: AuthStateListener): () => void;

  /** `POST signup/`: creates the account and signs in (unless email verification comes first). */
  signup(body: SignupBody): Promise<User>;
  /** `POST signin/` → `{ status: 'signed_in' }`, or `{ status: 'mfa_required', ... }` to finish with a second factor. */
  signin(body: SigninBody): Promise<SignInResult>;
  /** `POST custom-logout/`: ends the session, clears the cookies; `SIGNED_OUT` in every tab. */
  logout(): Promise<null>;
  /** `GET user/`; without a session hint, a 401 `unauthenticated` without a request. */
  user(): Promise<User>;
  /** Refresh now, unless another tab or call refreshes meanwhile (single-flight). */
  refresh(): Promise<null>;
  /** `fetch` with credentials; on a 401, refresh at most once (single-flight, cross-tab) and retry. */
  authFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;

  /** `POST verify-email/` with the mailed code (`email` too when signed out) → the user. */
  verifyEmail(body: { code: string; email?: string }): Promise<User>;
  /** `POST verify-email/resend/` → 202, alike whether or not a mail went out. */
  resendVerification(body?: Api.ResendRequest): Promise<Api.Accepted>;
  /** `POST password/forgot/` → 202, alike for unknown addresses. */
  forgotPassword(body: Api.ForgotRequest): Promise<Api.Accepted>;
  /** `POST password/reset/`: sets the password, every session of the account ends. */
  resetPassword(body: Api.ResetRequest): Promise<null>;
  /** `POST user/password/`: the user's other sessions end. */
  changePassword(body: Api.ChangePasswordRequest): Promise<null>;
  /** `PATCH user/`: name and avatar at once; a new `email` needs re-authentication and applies once verified. */
  updateUser(body: Omit<Api.UpdateUserRequest, 'passkey'> & { passkey?: true | PasskeyAssertion | null; signal?: AbortSignal }): Promise<User>;
  /** `DELETE user/email-change/`: the pending email change is cancelled. */
  cancelEmailChange(): Promise<null>;
  /** `POST email-change/revert/` with the old address and the code of its notice; every session ends. */
  revertEmailChange(body: { email: string; code: string }): Promise<null>;

  /** `POST mfa/totp/` after re-authentication: the pending secret. */
  enrollTotp(reauth: Reauthentication & { signal?: AbortSignal }): Promise<Api.TotpEnrollment>;
  /** `POST mfa/totp/confirm/` with one `code` or two consecutive `codes`: TOTP on, recovery codes shown once. */
  confirmTotp(body: Api.ConfirmTotpRequest): Promise<{ recovery_codes: Api.RecoveryCodeList }>;
  /** `DELETE mfa/totp/` after re-authentication (password and code, or a passkey). */
  disableTotp(reauth: Reauthentication & { signal?: AbortSignal }): Promise<null>;
  /** `POST mfa/recovery-codes/` after re-authentication: a new set; the old one stops working. */
  replaceRecoveryCodes(reauth: Reauthentication & { signal?: AbortSignal }): Promise<{ recovery_codes: Api.RecoveryCodeList }>;

  /** `POST sms/code/` → 202, alike for unknown numbers. */
  requestSmsCode(body: Api.PhoneRequest): Promise<Api.Accepted>;
  /** `POST sms/signin/` → `{ status: 'signed_in' }`; with TOTP on, `{ status: 'mfa_required', ... }`: `withCode(totp)` resends it with `code_totp`. */
  signInWithSms(body: Api.SmsSignInRequest): Promise<SignInResult>;
  /** `POST user/phone/code/` after re-authentication: a code to the new number. */
  requestPhoneCode(body: WithReauth<Api.PhoneBindingCodeRequest>): Promise<Api.Accepted>;
  /** `POST user/phone/` with the code the number received → the user with its phone. */
  bindPhone(body: Api.BindPhoneRequest): Promise<User>;
  /** `DELETE user/phone/` after re-authentication. */
  unbindPhone(reauth: Reauthentication & { signal?: AbortSignal }): Promise<null>;

  /** `GET sessions/`: the live sessions, newest first. */
  listSessions(): Promise<SessionInfo[]>;
  /** `DELETE sessions/{id}/`. */
  revokeSession(id: string): Promise<null>;
  /** `POST sessions/revoke-others/`: every session but this one ends. */
  revokeOtherSessions(): Promise<null>;
  /** `POST user/export/` after re-authentication: everything held about the account. */
  exportAccount(reauth: Reauthentication & { signal?: AbortSignal }): Promise<Api.DataExport>;
  /** `DELETE user/` after re-authentication: the account is gone; `SIGNED_OUT` in every tab. */
  deleteAccount(reauth: Reauthentication & { signal?: AbortSignal }): Promise<null>;

  /** Signs in with a passkey and no password; sets the cookies. */
  signInWithPasskey(options?: SignInWithPasskeyOptions): Promise<null>;
  /** Creates an account with a passkey and no password; signs in (cookies, unless email verification is required). */
  signUpWithPasskey(options: SignUpWithPasskeyOptions): Promise<PasskeyUser>;
  /** Adds a passkey to the signed-in account, after re-authentication. */
  registerPasskey(options: RegisterPasskeyOptions): Promise<RegisteredPasskey>;
  listPasskeys(): Promise<Passkey[]>;
  /** 1–64 characters, no control characters. */
  renamePasskey(id: string, name: string): Promise<Passkey>;
  /** After re-authentication; 409 `last_sign_in_method` for the last passkey of an account without a password. */
  removePasskey(id: string, reauth: Reauthentication & { signal?: AbortSignal }): Promise<null>;

  /** The ids of the configured identity providers, for "Continue with …" buttons. */
  listProviders(): Promise<string[]>;
  /** The address that begins a sign-in with `provider`; the flow ends on `returnTo`. */
  providerSignInUrl(provider: string, options?: ProviderSignInOptions): string;
  /** Navigates this page to `provider`. */
  signInWithProvider(provider: string, options?: ProviderSignInOptions): void;
  /**
   * How a provider sign-in ended, read from the page's address (the `error` parameter is then
   * removed from the address bar): null when none is given, an error, or the second-factor
   * continuation when the account needs one.
   */
  completeProviderSignIn(options?: { url?: string }): Promise<ProviderSignInError | SignInResult | null>;
  /**
   * Links an identity at `provider` to the signed-in account, after re-authentication (an account
   * without a password or passkey: a sign-in of the last 10 minutes); navigates to the provider
   * and resolves to its address.
   */
  linkProvider(provider: string, options?: Partial<Reauthentication> & { returnTo?: string; signal?: AbortSignal }): Promise<string>;
  /** After re-authentication; 409 `last_sign_in_method` when the account would have no way in left. */
  unlinkIdentity(id: string, reauth: Reauthentication & { signal?: AbortSignal }): Promise<null>;
}

/** Where a provider sign-in goes back to, and how. */
export interface ProviderSignInOptions {
  /** An address `AUTHGATE_REDIRECT_URLS` allows; default its first rule. */
  returnTo?: string;
  rememberMe?: boolean;
  /** When sign-up is by invitation only and the identity is new. */
  inviteCode?: string;
}

/** A provider sign-in that failed, e.g. `access_denied`, `account_exists`, `invalid_state`. */
export interface ProviderSignInError {
  status: 'error';
  error: string;
}

export declare function createClient(options?: ClientOptions): AuthgateClient;
export default createClient;
