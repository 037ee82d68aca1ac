// @authgate/client: a dependency-free browser client for authgate (ES module).
//
// This is the readable source; the published module, clients/js/authgate.js, is this file minified
// by scripts/build.mjs (esbuild). Edit this file, then run `node clients/js/scripts/build.mjs`.
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
//
// Passkeys (WebAuthn): authgate sends the options in their JSON form (binary values as base64url)
// and takes the credential back in the same form (`PublicKeyCredential.toJSON()`); this module
// converts with the browser's own parse*FromJSON/toJSON where they exist and by hand elsewhere.

const AUTH = '/api/v1/auth/';
const LOCK_NAME = 'authgate-refresh';
// 401 codes that mean "no valid access token": only these make the client's own calls refresh.
const TOKEN_REFUSED = new Set(['unauthenticated', 'invalid_token', 'session_not_found']);
// A passkey challenge lives 5 minutes; a waiting autofill request renews it this long before.
const CHALLENGE_LIFETIME_MS = 5 * 60 * 1000;
const CHALLENGE_MARGIN_MS = 30 * 1000;
const RENEW = Symbol('renew the conditional request');
// The session hint: a cookie authgate sets next to the HttpOnly token cookies, readable by the
// page, holding only the access token's expiry (Unix seconds). Present: a session probably
// exists. Absent: nobody is signed in here, so no refresh is worth a request.
const HINT_COOKIE = 'authgate_session';
// Refresh refusals that mean the session is over (not a network or rate-limit problem).
const SESSION_ENDED = new Set(['refresh_token_reused', 'invalid_refresh_token']);
const RETRY_MS = 5000; // a failed proactive refresh is tried again this much later

/** The value of cookie `name` as this page sees it, or null. */
function readCookie(name) {
  const doc = globalThis.document;
  let jar = '';
  try {
    jar = doc && typeof doc.cookie === 'string' ? doc.cookie : '';
  } catch (_) {
    return null; // a sandboxed document without cookie access
  }
  for (const part of jar.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch (_) {
        return part.slice(i + 1).trim();
      }
    }
  }
  return null;
}

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

async function envelope(response) {
  try {
    const body = await response.clone().json();
    return body && typeof body === 'object' ? body : {};
  } catch (_) {
    return {}; // not the JSON envelope (a proxy's page, an empty body): keep the status
  }
}

async function errorFrom(response) {
  const body = await envelope(response);
  const error = typeof body.error === 'string' ? body.error : 'http_error';
  const message = typeof body.message === 'string' ? body.message : `HTTP ${response.status}`;
  return new AuthgateError(response.status, error, message, response);
}

// --- WebAuthn JSON <-> binary -------------------------------------------------------------------

function toBase64url(buffer) {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer)
    : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text) {
  const b64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

const withBinaryIds = (list) =>
  Array.isArray(list) ? list.map((c) => ({ ...c, id: fromBase64url(c.id) })) : list;

/** Creation options JSON (as authgate sends them) → what `navigator.credentials.create` takes. */
function creationOptions(json) {
  const PKC = globalThis.PublicKeyCredential;
  if (PKC && typeof PKC.parseCreationOptionsFromJSON === 'function') return PKC.parseCreationOptionsFromJSON(json);
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: withBinaryIds(json.excludeCredentials),
  };
}

/** Request options JSON → what `navigator.credentials.get` takes. */
function requestOptions(json) {
  const PKC = globalThis.PublicKeyCredential;
  if (PKC && typeof PKC.parseRequestOptionsFromJSON === 'function') return PKC.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: withBinaryIds(json.allowCredentials) };
}

/** ArrayBuffers (and views) anywhere in `value` as base64url, for extension results. */
function jsonable(value) {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return toBase64url(value);
  if (Array.isArray(value)) return value.map(jsonable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonable(v)]));
  }
  return value;
}

