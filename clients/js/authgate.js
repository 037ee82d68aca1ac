// @authgate/client: a dependency-free browser client for authgate (ES module, no build step).
//
// Tokens live in HttpOnly cookies set by authgate; this module never sees them. Every call sends
// credentials and JSON. `authFetch` refreshes on a 401 and retries; refreshes are single-flight
// within a tab (one shared promise) and across tabs (Web Locks, or an IndexedDB lease woken by a
// BroadcastChannel where Web Locks are missing).
//
// Why IndexedDB: the tab that refreshes records a "refresh generation" before it releases the
// lock, and the next lock holder must see it, or it refreshes a second time. localStorage cannot
// promise that: Chromium gives each renderer process its own copy and propagates writes to other
// tabs asynchronously, so a tab that gets the lock a moment after another released it often still
// reads the old value. An IndexedDB transaction that started after another one committed always
// sees its writes, in every tab, so the refresher awaits the commit of its generation bump before
// it releases the lock, and the next holder reads the generation in a new transaction.
// localStorage and the BroadcastChannel only carry a fast, possibly stale copy.

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

const DB_NAME = 'authgate-client';
const DB_STORE = 'coordination';
const LEASE_MS = 10000; // a fallback lease outlives its holder (a closed tab) by at most this long

/** IndexedDB when the page may use it (it is the store every tab sees consistently), else null. */
function openDatabase() {
  return new Promise((resolve) => {
    let request;
    try {
      const idb = globalThis.indexedDB;
      if (!idb) return resolve(null);
      request = idb.open(DB_NAME, 1);
    } catch (_) {
      return resolve(null); // a sandboxed frame, a privacy mode
    }
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(DB_STORE)) request.result.createObjectStore(DB_STORE);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
    request.onblocked = () => resolve(null);
  });
}

/**
 * One read-modify-write of `key` in a single readwrite transaction (IndexedDB runs the
 * transactions on one store one after another, across tabs). `update(current)` returns the new
 * value, `undefined` to keep the current one, or `null` to delete the key. Resolves after the
 * commit with `{ value, written }`.
 */
function transact(db, key, update) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(DB_STORE, 'readwrite');
    const store = tx.objectStore(DB_STORE);
    let value;
    let written = false;
    const get = store.get(key);
    get.onsuccess = () => {
      value = get.result;
      const next = update(value);
      if (next === null) {
        store.delete(key);
        value = undefined;
        written = true;
      } else if (next !== undefined) {
        store.put(next, key);
        value = next;
        written = true;
      }
    };
    tx.oncomplete = () => resolve({ value, written });
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}

/**
 * @param {{baseUrl?: string, fetch?: typeof fetch, lockName?: string}} [options]
 */
