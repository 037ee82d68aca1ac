// The JS client's session hint, auth state events, proactive refresh and account flows, in
// headless Chromium against the real authgate binary. Set-up as spa.test.js: a page on
// http://app.example.test:<port>, authgate on http://auth.example.test:<port>, cookies for
// Domain=example.test (so the page can read the session hint), access tokens living 2 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startAuthgate, startBareApp, launchBrowser, freePort, metric, uniqueEmail, totp,
} from './harness.js';

const PASSWORD = 'correct horse battery staple';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let auth; let app; let browser;

before(async () => {
  const appPort = await freePort();
  const appOrigin = `http://app.example.test:${appPort}`;
  auth = await startAuthgate({
    AUTHGATE_ALLOWED_ORIGINS: appOrigin,
    AUTHGATE_COOKIE_DOMAIN: 'example.test',
    AUTHGATE_ACCESS_TOKEN_TTL: '2s',
  });
  app = await startBareApp({ authOrigin: auth.origin, port: appPort });
  browser = await launchBrowser({ secureOrigins: [app.origin] });
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await auth?.stop();
});

/** A context whose pages' clients get `options` (proactive refresh off unless asked for). */
async function newContext(options = { autoRefresh: false }) {
  const context = await browser.newContext();
  await context.addInitScript((o) => {
    window.authgateClientOptions = o;
    // Tests make a tab "hidden" with window.setHidden(true) (headless tabs are all visible).
    let hidden = false;
    Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible'), configurable: true });
    Object.defineProperty(Document.prototype, 'hidden', { get: () => hidden, configurable: true });
    window.setHidden = (h) => {
      hidden = h;
      document.dispatchEvent(new Event('visibilitychange'));
    };
  }, options);
  return context;
}

/** Opens the bare page; `requests` collects every request it sends to authgate. */
async function bare(context) {
  const page = await context.newPage();
  const requests = [];
  page.on('request', (r) => {
    if (r.url().startsWith(auth.origin)) requests.push(`${r.method()} ${r.url().slice(auth.origin.length)}`);
  });
  await page.goto(`${app.origin}/bare`);
  await page.waitForFunction(() => window.ready === true);
  return { page, requests };
}

