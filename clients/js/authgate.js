// @authgate/client: a dependency-free browser client for authgate (ES module, no build step).
//
// Tokens live in HttpOnly cookies set by authgate; this module never sees them. Every call sends
// credentials and JSON. `authFetch` refreshes once on a 401 and retries once; refreshes are
// single-flight within a tab (one shared promise) and across tabs (Web Locks, or a
// localStorage lease + BroadcastChannel where Web Locks are missing), and a tab that finds the
// session already refreshed by another tab after its 401 just retries.

const AUTH = '/api/v1/auth/';
const LOCK_NAME = 'authgate-refresh';

/** An error answered by authgate: `{error, message}` plus the HTTP status. */
export class AuthgateError extends Error {
  constructor(status, error, message, response) {
    super(message || error || `HTTP ${status}`);
    this.name = 'AuthgateError';
    this.status = status;
    this.error = error;
    this.response = response;
  }
}

async function errorFrom(response) {
  let error = 'http_error';
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.clone().json();
    if (body && typeof body.error === 'string') error = body.error;
    if (body && typeof body.message === 'string') message = body.message;
  } catch (_) {
    // not the JSON envelope (a proxy's page, an empty body): keep the status
  }
  return new AuthgateError(response.status, error, message, response);
}

function storage() {
  try {
    const s = globalThis.localStorage;
    if (!s) return null;
    const probe = '__authgate_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch (_) {
    return null;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @param {{baseUrl?: string, fetch?: typeof fetch, lockName?: string}} [options]
 */
export function createClient(options = {}) {
  const baseUrl = String(options.baseUrl ?? '').replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((...a) => globalThis.fetch(...a));
  const lockName = options.lockName ?? LOCK_NAME;
  const key = `authgate:refresh-generation:${baseUrl || 'same-origin'}`;
  const leaseKey = `authgate:refresh-lease:${baseUrl || 'same-origin'}`;
  const store = storage();
  const channel =
    typeof BroadcastChannel === 'function' ? new BroadcastChannel(`${lockName}:${baseUrl}`) : null;
  const tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);

  // The refresh generation: bumped by whichever tab refreshes (or signs in), shared through
  // localStorage and announced on the BroadcastChannel; kept in memory as well.
  let memoryGeneration = 0;
  const waiters = new Set();
  if (channel && typeof channel.unref === 'function') channel.unref(); // Node: do not hold the process
  if (channel) {
    channel.onmessage = (event) => {
      const m = event.data || {};
      if (m.type === 'refreshed' && typeof m.generation === 'number') {
        memoryGeneration = Math.max(memoryGeneration, m.generation);
      }
      for (const wake of waiters) wake();
    };
  }
  function generation() {
    let stored = 0;
    if (store) stored = Number(store.getItem(key)) || 0;
    return Math.max(stored, memoryGeneration);
  }
  function bumpGeneration() {
    const next = generation() + 1;
    memoryGeneration = next;
    if (store) store.setItem(key, String(next));
    if (channel) channel.postMessage({ type: 'refreshed', generation: next });
  }

  const url = (path) => `${baseUrl}${AUTH}${path}`;

  async function call(method, path, body) {
    const init = { method, credentials: 'include', headers: { accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await doFetch(url(path), init);
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // Cross-tab mutual exclusion: Web Locks when present; otherwise a localStorage lease whose
  // holder announces its release on the BroadcastChannel; otherwise this tab only.
  async function withLock(fn) {
    const locks = globalThis.navigator && globalThis.navigator.locks;
    if (locks && typeof locks.request === 'function') {
      return locks.request(lockName, { mode: 'exclusive' }, () => fn());
    }
    if (!store) return fn();
    for (;;) {
      const now = Date.now();
      let lease = null;
      try {
        lease = JSON.parse(store.getItem(leaseKey) || 'null');
      } catch (_) {
        lease = null;
      }
      if (!lease || lease.expires < now) {
        store.setItem(leaseKey, JSON.stringify({ id: tabId, expires: now + 10000 }));
        await sleep(30); // let a competing writer's lease land, then see who won
        let held = null;
        try {
          held = JSON.parse(store.getItem(leaseKey) || 'null');
        } catch (_) {
          held = null;
        }
        if (held && held.id === tabId) {
          try {
            return await fn();
          } finally {
            store.removeItem(leaseKey);
            if (channel) channel.postMessage({ type: 'released' });
          }
        }
      }
      await new Promise((resolve) => {
        const wake = () => {
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
        setTimeout(wake, 100 + Math.random() * 100);
      });
    }
  }

  async function refreshRequest() {
    await call('POST', 'custom-refresh/');
    bumpGeneration();
  }

  // One refresh at a time in this tab: callers share the promise in flight.
  let inflight = null;
  function refreshAfter(observed) {
    if (generation() !== observed) return Promise.resolve(false);
    if (!inflight) {
      inflight = withLock(async () => {
        // Another tab may have refreshed while this one waited for the lock.
        if (generation() !== observed) return false;
        await refreshRequest();
        return true;
      }).finally(() => {
        inflight = null;
      });
    }
    return inflight;
  }

  /**
   * `fetch` with credentials; on a 401 refreshes once (unless another tab or call already did
   * after this request left) and retries once. `init.body` must be replayable (a string,
   * Blob, FormData, URLSearchParams), not a stream.
   */
  async function authFetch(input, init = {}) {
    const request = { ...init, credentials: 'include' };
    const observed = generation();
    const response = await doFetch(input, request);
    if (response.status !== 401) return response;
    try {
      await refreshAfter(observed);
    } catch (err) {
      if (err instanceof AuthgateError && (err.status === 401 || err.status === 403)) {
        return response; // the session is gone: the caller sees the original 401
      }
      throw err;
    }
    return doFetch(input, request);
  }

  return {
    authFetch,
    /** `POST signup/` → the new user; signs in (cookies). */
    async signup(body) {
      const user = await call('POST', 'signup/', body);
      bumpGeneration();
      return user;
    },
    /** `POST signin/` (`{login, password, remember_me?}`; `email` is accepted for `login`) → null; sets the cookies. */
    async signin(body) {
      const { email, ...rest } = body || {};
      await call('POST', 'signin/', { ...rest, login: rest.login ?? email });
      bumpGeneration();
      return null;
    },
    /** `POST custom-logout/` → null; clears the cookies and ends the session. */
    async logout() {
      await call('POST', 'custom-logout/');
      return null;
    },
    /** `GET user/` (through authFetch, so an expired access token is refreshed first). */
    async user() {
      const response = await authFetch(url('user/'), { headers: { accept: 'application/json' } });
      if (!response.ok) throw await errorFrom(response);
      return response.json();
    },
    /** Refreshes now (single-flight within the tab and across tabs). */
    async refresh() {
      await refreshAfter(generation());
      return null;
    },
  };
}

export default createClient;