export function createClient(options = {}) {
  const baseUrl = String(options.baseUrl ?? '').replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((...a) => globalThis.fetch(...a));
  const lockName = options.lockName ?? LOCK_NAME;
  const scope = `${lockName}:${baseUrl || 'same-origin'}`;
  const key = `authgate:refresh-generation:${scope}`;
  const leaseKey = `authgate:refresh-lease:${scope}`;
  const store = storage();
  const channel =
    typeof BroadcastChannel === 'function' ? new BroadcastChannel(`authgate:${scope}`) : null;
  const tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);

  // The shared database, opened once; null where IndexedDB is unavailable.
  let database = null;
  function db() {
    if (!database) {
      database = openDatabase().then((d) => {
        if (d) {
          d.onversionchange = () => {
            d.close();
            database = null;
          };
          d.onclose = () => {
            database = null;
          };
        }
        return d;
      });
    }
    return database;
  }

  // The refresh generation: bumped by whichever tab refreshes (or signs in). IndexedDB holds the
  // authoritative value; memory, localStorage and the BroadcastChannel a fast copy that may lag.
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
  function storedGeneration() {
    const stored = store ? Number(store.getItem(key)) || 0 : 0;
    return Math.max(stored, memoryGeneration);
  }
  /** The generation every tab agrees on (IndexedDB), or the best local guess without it. */
  async function currentGeneration() {
    const d = await db();
    if (!d) return storedGeneration();
    let value;
    try {
      ({ value } = await transact(d, key, () => undefined));
    } catch (_) {
      return storedGeneration(); // quota, a closing database: fall back to the local copy
    }
    const generation = typeof value === 'number' ? value : 0;
    memoryGeneration = Math.max(memoryGeneration, generation);
    return generation;
  }
  /** Bumps the generation; resolves once every tab's next read sees the new value. */
  async function bumpGeneration() {
    const d = await db();
    let next = storedGeneration() + 1;
    if (d) {
      try {
        ({ value: next } = await transact(d, key, (v) => Math.max(typeof v === 'number' ? v : 0, next - 1) + 1));
      } catch (_) {
        // keep the local bump: the other tabs may refresh once more (the reuse grace covers it)
      }
    }
    memoryGeneration = Math.max(memoryGeneration, next);
    if (store) store.setItem(key, String(next));
    if (channel) channel.postMessage({ type: 'refreshed', generation: next });
    return next;
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

  function waitForRelease() {
    return new Promise((resolve) => {
      const wake = () => {
        waiters.delete(wake);
        resolve();
      };
      waiters.add(wake);
      setTimeout(wake, 50 + Math.random() * 100);
    });
  }

  // The fallback lock: a lease record taken with a compare-and-set in one IndexedDB transaction
  // (so two tabs can never both win), renewed while held, released with a BroadcastChannel
  // announcement (waiters also poll). A lease left by a closed tab expires after LEASE_MS.
  async function withLease(d, fn) {
    for (;;) {
      const { written } = await transact(d, leaseKey, (lease) => {
        const now = Date.now();
        if (lease && lease.id !== tabId && lease.expires > now) return undefined;
        return { id: tabId, expires: now + LEASE_MS };
      });
      if (written) break;
      await waitForRelease();
    }
    const renew = setInterval(() => {
      transact(d, leaseKey, (lease) =>
        lease && lease.id === tabId ? { id: tabId, expires: Date.now() + LEASE_MS } : undefined,
      ).catch(() => {});
    }, LEASE_MS / 3);
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await transact(d, leaseKey, (lease) => (lease && lease.id === tabId ? null : undefined)).catch(() => {});
      if (channel) channel.postMessage({ type: 'released' });
    }
  }

  // Without IndexedDB: a localStorage lease, best effort (two tabs may both take it; authgate's
  // reuse grace window then answers the second refresh without revoking the session).
  async function withStorageLease(fn) {
    for (;;) {
      let lease = null;
      try {
        lease = JSON.parse(store.getItem(leaseKey) || 'null');
      } catch (_) {
        lease = null;
      }
      if (!lease || lease.expires < Date.now()) {
        store.setItem(leaseKey, JSON.stringify({ id: tabId, expires: Date.now() + LEASE_MS }));
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
      await waitForRelease();
    }
  }

  // Cross-tab mutual exclusion: Web Locks when present, else the IndexedDB lease, else the
  // localStorage lease, else this tab only.
  async function withLock(fn) {
    const locks = globalThis.navigator && globalThis.navigator.locks;
    if (locks && typeof locks.request === 'function') {
      return locks.request(lockName, { mode: 'exclusive' }, () => fn());
    }
    const d = await db();
    if (d) return withLease(d, fn);
    if (store) return withStorageLease(fn);
    return fn();
  }

  // One refresh at a time in this tab: callers share the promise in flight. Under the lock, the
  // refresh happens only if the generation is still the one `observed` before the caller's
  // request left; otherwise another tab (or call) refreshed since, and the caller just retries.
  // Resolves to `{ refreshed, generation }`, the generation being the one after this step.
  let inflight = null;
  function refreshAfter(observed) {
    if (!inflight) {
      inflight = withLock(async () => {
        const generation = await currentGeneration();
        if (generation !== observed) return { refreshed: false, generation };
        await call('POST', 'custom-refresh/');
        // Recorded (committed) before the lock is released: the next holder sees it.
        return { refreshed: true, generation: await bumpGeneration() };
      }).finally(() => {
        inflight = null;
      });
    }
    return inflight;
  }

  /**
   * `fetch` with credentials; on a 401 refreshes (unless another tab or call already did after
   * this request left) and retries. At most one refresh per call, and at most two retries: a
   * retry that follows another tab's refresh and still gets a 401 (the local copy of the
   * generation was behind) goes through the lock once more and refreshes if nobody else did.
   * `init.body` must be replayable (a string, Blob, FormData, URLSearchParams), not a stream.
   */
  async function authFetch(input, init = {}) {
    const request = { ...init, credentials: 'include' };
    let observed = storedGeneration(); // never ahead of the committed generation
    let response = await doFetch(input, request);
    for (let round = 0; round < 2 && response.status === 401; round++) {
      let step;
      try {
        step = await refreshAfter(observed);
      } catch (err) {
        if (err instanceof AuthgateError && (err.status === 401 || err.status === 403)) {
          return response; // the session is gone: the caller sees the 401
        }
        throw err;
      }
      response = await doFetch(input, request);
      if (step.refreshed) break; // a fresh token was refused: nothing more to try
      observed = step.generation; // read under the lock: this retry carried that generation's cookie (or newer)
    }
    return response;
  }

  return {
    authFetch,
    /** `POST signup/` → the new user; signs in (cookies). */
    async signup(body) {
      const user = await call('POST', 'signup/', body);
      await bumpGeneration();
      return user;
    },
    /** `POST signin/` (`{login, password, remember_me?}`; `email` is accepted for `login`) → null; sets the cookies. */
    async signin(body) {
      const { email, ...rest } = body || {};
      await call('POST', 'signin/', { ...rest, login: rest.login ?? email });
      await bumpGeneration();
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
    /** Refreshes now, unless another tab or call refreshes meanwhile (single-flight). */
    async refresh() {
      await refreshAfter(await currentGeneration());
      return null;
    },
  };
}

export default createClient;