async function createUser(email, password = PASSWORD) {
  const r = await fetch(`${auth.local}/api/v1/auth/signup/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Client Test', email, password }),
  });
  assert.equal(r.status, 201, await r.text());
}

const events = (page) => page.evaluate(() => window.events.map(([e]) => e));

async function waitForEvent(page, event, count = 1) {
  await page.waitForFunction(([e, n]) => window.events.filter(([x]) => x === e).length >= n, [event, count], { timeout: 10000 })
    .catch(async () => {
      throw new Error(`waiting for ${count} × ${event}; events: ${JSON.stringify(await events(page))}`);
    });
}

async function refreshes() {
  const m = await auth.metrics();
  return {
    rotated: metric(m, 'authgate_refresh_total', { outcome: 'rotated' }),
    grace: metric(m, 'authgate_refresh_total', { outcome: 'grace' }),
    reused: metric(m, 'authgate_refresh_total', { outcome: 'reused' }),
    requests: metric(m, 'authgate_http_requests_total', { route: '/api/v1/auth/custom-refresh', method: 'POST' }),
  };
}

test('an anonymous page load sends no request: no GET user/, no 401, no refresh POST', async () => {
  const context = await newContext({}); // the defaults: hint on, proactive refresh on
  const { page, requests } = await bare(context);
  const seen = await page.evaluate(async () => {
    const out = { hasSession: window.client.hasSession(), expiresAt: window.client.sessionExpiresAt() };
    try {
      await window.client.user();
    } catch (err) {
      out.user = [err instanceof window.AuthgateError, err.status, err.error, err.message];
    }
    out.hello = (await window.client.authFetch(window.helloUrl)).status; // refused, and not refreshed
    return out;
  });
  assert.deepEqual(seen, {
    hasSession: false, expiresAt: null, user: [true, 401, 'unauthenticated', 'authentication required'], hello: 401,
  });
  await sleep(300);
  assert.deepEqual(requests, ['GET /demo/api/hello'], 'only the API call the page made itself');

  // The example SPA's signed-out page load: status from the hint, no user/ and no refresh.
  const spa = await context.newPage();
  const statuses = [];
  spa.on('response', (r) => {
    if (r.url().startsWith(auth.origin)) statuses.push(`${r.status()} ${r.request().method()} ${r.url().slice(auth.origin.length)}`);
  });
  await spa.goto(`${app.origin}/`);
  await spa.waitForFunction(() => document.getElementById('status').textContent === 'signed out');
  await sleep(500);
  assert.deepEqual(statuses.filter((s) => /^401 |custom-refresh|\/user\//.test(s)), [], JSON.stringify(statuses));
  await context.close();
});

test('the session hint: set by sign-in (the access token expiry), readable by the page, cleared by logout', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext();
  const { page, requests } = await bare(context);
  const before = Math.floor(Date.now() / 1000);
  await page.evaluate(([login, password]) => window.client.signin({ login, password }), [email, PASSWORD]);
  const { has, expiresAt, cookie } = await page.evaluate(() => ({
    has: window.client.hasSession(), expiresAt: window.client.sessionExpiresAt(), cookie: document.cookie,
  }));
  assert.equal(has, true);
  assert.ok(expiresAt >= before + 1 && expiresAt <= before + 3, `expiresAt ${expiresAt}, now ${before}`);
  assert.equal(cookie, `authgate_session=${expiresAt}`, 'the hint is the only cookie a script sees');
  assert.equal((await page.evaluate(() => window.client.user())).email, email);
  await page.evaluate(() => window.client.logout());
  assert.deepEqual(await page.evaluate(() => [window.client.hasSession(), document.cookie]), [false, '']);
  assert.deepEqual(requests, ['POST /api/v1/auth/signin/', 'GET /api/v1/auth/user/', 'POST /api/v1/auth/custom-logout/']);
  await context.close();
});

test('events reach every tab: SIGNED_IN, USER_UPDATED, SIGNED_OUT; a refused refresh is SESSION_EXPIRED in both tabs', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext();
  const { page: a } = await bare(context);
  const { page: b, requests: fromB } = await bare(context);

  await a.evaluate(([login, password]) => window.client.signin({ login, password }), [email, PASSWORD]);
  await waitForEvent(b, 'SIGNED_IN');
  const [, session] = await b.evaluate(() => window.events.at(-1));
  assert.equal(typeof session.expiresAt, 'number');
  assert.equal(await b.evaluate(() => window.client.hasSession()), true);

  const renamed = await a.evaluate(() => window.client.updateUser({ name: 'Renamed In A' }));
  assert.equal(renamed.name, 'Renamed In A');
  await waitForEvent(b, 'USER_UPDATED');
  assert.equal((await b.evaluate(() => window.events.at(-1)))[1].user.name, 'Renamed In A');

  await a.evaluate(() => window.client.logout());
  await waitForEvent(b, 'SIGNED_OUT');
  assert.deepEqual(await b.evaluate(() => window.events.at(-1)), ['SIGNED_OUT', null]);
  assert.equal(await b.evaluate(() => window.client.hasSession()), false);
  assert.deepEqual(fromB, [], 'tab B learnt everything without a request');

  // Sign in again, then the session ends on the server (here: logged out with the refresh
  // cookie from outside the browser). Tab A's refresh is refused: both tabs hear SESSION_EXPIRED.
  await a.evaluate(([login, password]) => window.client.signin({ login, password }), [email, PASSWORD]);
  await waitForEvent(b, 'SIGNED_IN', 2);
  const jar = await context.cookies([`${auth.origin}/api/v1/auth/`]);
  const refreshCookie = jar.find((c) => c.name === 'refresh_token');
  const out = await fetch(`${auth.local}/api/v1/auth/custom-logout/`, {
    method: 'POST', headers: { cookie: `refresh_token=${refreshCookie.value}` },
  });
  assert.equal(out.status, 204);
  const mark = await refreshes();
  const refused = await a.evaluate(() => window.client.refresh().then(() => 'refreshed', (e) => `${e.status} ${e.error}`));
  assert.equal(refused, '401 invalid_refresh_token');
  await waitForEvent(a, 'SESSION_EXPIRED');
  await waitForEvent(b, 'SESSION_EXPIRED');
  assert.deepEqual(await b.evaluate(() => window.events.at(-1)), ['SESSION_EXPIRED', null]);
  assert.deepEqual(await Promise.all([a, b].map((p) => p.evaluate(() => window.client.hasSession()))), [false, false]);
  // Tab B, now without a hint, does not try a refresh of its own when its API call is refused.
  assert.equal(await b.evaluate(async () => (await window.client.authFetch(window.helloUrl)).status), 401);
  assert.equal((await refreshes()).requests - mark.requests, 1, 'one refresh request: tab A\'s');
  assert.deepEqual((await events(b)).filter((e) => e === 'SESSION_EXPIRED'), ['SESSION_EXPIRED'], 'delivered once');
  await context.close();
});

test('proactive refresh: before expiry while visible, exactly one request across tabs; none in a hidden tab until it shows', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext({ refreshLeadSeconds: 1 });
  const { page: a } = await bare(context);
  await a.evaluate(() => window.setHidden(true));
  const start = await refreshes();
  await a.evaluate(([login, password]) => window.client.signin({ login, password }), [email, PASSWORD]);
  await sleep(3500); // the 2 s access token expired while the only tab was hidden
  assert.deepEqual(await events(a), ['SIGNED_IN']);
  assert.equal((await refreshes()).requests - start.requests, 0, 'no refresh in a hidden tab');
  await a.evaluate(() => window.setHidden(false));
  await waitForEvent(a, 'TOKEN_REFRESHED'); // shown again: refreshed at once

  // Two visible tabs for about four token lifetimes: refreshed before every expiry, one
  // request each time (the tabs share the cookie jar), and an API call never sees an expired token.
  const { page: b } = await bare(context);
  const mark = await refreshes();
  const statuses = await a.evaluate(async (url) => {
    const out = [];
    for (let i = 0; i < 16; i++) {
      await new Promise((r) => setTimeout(r, 450));
      out.push((await fetch(url, { credentials: 'include' })).status); // plain fetch: no refresh on 401
    }
    return out;
  }, `${auth.origin}/demo/api/hello`);
  const end = await refreshes();
  const n = end.requests - mark.requests;
  const seen = JSON.stringify({ statuses, mark, end });
  assert.deepEqual(statuses, Array(16).fill(200), `the access token never lapsed: ${seen}`);
  // One refresh per token, 0.5 to 1 s into its 1-2 s (whole seconds) as the hint tells it.
  assert.ok(n >= 3 && n <= 16, `${n} refresh requests in ~7 s of 2 s tokens: ${seen}`);
  assert.equal(end.rotated - mark.rotated, n, `every refresh request rotated: ${seen}`);
  assert.equal(end.grace - mark.grace, 0, `no two tabs refreshed the same token: ${seen}`);
  assert.equal(end.reused - mark.reused, 0, seen);
  const refreshedIn = async (p) => (await events(p)).filter((e) => e === 'TOKEN_REFRESHED').length;
  assert.ok(await refreshedIn(b) >= n - 1, 'tab B heard the refreshes, whichever tab made them');
  await context.close();
});

test('account flows through the client against the real service: profile, password, TOTP, recovery codes, sessions, export, deletion', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext();
  const { page } = await bare(context);
  const call = (fn, ...args) => page.evaluate(async ([source, a]) => {
    try {
      return { ok: await (0, eval)(source)(window.client, ...a) };
    } catch (err) {
      return { err: [err.constructor.name, err.status, err.error] };
    }
  }, [fn.toString(), args]);

  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, PASSWORD), { ok: { status: 'signed_in' } });
  // Errors keep the AuthgateError shape.
  assert.deepEqual(await call((c) => c.changePassword({ old_password: 'not the password', password: 'another good passphrase' })),
    { err: ['AuthgateError', 400, 'invalid_old_password'] });
  const NEW = 'a brand new horse battery';
  assert.deepEqual(await call((c, old, p) => c.changePassword({ old_password: old, password: p }), PASSWORD, NEW), { ok: null });
  assert.equal((await call((c) => c.forgotPassword({ email: 'nobody@example.com' }))).ok.message.length > 0, true);
  assert.equal(typeof (await call((c) => c.resendVerification())).ok.message, 'string');

  const enrolment = (await call((c, p) => c.enrollTotp({ password: p }), NEW)).ok;
  assert.match(enrolment.otpauth_url, /^otpauth:\/\/totp\//);
  const { recovery_codes: codes } = (await call((c, code) => c.confirmTotp({ code }), totp(enrolment.secret))).ok;
  assert.equal(codes.length, 10);
  assert.equal((await page.evaluate(() => window.client.user())).totp_enabled, true);
  assert.ok((await events(page)).includes('USER_UPDATED'));

  // Sign-in continuation after mfa_required (a recovery code: the TOTP step just used is spent).
  await page.evaluate(() => window.client.logout());
  const mfa = await page.evaluate(async ([login, password, code]) => {
    const first = await window.client.signin({ login, password });
    if (first.status !== 'mfa_required') return first;
    const wrong = await first.withCode('000000').then((r) => r.status, (e) => `${e.status} ${e.error}`);
    const done = await first.withCode(code);
    return [first.status, first.factors, first.passkeyOffered, wrong, done, window.events.at(-1)[0]];
  }, [email, NEW, codes[0]]);
  assert.deepEqual(mfa, ['mfa_required', ['totp', 'recovery_code'], false, '401 invalid_code', { status: 'signed_in' }, 'SIGNED_IN']);
  assert.equal(await page.evaluate(() => window.client.hasSession()), true);

  const fresh = (await call((c, p, code) => c.replaceRecoveryCodes({ password: p, code }), NEW, codes[1])).ok;
  assert.equal(fresh.recovery_codes.length, 10);
  assert.deepEqual(await call((c, p, code) => c.disableTotp({ password: p, code }), NEW, fresh.recovery_codes[0]), { ok: null });

  // A second session (outside the browser), listed, then ended by revoke-others.
  const other = await fetch(`${auth.local}/api/v1/auth/signin/`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: email, password: NEW }),
  });
  assert.equal(other.status, 204);
  const sessions = (await call((c) => c.listSessions())).ok;
  assert.equal(sessions.length, 2);
  assert.equal(sessions.filter((s) => s.current).length, 1);
  const otherId = sessions.find((s) => !s.current).id;
  assert.deepEqual(await call((c, id) => c.revokeSession(id), otherId), { ok: null });
  assert.deepEqual(await call((c, id) => c.revokeSession(id), otherId), { err: ['AuthgateError', 404, 'not_found'] });
  assert.deepEqual(await call((c) => c.revokeOtherSessions()), { ok: null });
  assert.equal((await call((c) => c.listSessions())).ok.length, 1);

  // Email: a wrong code, then an email change (re-authenticated) that shows as pending and is cancelled.
  assert.deepEqual(await call((c) => c.verifyEmail({ code: '000000' })), { err: ['AuthgateError', 400, 'invalid_code'] });
  const moved = `moved-${email}`;
  assert.deepEqual(await call((c, e) => c.updateUser({ email: e, password: 'not it' }), moved), { err: ['AuthgateError', 400, 'invalid_password'] });
  assert.equal((await call((c, e, p) => c.updateUser({ email: e, password: p }), moved, NEW)).ok.pending_email, moved);
  assert.deepEqual(await call((c) => c.cancelEmailChange()), { ok: null });
  assert.equal((await page.evaluate(() => window.client.user())).pending_email, null);
  // SMS: the code request answers alike for an unknown number; a wrong code is refused.
  assert.equal(typeof (await call((c) => c.requestSmsCode({ phone: '+14155552671' }))).ok.message, 'string');
  assert.deepEqual(await call((c) => c.signInWithSms({ phone: '+14155552671', code: '000000' })), { err: ['AuthgateError', 400, 'invalid_code'] });

  const exported = (await call((c, p) => c.exportAccount({ password: p }), NEW)).ok;
  assert.equal(exported.user.email, email);
  assert.equal(exported.factors.totp, false);

  assert.deepEqual(await call((c) => c.deleteAccount({ password: 'wrong password' })), { err: ['AuthgateError', 400, 'invalid_password'] });
  assert.deepEqual(await call((c, p) => c.deleteAccount({ password: p }), NEW), { ok: null });
  assert.equal((await events(page)).at(-1), 'SIGNED_OUT');
  assert.equal(await page.evaluate(() => window.client.hasSession()), false);
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, NEW), { err: ['AuthgateError', 401, 'invalid_credentials'] });
  await context.close();
});

test('sessionHint: false keeps the old behaviour: a refused call tries the refresh', async () => {
  const context = await newContext({ sessionHint: false, autoRefresh: false });
  const { page, requests } = await bare(context);
  const seen = await page.evaluate(async () => ({
    before: window.client.hasSession(),
    user: await window.client.user().then(() => 'user', (e) => `${e.status} ${e.error}`),
    expiresAt: window.client.sessionExpiresAt(),
  }));
  assert.deepEqual(seen, { before: true, user: '401 unauthenticated', expiresAt: null });
  assert.deepEqual(requests, ['GET /api/v1/auth/user/', 'POST /api/v1/auth/custom-refresh/']);
  await context.close();
});

test('a hint this page cannot read (here: another cookie name) is noticed at sign-in and remembered across page loads', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext({ hintCookieName: 'not_the_hint', autoRefresh: false });
  const { page } = await bare(context);
  const warnings = [];
  page.on('console', (m) => {
    if (m.type() === 'warning') warnings.push(m.text());
  });
  assert.equal(await page.evaluate(() => window.client.hasSession()), false);
  await page.evaluate(([login, password]) => window.client.signin({ login, password }), [email, PASSWORD]);
  assert.deepEqual(await page.evaluate(() => [window.client.hasSession(), window.client.sessionExpiresAt()]), [true, null]);
  assert.match(warnings.join('\n'), /not_the_hint is not readable here/);
  // A new page load asks authgate instead of taking the missing hint for "signed out".
  const { page: next, requests } = await bare(context);
  assert.equal((await next.evaluate(() => window.client.user())).email, email);
  assert.deepEqual(requests, ['GET /api/v1/auth/user/']);
  await context.close();
});

test('sessionHint: false: a sign-up that opens a session is SIGNED_IN (the answer tells, no hint needed)', async () => {
  const context = await newContext({ sessionHint: false, autoRefresh: false });
  const { page, requests } = await bare(context);
  const email = uniqueEmail();
  const user = await page.evaluate(([e, p]) => window.client.signup({ name: 'No Hint', email: e, password: p }), [email, PASSWORD]);
  assert.equal(user.email, email);
  assert.notEqual(user.last_sign_in_at, null);
  assert.deepEqual(await events(page), ['SIGNED_IN']);
  assert.equal((await page.evaluate(() => window.client.user())).email, email);
  assert.deepEqual(requests, ['POST /api/v1/auth/signup/', 'GET /api/v1/auth/user/']);
  await context.close();
});
