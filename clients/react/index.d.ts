import type { ReactElement, ReactNode } from 'react';
import type { AuthgateClient, ClientOptions, User } from '@authgate/client';

/**
 * `signed_out`: no session hint (known without a request). `loading`: the hint says a session
 * probably exists and `GET user/` has not answered yet. `signed_in`: the user is known.
 */
export type AuthStatus = 'loading' | 'signed_in' | 'signed_out';

/** What the session hint tells: when the access token expires (Unix seconds), if the page can read it. */
export interface Session {
  expiresAt: number | null;
}

/** The state: `user` is set exactly when `status` is `signed_in`. */
export type AuthState =
  | { status: 'signed_out'; user: null; session: null; error: null }
  /** `error`: why `GET user/` failed other than with a 401 (the network, a 5xx); `refreshUser()` tries again. */
  | { status: 'loading'; user: null; session: Session; error: unknown }
  | { status: 'signed_in'; user: User; session: Session; error: unknown };

/** Names the binding adds: the client's `signin`, `signup` and `logout` under the names React code tends to use, and `refreshUser`. */
export interface AuthCalls {
  /**
   * `client.signin`, its result passed through: `{ status: 'signed_in' }` (the user follows:
   * `GET user/`, once), or `{ status: 'mfa_required', factors, passkeyOffered, withCode, withPasskey }`
   * when the account needs a second factor (the state stays `signed_out` until it is finished).
   */
  signIn: AuthgateClient['signin'];
  /** `client.signup`: resolves to the user, who is `useAuth().user` at once (the event carries it: no `GET user/`). */
  signUp: AuthgateClient['signup'];
  /** `client.logout`: every tab's provider turns `signed_out`. */
  signOut: AuthgateClient['logout'];
  /** `GET user/` again; resolves to the user, or null when the session is gone. */
  refreshUser(): Promise<User | null>;
}

/**
 * `useAuth()`: the state, the binding's calls, every call of the client (bound to it), and the
 * client. `user` is the state's user; the client's `user()` call is `client.user()` (or `refreshUser()`).
 */
export type AuthContextValue = Omit<AuthgateClient, 'status' | 'user' | 'session' | 'error'> &
  AuthCalls & { client: AuthgateClient } & AuthState;

/** `useSession()`: the session alone, without the user. */
export interface SessionValue {
  status: AuthStatus;
  /** `status !== 'signed_out'`. */
  hasSession: boolean;
  /** The access token's expiry (Unix seconds) as the hint tells it; null when signed out or unreadable. */
  expiresAt: number | null;
  session: Session | null;
}

export type AuthProviderProps =
  | { client: AuthgateClient; options?: undefined; children?: ReactNode }
  /** The provider creates the client, once; later changes of `options` are not applied. */
  | { client?: undefined; options?: ClientOptions; children?: ReactNode };

export declare function AuthProvider(props: AuthProviderProps): ReactElement;

/** Inside `<AuthProvider>` only (throws elsewhere). */
export declare function useAuth(): AuthContextValue;

/** Inside `<AuthProvider>` only (throws elsewhere). */
export declare function useSession(): SessionValue;

/** The store behind `<AuthProvider>`, for use outside React components (tests, routers' loaders). */
export interface AuthStore {
  client: AuthgateClient;
  refreshUser: AuthCalls['refreshUser'];
  getState(): AuthState;
  /** Listens to the client's events while at least one listener is subscribed. */
  subscribe(listener: () => void): () => void;
}

export declare function createAuthStore(client: AuthgateClient): AuthStore;
