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
  [field: string]: unknown;
}

export interface AuthgateClient {
  signup(body: SignupBody): Promise<User>;
  signin(body: SigninBody): Promise<null>;
  logout(): Promise<null>;
  user(): Promise<User>;
  /** Refresh now, unless another tab or call refreshes meanwhile (single-flight). */
  refresh(): Promise<null>;
  /** `fetch` with credentials; on a 401, refresh at most once (single-flight, cross-tab) and retry. */
  authFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
}

export declare function createClient(options?: ClientOptions): AuthgateClient;
export default createClient;
