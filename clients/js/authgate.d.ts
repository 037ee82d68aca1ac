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

/**
 * Thrown by `signin` when authgate answers 401 `mfa_required` (the password was right, a second
 * factor is missing). Still an `AuthgateError` with `error === 'mfa_required'`; finish the sign-in
 * with `withCode` or `withPasskey`, each of which resends the same sign-in body plus the factor.
 */
export declare class MfaRequiredError extends AuthgateError {
  /** The account's second factors, e.g. `['totp', 'passkey', 'recovery_code']`. */
  readonly factors: string[];
  /** The passkey challenge offered with the refusal (when the account has passkeys), else null. */
  readonly passkey: PasskeyOptions<PasskeyRequestOptionsJSON> | null;
  /**
   * Resends the sign-in with a TOTP or recovery `code`; resolves to null once signed in.
   * `captcha`: a fresh token when a captcha provider is configured (the resent sign-in is checked again).
   */
  withCode(code: string, options?: { captcha?: string }): Promise<null>;
  /**
   * Asks the browser for one of the account's passkeys and resends the sign-in with it; resolves
   * to null once signed in. After a cancelled prompt, call it again; once a passkey was sent, the
   * next call gets a new challenge by resending the password first.
   */
  withPasskey(options?: { signal?: AbortSignal; captcha?: string }): Promise<null>;
}

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
export interface Passkey {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  /** The authenticator model's AAGUID (all zeros when it does not say). */
  aaguid: string;
  /** The authenticator's display name when known, e.g. `Google Password Manager`. */
  authenticator: string | null;
  /** Synced to a cloud account (a multi-device passkey). */
  backed_up: boolean;
  user_verified: boolean;
  [field: string]: unknown;
}

/** `registerPasskey`'s answer: the passkey, plus recovery codes when it was the account's first second factor. */
export interface RegisteredPasskey extends Passkey {
  /** Shown once: ten single-use recovery codes. */
  recovery_codes?: string[];
}

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
}

export interface SignupBody {
  email: string;
  password: string;
  name: string;
  [field: string]: unknown;
}

export interface SigninBody {
  /** The email address (authgate's `login` field); `email` is accepted as an alias. */
  login?: string;
  email?: string;
  password: string;
  remember_me?: boolean;
  [field: string]: unknown;
}

/** The user object of `GET user/` (see authgate's openapi.yml for every field). */
export interface User {
  id: string;
  email: string;
  email_verified: boolean;
  name: string;
  avatar: string | null;
  phone: string | null;
  totp_enabled: boolean;
  created_at: string;
  updated_at: string;
  last_sign_in_at: string | null;
  /** False for an account created with a passkey and no password. */
  has_password?: boolean;
  /** How many passkeys the account has. */
  passkeys?: number;
  [field: string]: unknown;
}

/** `signUpWithPasskey`'s answer: the user, plus the account's recovery codes (shown once). */
export interface PasskeyUser extends User {
  recovery_codes: string[];
}

export interface AuthgateClient {
  signup(body: SignupBody): Promise<User>;
  /** Throws `MfaRequiredError` when the account needs a second factor. */
  signin(body: SigninBody): Promise<null>;
  logout(): Promise<null>;
  user(): Promise<User>;
  /** Refresh now, unless another tab or call refreshes meanwhile (single-flight). */
  refresh(): Promise<null>;
  /** `fetch` with credentials; on a 401, refresh at most once (single-flight, cross-tab) and retry. */
  authFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;

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
}

export declare function createClient(options?: ClientOptions): AuthgateClient;
export default createClient;
