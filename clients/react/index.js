// @authgate/react: the React binding of @authgate/client (ES module, no build step, no JSX).
//
// One store per <AuthProvider> holds `{ status, user, session, error }`. Its first state comes
// from the client's session hint, synchronously: no hint, `signed_out` at once and no request;
// a hint, `loading` until `GET user/` answers (once), then `signed_in`. From then on the client's
// auth state events drive it, and those reach every tab of the origin (the client forwards them
// over a BroadcastChannel), so a sign-out in one tab signs every tab's provider out.

import * as React from 'react';
import { createClient } from '@authgate/client';

const { createContext, createElement, useContext, useMemo, useSyncExternalStore } = React;

const SIGNED_OUT = Object.freeze({ status: 'signed_out', user: null, session: null, error: null });

const AuthContext = createContext(null);
const SessionContext = createContext(null);

/** The user object without what is shown once (a passkey sign-up's recovery codes). */
function plainUser(user) {
  if (!user || typeof user !== 'object' || !('recovery_codes' in user)) return user;
  const { recovery_codes: _, ...rest } = user;
  return rest;
}

/**
 * The auth state of one client, outside React: `getState()` and `subscribe(listener)` for
 * `useSyncExternalStore`, and `refreshUser()`. It listens to the client's events only while
 * someone listens to the store, and re-reads the session hint when listening starts.
 */
export function createAuthStore(client) {
  if (!client || typeof client.onAuthStateChange !== 'function') {
    throw new TypeError('@authgate/react needs a client of @authgate/client with auth state events (onAuthStateChange)');
  }
  const listeners = new Set();
  let unsubscribe = null;
  // Bumped whenever who is signed in may have changed: a user answer of an older epoch is stale.
  let epoch = 0;
  let userRequest = null; // { epoch, promise }: `GET user/` at most once per epoch

  const expiresAt = () => client.sessionExpiresAt();
  let state = client.hasSession()
    ? { status: 'loading', user: null, session: { expiresAt: expiresAt() }, error: null }
    : SIGNED_OUT;

  function set(next) {
    if (next === state) return;
    state = next;
    for (const listener of [...listeners]) listener();
  }

  function signedOut() {
    epoch += 1;
    userRequest = null;
    set(SIGNED_OUT);
  }

  function signedInAs(user, session) {
    set({ status: 'signed_in', user: plainUser(user), session, error: null });
  }

  /** `GET user/` for the current epoch, once (`force`: again, e.g. after a profile change). */
  function loadUser(force = false) {
    if (!force && userRequest && userRequest.epoch === epoch) return userRequest.promise;
    const mine = epoch;
    const promise = client.user().then(
      (user) => {
        if (mine === epoch) signedInAs(user, state.session ?? { expiresAt: expiresAt() });
        return user;
      },
      (err) => {
        if (mine !== epoch) return null;
        if (err && err.status === 401) {
          signedOut(); // the hint outlived the session (or it ended meanwhile)
          return null;
        }
        set({ ...state, error: err }); // a network failure, a 5xx: the session may well be alive
        throw err;
      },
    );
    userRequest = { epoch: mine, promise };
    promise.catch(() => {}); // kept for `refreshUser`; the state holds the error
    return promise;
  }

  function onEvent(event, session) {
    const current = { expiresAt: session && session.expiresAt !== undefined ? session.expiresAt : expiresAt() };
    switch (event) {
      case 'SIGNED_IN':
        epoch += 1;
        if (session && session.user) {
          userRequest = { epoch, promise: Promise.resolve(session.user) };
          signedInAs(session.user, current);
        } else {
          set({ status: 'loading', user: null, session: current, error: null });
          loadUser();
        }
        break;
      case 'SIGNED_OUT':
      case 'SESSION_EXPIRED':
        signedOut();
        break;
      case 'TOKEN_REFRESHED':
        if (state.status === 'signed_out') {
          epoch += 1; // a session this provider did not know of (e.g. the hint was unreadable)
          set({ status: 'loading', user: null, session: current, error: null });
          loadUser();
        } else {
          set({ ...state, session: current });
          if (state.status === 'loading' && state.error) loadUser(true); // the session is alive: try again
        }
        break;
      case 'USER_UPDATED':
        if (state.status === 'signed_out') break; // e.g. an email verified without a session here
        if (session && session.user) signedInAs(session.user, current);
        else loadUser(true);
        break;
      default:
        break; // an event of a newer client: nothing this binding knows to do
    }
  }

  // Events missed while nobody listened (or before the first render): the hint tells.
  function resync() {
    if (!client.hasSession()) {
      if (state.status !== 'signed_out') signedOut();
      return;
    }
    if (state.status === 'signed_out') {
      epoch += 1;
      set({ status: 'loading', user: null, session: { expiresAt: expiresAt() }, error: null });
    }
    if (state.status === 'loading' && !state.error) loadUser();
  }

  function subscribe(listener) {
    listeners.add(listener);
    if (!unsubscribe) {
      unsubscribe = client.onAuthStateChange(onEvent);
      resync();
    }
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && unsubscribe) {
        unsubscribe();
        unsubscribe = null;
      }
    };
  }

  return {
    client,
    getState: () => state,
    subscribe,
    /** `GET user/` again (after an error, or a change made outside this client). */
    refreshUser: () => loadUser(true),
  };
}

/**
 * Every call of the client, bound to it (`useAuth().changePassword(...)` is
 * `client.changePassword(...)`), plus `signIn`, `signUp` and `signOut` for `signin`, `signup`
 * and `logout`. The state follows from the client's events, not from these calls' answers, so
 * a call made on the client directly (or in another tab) updates it just the same.
 */
function boundCalls(client) {
  const calls = {};
  for (const name of Object.keys(client)) {
    if (typeof client[name] === 'function') calls[name] = client[name].bind(client);
  }
  calls.signIn = calls.signin;
  calls.signUp = calls.signup;
  calls.signOut = calls.logout;
  return calls;
}

/**
 * Provides the auth state to its children. `client`: a client of `createClient`; or `options`,
 * from which the provider creates one (once; later changes of `options` are not applied).
 */
export function AuthProvider({ client, options, children }) {
  const store = useMemo(
    () => createAuthStore(client ?? createClient(options)),
    [client], // eslint-disable-line react-hooks/exhaustive-deps
  );
  const state = useSyncExternalStore(store.subscribe, store.getState, store.getState);
  const calls = useMemo(() => boundCalls(store.client), [store]);
  const auth = useMemo(() => ({
    ...calls,
    ...state,
    client: store.client,
    refreshUser: store.refreshUser,
  }), [calls, state, store]);
  const session = useMemo(() => ({
    status: state.status,
    hasSession: state.status !== 'signed_out',
    expiresAt: state.session ? state.session.expiresAt : null,
    session: state.session,
  }), [state.status, state.session]);
  return createElement(
    SessionContext.Provider,
    { value: session },
    createElement(AuthContext.Provider, { value: auth }, children),
  );
}

function required(context, hook) {
  const value = useContext(context);
  if (value === null) throw new Error(`${hook}() must be called inside <AuthProvider>`);
  return value;
}

/** `{ status, user, session, error, client, signIn, signUp, signOut, ..., every call of the client }`. */
export function useAuth() {
  return required(AuthContext, 'useAuth');
}

/** `{ status, hasSession, expiresAt, session }`: the session alone (not the user). */
export function useSession() {
  return required(SessionContext, 'useSession');
}