/** A PublicKeyCredential → its JSON form (what `toJSON()` gives where the browser has it). */
function credentialJSON(credential) {
  if (typeof credential.toJSON === 'function') return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    if (typeof r.getTransports === 'function') response.transports = r.getTransports();
    if (typeof r.getAuthenticatorData === 'function') response.authenticatorData = toBase64url(r.getAuthenticatorData());
    if (typeof r.getPublicKeyAlgorithm === 'function') response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    const key = typeof r.getPublicKey === 'function' ? r.getPublicKey() : null;
    if (key) response.publicKey = toBase64url(key);
  } else {
    response.authenticatorData = toBase64url(r.authenticatorData);
    response.signature = toBase64url(r.signature);
    response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    clientExtensionResults: jsonable(
      typeof credential.getClientExtensionResults === 'function' ? credential.getClientExtensionResults() : {},
    ),
  };
}

function credentials() {
  const c = globalThis.navigator && globalThis.navigator.credentials;
  if (!c || typeof globalThis.PublicKeyCredential !== 'function') {
    throw new DOMException('this browser has no passkey support (WebAuthn)', 'NotSupportedError');
  }
  return c;
}

/**
 * What this browser offers: `passkeys` (WebAuthn at all, which also needs a secure context) and
 * `conditional` (passkeys offered in the autofill of an `autocomplete="username webauthn"` field).
 */
export async function passkeySupport() {
  const PKC = globalThis.PublicKeyCredential;
  const passkeys = typeof PKC === 'function' && !!(globalThis.navigator && globalThis.navigator.credentials);
  let conditional = false;
  if (passkeys && typeof PKC.isConditionalMediationAvailable === 'function') {
    try {
      conditional = await PKC.isConditionalMediationAvailable();
    } catch (_) {
      conditional = false;
    }
  }
  return { passkeys, conditional };
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
 * @param {import('./authgate').ClientOptions} [options]
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

  // The session hint. `hintOn`: this page can read it (the option, and no evidence against it);
  // without it `believed` stands in: the last thing this client learnt (a session may exist).
  const hintName = options.hintCookieName ?? HINT_COOKIE;
  const hintAllowed = options.sessionHint !== false && !!hintName && !!globalThis.document;
  let hintOn = hintAllowed;
  let believed = true;
  // Remembered (localStorage) when a session opened for this page left no readable hint, so the
  // next page load does not take an unreadable hint for "signed out"; forgotten once one shows.
  const unreadableKey = `authgate:hint-unreadable:${scope}`;
  const autoRefresh = options.autoRefresh !== false;
  const leadMs = Math.max(0, Number(options.refreshLeadSeconds ?? 30) * 1000);

  function hintExpiry() {
    const value = readCookie(hintName);
    const n = value === null ? NaN : Number(value);
    return Number.isFinite(n) && n > 0 ? n : null;
  }
  if (hintOn && store && store.getItem(unreadableKey) === '1') {
    if (hintExpiry() === null) hintOn = false;
    else store.removeItem(unreadableKey);
  }
  function hasSession() {
    return hintOn ? hintExpiry() !== null : believed;
  }
  function sessionExpiresAt() {
    return hintOn ? hintExpiry() : null;
  }
  // Called after authgate opened or rotated a session for this page: the hint must be there now.
  // If it is not, this page cannot read it (authgate on another origin without a shared cookie
  // Domain, or the hint switched off): fall back to trying the refresh, as without the hint.
  function expectHint() {
    believed = true;
    if (!hintOn && hintAllowed && hintExpiry() !== null) {
      hintOn = true; // readable after all (the set-up changed)
      if (store) store.removeItem(unreadableKey);
    }
    if (hintOn && hintExpiry() === null) {
      hintOn = false;
      if (store) store.setItem(unreadableKey, '1');
      if (globalThis.console) {
        console.warn(`authgate: the session hint cookie ${hintName} is not readable here; pass sessionHint: false (see the client's README)`);
      }
    }
  }

  // Auth state events: delivered to this client's listeners and, over the BroadcastChannel, to
  // every other tab's clients of the same authgate.
  const listeners = new Set();
  function deliver(event, session) {
    if (event === 'SIGNED_IN' || event === 'TOKEN_REFRESHED') believed = true;
    if (event === 'SIGNED_OUT' || event === 'SESSION_EXPIRED') believed = false;
    for (const listener of [...listeners]) {
      try {
        listener(event, session);
      } catch (err) {
        setTimeout(() => {
          throw err; // reported, but never breaks the client or the other listeners
        });
      }
    }
    schedule();
  }
  function emit(event, user) {
    const ended = event === 'SIGNED_OUT' || event === 'SESSION_EXPIRED';
    const session = ended ? null : { expiresAt: sessionExpiresAt() };
    if (session && user) session.user = user;
    if (channel) channel.postMessage({ type: 'auth', event, session });
    deliver(event, session);
  }
  function onAuthStateChange(callback) {
    if (typeof callback !== 'function') throw new TypeError('onAuthStateChange takes a function');
    const entry = (event, session) => callback(event, session);
    listeners.add(entry);
    return () => {
      listeners.delete(entry);
    };
  }

  // Proactive refresh: shortly before the hint's expiry, while this tab is visible. The lead is at
  // most half the token's lifetime as first seen, so short lifetimes do not refresh in a loop.
  let timer = null;
  let seenExpiry = null;
  let seenAt = 0;
  let triedExpiry = null;
  function schedule() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    const doc = globalThis.document;
    if (!autoRefresh || !hintOn || !doc || doc.visibilityState === 'hidden') return;
    const expiry = hintExpiry();
    if (expiry === null) return;
    const now = Date.now();
    if (expiry !== seenExpiry) {
      seenExpiry = expiry;
      seenAt = now;
    }
    const lead = Math.min(leadMs, Math.max(0, (expiry * 1000 - seenAt) / 2));
    let delay = Math.max(0, expiry * 1000 - lead - now);
    if (expiry === triedExpiry) delay = Math.max(delay, RETRY_MS); // the last try left it as it was
    timer = setTimeout(proactiveRefresh, Math.min(delay, 0x7fffffff));
  }
  async function proactiveRefresh() {
    timer = null;
    const expiry = hintExpiry();
    if (expiry === null || globalThis.document.visibilityState === 'hidden') return;
    // A new hint since this timer was set: another tab refreshed (its message is on the way).
    if (expiry !== seenExpiry) return schedule();
    triedExpiry = expiry;
    try {
      await refreshAfter(await currentGeneration(), expiry);
    } catch (_) {
      // the session ended (SESSION_EXPIRED went out) or the network failed: schedule() decides
    }
    schedule();
  }
  if (globalThis.document && typeof globalThis.document.addEventListener === 'function') {
    globalThis.document.addEventListener('visibilitychange', () => schedule());
  }

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
      if (m.type === 'auth' && typeof m.event === 'string') deliver(m.event, m.session ?? null);
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
  // A proactive refresh also passes the hint's expiry it saw: a different one under the lock means
  // another tab refreshed already (the generation alone misses a tab that refreshed and released
  // the lock before this tab's timer fired and read the generation).
  let inflight = null;
  function refreshAfter(observed, expirySeen) {
    if (!inflight) {
      inflight = withLock(async () => {
        const generation = await currentGeneration();
        if (generation !== observed) return { refreshed: false, generation };
        if (expirySeen !== undefined && hintExpiry() !== expirySeen) return { refreshed: false, generation };
        try {
          await call('POST', 'custom-refresh/');
        } catch (err) {
          if (err instanceof AuthgateError && err.status === 401 && SESSION_ENDED.has(err.error) && believed) {
            emit('SESSION_EXPIRED'); // authgate cleared the cookies; every tab hears it
          }
          throw err;
        }
        expectHint();
        // Recorded (committed) before the lock is released: the next holder sees it.
        const next = await bumpGeneration();
        emit('TOKEN_REFRESHED');
        return { refreshed: true, generation: next };
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
  function authFetch(input, init = {}) {
    return fetchWithRefresh(input, init, async (response) => response.status === 401);
  }

  // authFetch's loop; `expired(response)` says whether a response means "refresh and retry".
  async function fetchWithRefresh(input, init, expired) {
    const request = { ...init, credentials: 'include' };
    let observed = storedGeneration(); // never ahead of the committed generation
    let response = await doFetch(input, request);
    for (let round = 0; round < 2 && (await expired(response)); round++) {
      if (!hasSession()) break; // no session hint: nobody is signed in, a refresh would only fail
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

  // A JSON call that needs the access token: refreshed and retried only when authgate refused the
  // token itself. Other 401s (a passkey refused during re-authentication) are answers: retrying
  // one would only spend its challenge.
  async function authCall(method, path, body) {
    const init = { method, headers: { accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetchWithRefresh(url(path), init, async (r) =>
      r.status === 401 && TOKEN_REFUSED.has((await envelope(r)).error));
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // Passkey ceremonies. A browser runs one WebAuthn request at a time ("A request is already
  // pending"), so a pending conditional (autofill) request is aborted, and its end awaited,
  // before any other ceremony starts.
  let conditional = null; // { controller, settled }
  async function cancelConditional() {
    const pending = conditional;
    if (!pending) return;
    pending.controller.abort(new DOMException('another passkey request started', 'AbortError'));
    await pending.settled;
  }

  async function create(publicKey, signal) {
    await cancelConditional();
    const credential = await credentials().create({ publicKey: creationOptions(publicKey), signal });
    return credentialJSON(credential);
  }

  async function get(publicKey, signal) {
    await cancelConditional();
    const credential = await credentials().get({ publicKey: requestOptions(publicKey), signal });
    return credentialJSON(credential);
  }

  // Tells the browser's passkey manager that authgate does not know a credential (removed on the
  // server), so it can stop offering it. Best effort; browsers without the Signal API skip it.
  function signalUnknown(err, publicKey, credential) {
    const PKC = globalThis.PublicKeyCredential;
    if (!(err instanceof AuthgateError) || err.error !== 'unknown_passkey') return;
    if (!PKC || typeof PKC.signalUnknownCredential !== 'function') return;
    const rpId = publicKey.rpId || globalThis.location?.hostname;
    PKC.signalUnknownCredential({ rpId, credentialId: credential.id }).catch(() => {});
  }

  /** `{passkey: true}` in a re-authentication body → an assertion by one of the user's passkeys. */
  async function reauthentication(reauth = {}, signal) {
    const { passkey, password, code } = reauth;
    if (passkey === true) {
      const { publicKey, state } = await call('POST', 'signin/passkey/options/', {});
      return { passkey: { credential: await get(publicKey, signal), state } };
    }
    if (passkey) return { passkey };
    const body = { password };
    if (code !== undefined && code !== '') body.code = code;
    return body;
  }

  // One conditional round: fresh options, then a request that stays open until the user picks a
  // passkey from the autofill, `signal` aborts, or the challenge nears its end (then: `null`).
  async function conditionalRound(signal) {
    const { publicKey, state } = await call('POST', 'signin/passkey/options/', {});
    signal.throwIfAborted();
    const lifetime = Number(publicKey.timeout) > 0 ? Number(publicKey.timeout) : CHALLENGE_LIFETIME_MS;
    const round = new AbortController();
    const onAbort = () => round.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const renew = setTimeout(() => round.abort(RENEW), Math.max(lifetime - CHALLENGE_MARGIN_MS, 10000));
    try {
      const credential = await credentials().get({
        publicKey: requestOptions(publicKey), mediation: 'conditional', signal: round.signal,
      });
      return { publicKey, state, credential: credentialJSON(credential) };
    } catch (err) {
      if (round.signal.reason === RENEW && !signal.aborted) return null;
      throw err;
    } finally {
      clearTimeout(renew);
      signal.removeEventListener('abort', onAbort);
    }
  }

  async function conditionalAssertion(signal) {
    await cancelConditional(); // one conditional request per client
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    if (signal) {
      if (signal.aborted) controller.abort(signal.reason);
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    let done;
    const mine = { controller, settled: new Promise((r) => (done = r)) };
    conditional = mine;
    try {
      for (;;) {
        const found = await conditionalRound(controller.signal);
        if (found) return found;
      }
    } finally {
      if (signal) signal.removeEventListener('abort', onAbort);
      if (conditional === mine) conditional = null;
      done();
    }
  }

  // After authgate opened a session for this page (the cookies are set): every tab learns it.
  // `sure`: the answer always sets the cookies. A sign-up does not when authgate requires email
  // verification first; its answer tells: the new account's `last_sign_in_at` is set exactly when
  // it was signed in (else, the hint appeared).
  async function signedIn(user, sure = true) {
    if (!sure && !(user && 'last_sign_in_at' in user ? !!user.last_sign_in_at : hintOn && hintExpiry() !== null)) return;
    expectHint();
    await bumpGeneration();
    emit('SIGNED_IN', user);
  }

  // A 401 `mfa_required` as a continuation whose `withCode`/`withPasskey` resend the sign-in body
  // plus the factor. `codeField`: where the code goes (`code` at `signin/`, `code_totp` at `sms/signin/`).
  function mfaStep(answer, resend, codeField) {
    let offer = answer.passkey && answer.passkey.publicKey ? answer.passkey : null;
    const finish = async ({ passkey, signal, code, ...extra }) => {
      if (code !== undefined) extra[codeField] = code;
      if (!passkey) return resend(extra);
      if (codeField !== 'code') throw new DOMException('this sign-in takes no passkey', 'NotSupportedError');
      if (!offer) {
        // No passkey offered, or its challenge was spent by an earlier attempt: ask again.
        const again = await resend(extra);
        if (again.status !== 'mfa_required') return again; // the account no longer asks for a second factor
        offer = again.passkey;
        if (!offer) throw new DOMException('this account has no passkey', 'NotSupportedError');
      }
      const { publicKey, state } = offer;
      const credential = await get(publicKey, signal); // a cancelled prompt keeps the challenge
      offer = null; // sent now: a challenge is single use
      return resend({ ...extra, passkey: { credential, state } }).catch((e) => {
        signalUnknown(e, publicKey, credential);
        throw e;
      });
    };
    return {
      status: 'mfa_required',
      factors: Array.isArray(answer.factors) ? answer.factors : [],
      passkeyOffered: !!offer,
      get passkey() {
        return offer; // the offered challenge while unspent (for withPasskey's own use)
      },
      withCode: (code, { captcha } = {}) => finish(captcha ? { code, captcha } : { code }),
      withPasskey: ({ signal, captcha } = {}) => finish(captcha ? { passkey: true, signal, captcha } : { passkey: true, signal }),
    };
  }

  // A sign-in request (`signin/`, `sms/signin/`) → `{ status: 'signed_in' }`, or after a 401
  // `mfa_required` the continuation that resends the same body plus the factor.
  async function signinAt(path, body, codeField) {
    try {
      await call('POST', path, body);
    } catch (err) {
      if (!(err instanceof AuthgateError) || err.error !== 'mfa_required' || err.status !== 401) throw err;
      return mfaStep(await envelope(err.response), (extra) => signinAt(path, { ...body, ...extra }, codeField), codeField);
    }
    await signedIn();
    return { status: 'signed_in' };
  }

  // A call that changes the signed-in user: USER_UPDATED (with the user when the answer is one).
  async function updating(method, path, body, answerIsUser = false) {
    const answer = await authCall(method, path, body);
    emit('USER_UPDATED', answerIsUser ? answer : undefined);
    return answer;
  }

  // Re-authentication bodies: `passkey: true` becomes an assertion made now (a browser prompt).
  async function withReauth(body = {}) {
    const { passkey, signal, ...rest } = body || {};
    if (rest.code === '' || rest.code === undefined) delete rest.code; // an empty form field: no code
    if (passkey === true) {
      const { publicKey, state } = await call('POST', 'signin/passkey/options/', {});
      return { ...rest, passkey: { credential: await get(publicKey, signal), state } };
    }
    return passkey ? { ...rest, passkey } : rest;
  }

  const noSession = () => {
    const body = { error: 'unauthenticated', message: 'authentication required' };
    const response = new Response(JSON.stringify(body), { status: 401, headers: { 'content-type': 'application/json' } });
    return new AuthgateError(401, body.error, body.message, response);
  };

  schedule();

  return {
    authFetch,
    /** Whether a session probably exists, from the session hint cookie; no request. */
    hasSession,
    /** The access token's expiry (Unix seconds) from the session hint, or null. */
    sessionExpiresAt,
    /** Listens for SIGNED_IN, SIGNED_OUT, TOKEN_REFRESHED, USER_UPDATED, SESSION_EXPIRED (every tab); returns the unsubscribe function. */
    onAuthStateChange,
    /** `POST signup/` → the new user; signs in (cookies). */
    async signup(body) {
      const user = await call('POST', 'signup/', body);
      await signedIn(user, false);
      return user;
    },
    /**
     * `POST signin/` (`{login, password, remember_me?}`; `email` is accepted for `login`) →
     * `{status: 'signed_in'}` (cookies set), or `{status: 'mfa_required', factors, passkeyOffered,
     * withCode, withPasskey}` when the account needs a second factor.
     */
    async signin(body) {
      const { email, ...rest } = body || {};
      return signinAt('signin/', { ...rest, login: rest.login ?? email }, 'code');
    },
    /** `POST custom-logout/` → null; clears the cookies and ends the session. */
    async logout() {
      await call('POST', 'custom-logout/');
      emit('SIGNED_OUT');
      return null;
    },
    /** `GET user/` (through authFetch, so an expired access token is refreshed first). */
    async user() {
      if (!hasSession()) throw noSession(); // no hint: answered without a request
      const response = await authFetch(url('user/'), { headers: { accept: 'application/json' } });
      if (!response.ok) throw await errorFrom(response);
      return response.json();
    },
    /** Refreshes now, unless another tab or call refreshes meanwhile (single-flight). */
    async refresh() {
      await refreshAfter(await currentGeneration());
      return null;
    },

    // --- Email, password ---------------------------------------------------------------------

    /** `POST verify-email/` with the mailed code (`email` too when signed out) → the user. */
    async verifyEmail({ code, email } = {}) {
      const before = hasSession();
      const body = { verification_code: code };
      if (email !== undefined) body.email = email;
      const user = await authCall('POST', 'verify-email/', body);
      if (!before && hasSession()) await signedIn(user); // verification required: this signs in
      else emit('USER_UPDATED', user);
      return user;
    },
    /** `POST verify-email/resend/` → `{message}` (202, alike whether or not a mail went out). */
    resendVerification(body = {}) {
      return authCall('POST', 'verify-email/resend/', body);
    },
    /** `POST password/forgot/` (`{email, captcha?}`) → `{message}` (202). */
    forgotPassword(body) {
      return call('POST', 'password/forgot/', body);
    },
    /** `POST password/reset/` (`{email, code, password}`) → null; every session of the account ends. */
    resetPassword(body) {
      return call('POST', 'password/reset/', body);
    },
    /** `POST user/password/` (`{old_password, password}`) → null; the user's other sessions end. */
    async changePassword(body) {
      await updating('POST', 'user/password/', body);
      return null;
    },
    /** `PATCH user/` (`name`, `avatar`; `email` with re-authentication) → the user. */
    async updateUser(body) {
      return updating('PATCH', 'user/', await withReauth(body), true);
    },
    /** `DELETE user/email-change/` → null: the pending email change is cancelled. */
    async cancelEmailChange() {
      await updating('DELETE', 'user/email-change/');
      return null;
    },
    /** `POST email-change/revert/` (`{email, code}`, from the old address's notice) → null. */
    revertEmailChange(body) {
      return call('POST', 'email-change/revert/', body);
    },

    // --- Second factors ----------------------------------------------------------------------

    /** `POST mfa/totp/` after re-authentication → `{secret, otpauth_url}` (pending until confirmed). */
    async enrollTotp(reauth) {
      return authCall('POST', 'mfa/totp/', await withReauth(reauth));
    },
    /** `POST mfa/totp/confirm/` (`{code}` or `{codes: [a, b]}`) → `{recovery_codes}`, shown once. */
    confirmTotp(body) {
      return updating('POST', 'mfa/totp/confirm/', body);
    },
    /** `DELETE mfa/totp/` after re-authentication (password and code, or a passkey) → null. */
    async disableTotp(reauth) {
      await updating('DELETE', 'mfa/totp/', await withReauth(reauth));
      return null;
    },
    /** `POST mfa/recovery-codes/` after re-authentication → `{recovery_codes}`; the old set stops working. */
    async replaceRecoveryCodes(reauth) {
      return authCall('POST', 'mfa/recovery-codes/', await withReauth(reauth));
    },

    // --- SMS and phone -----------------------------------------------------------------------

    /** `POST sms/code/` (`{phone, captcha?}`) → `{message}` (202, alike for unknown numbers). */
    requestSmsCode(body) {
      return call('POST', 'sms/code/', body);
    },
    /**
     * `POST sms/signin/` (`{phone, code, remember_me?}`) → `{status: 'signed_in'}`; with TOTP on,
     * `{status: 'mfa_required', ...}`: `withCode(totpCode)` resends it with `code_totp`.
     */
    signInWithSms(body) {
      return signinAt('sms/signin/', body, 'code_totp');
    },
    /** `POST user/phone/code/` (`{phone}` plus re-authentication) → `{message}` (202). */
    async requestPhoneCode(body) {
      return authCall('POST', 'user/phone/code/', await withReauth(body));
    },
    /** `POST user/phone/` (`{phone, code}`) → the user with the new phone. */
    bindPhone(body) {
      return updating('POST', 'user/phone/', body, true);
    },
    /** `DELETE user/phone/` after re-authentication → null. */
    async unbindPhone(reauth) {
      await updating('DELETE', 'user/phone/', await withReauth(reauth));
      return null;
    },

    // --- Sessions and the account ------------------------------------------------------------

    /** `GET sessions/` → the live sessions, newest first (`current` marks this one). */
    async listSessions() {
      const { sessions } = await authCall('GET', 'sessions/');
      return sessions;
    },
    /** `DELETE sessions/{id}/` → null. */
    async revokeSession(id) {
      await authCall('DELETE', `sessions/${encodeURIComponent(id)}/`);
      return null;
    },
    /** `POST sessions/revoke-others/` → null: every session but this one ends. */
    async revokeOtherSessions() {
      await authCall('POST', 'sessions/revoke-others/');
      return null;
    },
    /** `POST user/export/` after re-authentication → everything held about the account. */
    async exportAccount(reauth) {
      return authCall('POST', 'user/export/', await withReauth(reauth));
    },
    /** `DELETE user/` after re-authentication → null: the account is gone, signed out everywhere. */
    async deleteAccount(reauth) {
      await authCall('DELETE', 'user/', await withReauth(reauth));
      emit('SIGNED_OUT');
      return null;
    },

    // --- Passkeys ----------------------------------------------------------------------------

    /**
     * Signs in with a passkey, no password: `signin/passkey/options/`, the browser's prompt (or,
     * with `conditional`, the autofill of an `autocomplete="username webauthn"` field, renewed
     * before its challenge expires), then `signin/passkey/`. Sets the cookies; resolves to null.
     */
    async signInWithPasskey({ conditional: autofill = false, signal, rememberMe } = {}) {
      let publicKey;
      let state;
      let credential;
      if (autofill) {
        ({ publicKey, state, credential } = await conditionalAssertion(signal));
      } else {
        ({ publicKey, state } = await call('POST', 'signin/passkey/options/', {}));
        credential = await get(publicKey, signal);
      }
      const body = { credential, state };
      if (rememberMe !== undefined) body.remember_me = !!rememberMe;
      try {
        await call('POST', 'signin/passkey/', body);
      } catch (err) {
        signalUnknown(err, publicKey, credential);
        throw err;
      }
      await signedIn();
      return null;
    },

    /** Creates an account whose only sign-in method is a new passkey; signs in (cookies). */
    async signUpWithPasskey({ email, name, inviteCode, captcha, signal } = {}) {
      const body = { email, name };
      if (inviteCode) body.invite_code = inviteCode;
      if (captcha) body.captcha = captcha;
      const { publicKey, state } = await call('POST', 'signup/passkey/options/', body);
      const credential = await create(publicKey, signal);
      const user = await call('POST', 'signup/passkey/', { credential, state });
      await signedIn(user, false);
      return user;
    },

    /**
     * Adds a passkey to the signed-in account. Re-authentication first: `{password, code?}`, or
     * `{passkey: true}` to confirm with one of the account's passkeys.
     */
    async registerPasskey({ password, code, passkey, name, signal } = {}) {
      const reauth = await reauthentication({ password, code, passkey }, signal);
      const { publicKey, state } = await authCall('POST', 'mfa/passkeys/register/options/', reauth);
      const credential = await create(publicKey, signal);
      const body = { credential, state };
      if (name) body.name = name;
      const added = await authCall('POST', 'mfa/passkeys/register/', body);
      emit('USER_UPDATED');
      return added;
    },

    /** The signed-in account's passkeys. */
    async listPasskeys() {
      const { passkeys } = await authCall('GET', 'mfa/passkeys/');
      return passkeys;
    },

    /** Renames one of the account's passkeys; resolves to the passkey. */
    renamePasskey(id, name) {
      return authCall('PATCH', `mfa/passkeys/${encodeURIComponent(id)}/`, { name });
    },

    /** Removes one of the account's passkeys, after re-authentication (as in `registerPasskey`). */
    async removePasskey(id, reauth = {}) {
      const body = await reauthentication(reauth, reauth.signal);
      await updating('DELETE', `mfa/passkeys/${encodeURIComponent(id)}/`, body);
      return null;
    },

    // --- Identity providers ------------------------------------------------------------------

    /** `GET oauth/providers/` → the configured provider ids, for "Continue with …" buttons. */
    async listProviders() {
      const { providers } = await call('GET', 'oauth/providers/');
      return providers.map((p) => p.id);
    },
    /**
     * The address that begins a sign-in with `provider`: a page navigates to it (a link or
     * `location.assign`), and the flow ends back on `returnTo` (default: the first of authgate's
     * `AUTHGATE_REDIRECT_URLS`), signed in or with `?error=<code>`; see `completeProviderSignIn`.
     */
    providerSignInUrl(provider, { returnTo, rememberMe, inviteCode } = {}) {
      const query = new URLSearchParams();
      if (returnTo) query.set('return_to', String(returnTo));
      if (rememberMe) query.set('remember_me', 'true');
      if (inviteCode) query.set('invite_code', inviteCode);
      const q = query.toString();
      return url(`oauth/${encodeURIComponent(provider)}/authorize/${q ? `?${q}` : ''}`);
    },
    /** Navigates this page to `provider` (see `providerSignInUrl`). */
    signInWithProvider(provider, options = {}) {
      globalThis.location.assign(this.providerSignInUrl(provider, options));
    },
    /**
     * Reads how a provider sign-in ended from this page's address (`url`, default the current
     * one) and removes the `error` parameter from the address bar: null when it carries none
     * (the session cookies are set when it succeeded: `user()` answers), `{status: 'error',
     * error}` for a failure, or for `mfa_required` the continuation (`withCode`, `withPasskey`,
     * as `signin` gives it) that finishes at `oauth/continue/` in this browser.
     */
    async completeProviderSignIn({ url: address = globalThis.location?.href } = {}) {
      if (!address) return null;
      const here = new URL(address);
      const error = here.searchParams.get('error');
      if (!error) return null;
      if (address === globalThis.location?.href && globalThis.history?.replaceState) {
        here.searchParams.delete('error');
        globalThis.history.replaceState(globalThis.history.state, '', here.toString());
      }
      if (error !== 'mfa_required') return { status: 'error', error };
      return signinAt('oauth/continue/', {}, 'code');
    },
    /**
     * Links an identity at `provider` to the signed-in account: asks authgate for the provider's
     * address and navigates there; the browser comes back to `returnTo`. Re-authentication as in
     * `registerPasskey` (`{password, code?}` or `{passkey: true}`); an account with neither a
     * password nor a passkey links from a sign-in of the last 10 minutes instead.
     */
    async linkProvider(provider, { returnTo, ...reauth } = {}) {
      const body = await withReauth(reauth);
      if (returnTo) body.return_to = String(returnTo);
      const { url: to } = await authCall('POST', `user/identities/${encodeURIComponent(provider)}/link/`, body);
      globalThis.location.assign(to);
      return to;
    },
    /** Unlinks one of the account's identities (`user().identities`), after re-authentication. */
    async unlinkIdentity(id, reauth = {}) {
      await updating('DELETE', `user/identities/${encodeURIComponent(id)}/`, await withReauth(reauth));
      return null;
    },
  };
}

export default createClient;
