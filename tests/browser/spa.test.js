// The JS client and the example SPA in headless Chromium against the real authgate binary.
// Cross-origin set-up: SPA on http://app.example.test:<port>, authgate on
// http://auth.example.test:<port> (same site, different origins), cookies for Domain=example.test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startAuthgate, startStatic, launchBrowser, ensureArtifacts, metric, uniqueEmail,
} from './harness.js';

const PASSWORD = 'correct horse battery staple';
const TTL_MS = 2000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let auth; let app; let evil; let browser;

before(async () => {
  const appPort = await (await import('./harness.js')).freePort();
  const appOrigin = `http://app.example.test:${appPort}`;
  auth = await startAuthgate({
    AUTHGATE_ALLOWED_ORIGINS: appOrigin,
    AUTHGATE_COOKIE_DOMAIN: 'example.test',
    AUTHGATE_ACCESS_TOKEN_TTL: `${TTL_MS / 1000}s`,
  });
  app = await startStatic({ host: 'app.example.test', authOrigin: auth.origin, port: appPort });
  assert.equal(app.origin, appOrigin);
  const refresh = `${auth.origin}/api/v1/auth/custom-refresh/`;
  evil = await startStatic({
    host: 'evil.test',
    authOrigin: auth.origin,
    pages: {
      '/attack': `<!doctype html><title>evil</title>
        <form id="empty" method="post" action="${refresh}"><button id="go-empty">go</button></form>
        <form id="fields" method="post" action="${refresh}"><input type="hidden" name="x" value="1"><button id="go-fields">go</button></form>`,
    },
  });
  // In production the SPA is served over https, a secure context where Web Locks exist; here it
  // is plain http, so the app origin is declared secure (the fallback is tested separately).
  browser = await launchBrowser({ secureOrigins: [app.origin] });
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await evil?.stop();
  await auth?.stop();
});

/**
 * A browser context whose SPA client does no proactive refresh: these tests count the refreshes
 * that expiry causes (proactive refresh is client.test.js's).
 */
async function newContext() {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    window.authgateClientOptions = { autoRefresh: false };
  });
  return context;
}

async function output(page, expected) {
  await page.waitForFunction(
    (text) => document.getElementById('output').textContent === text,
    expected,
    { timeout: 10000 },
  ).catch(async (err) => {
    const got = await page.textContent('#output');
    throw new Error(`#output is ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}: ${err.message}`);
  });
}

async function status(page, expected) {
  await page.waitForFunction(
    (text) => document.getElementById('status').textContent === text,
    expected,
    { timeout: 10000 },
  );
}

async function signUpInPage(page, email) {
  await page.fill('#signup-name', 'Browser Test');
  await page.fill('#signup-email', email);
  await page.fill('#signup-password', PASSWORD);
  await page.click('#signup');
  await output(page, `Signed up: ${email}`);
}

async function signInInPage(page, email) {
  await page.fill('#signin-email', email);
  await page.fill('#signin-password', PASSWORD);
  await page.click('#signin');
  await output(page, `Signed in: ${email}`);
  await status(page, `signed in as ${email}`);
}

/** A user created out of band (not a browser: no Origin, so CSRF rules do not apply). */
async function createUser(email) {
  const r = await fetch(`${auth.local}/api/v1/auth/signup/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Browser Test', email, password: PASSWORD }),
  });
  assert.equal(r.status, 201, await r.text());
}

async function refreshes() {
  const m = await auth.metrics();
  return {
    rotated: metric(m, 'authgate_refresh_total', { outcome: 'rotated' }),
    grace: metric(m, 'authgate_refresh_total', { outcome: 'grace' }),
    reused: metric(m, 'authgate_refresh_total', { outcome: 'reused' }),
    invalid: metric(m, 'authgate_refresh_total', { outcome: 'invalid' }),
    requests: metric(m, 'authgate_http_requests_total', { route: '/api/v1/auth/custom-refresh', method: 'POST' }),
  };
}

test('cross-origin: signup, who-am-I, demo API, logout and signin through the page; tokens unreadable by scripts', async () => {
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(`${app.origin}/`);
  await status(page, 'signed out');
  const email = uniqueEmail();

  await signUpInPage(page, email);
  await status(page, `signed in as ${email}`);
  // HttpOnly: the page's scripts cannot read either token, although the browser holds both for
  // Domain=example.test (which app.example.test's document.cookie would otherwise show).
  const visible = await page.evaluate(() => document.cookie);
  assert.ok(!visible.includes('access_token'), visible);
  assert.ok(!visible.includes('refresh_token'), visible);
  const jar = await context.cookies([`${auth.origin}/api/v1/auth/custom-refresh/`]);
  const byName = Object.fromEntries(jar.map((c) => [c.name, c]));
  assert.equal(byName.access_token?.httpOnly, true);
  assert.equal(byName.refresh_token?.httpOnly, true);
  assert.equal(byName.access_token.domain, '.example.test');
  assert.equal(byName.refresh_token.path, '/api/v1/auth/');
  assert.equal(byName.access_token.sameSite, 'Lax');

  await page.click('#whoami');
  await output(page, `You are ${email} (id ${(await page.evaluate(() => window.authgate.user())).id})`);
  await page.click('#hello');
  await output(page, `Demo API says hello to ${email}`);

  await page.click('#logout');
  await output(page, 'Logged out');
  await status(page, 'signed out');
  await page.click('#whoami');
  await output(page, 'Error 401 unauthenticated: authentication required');
  await page.click('#hello');
  await output(page, 'Demo API answered 401');

  // Wrong password: the error envelope reaches the page as an AuthgateError.
  await page.fill('#signin-email', email);
  await page.fill('#signin-password', 'not the password at all');
  await page.click('#signin');
  await output(page, 'Error 401 invalid_credentials: wrong email or password');

  await signInInPage(page, email);
  await page.click('#hello');
  await output(page, `Demo API says hello to ${email}`);
  const shot = path.join(ensureArtifacts(), 'signed-in.png');
  await page.screenshot({ path: shot, fullPage: true });
  await context.close();
});

test('an expired access token is refreshed transparently by authFetch', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(`${app.origin}/`);
  await signInInPage(page, email);
  await sleep(TTL_MS + 700);
  const before = await refreshes();
  await page.click('#hello');
  await output(page, `Demo API says hello to ${email}`);
  const after = await refreshes();
  assert.equal(after.rotated - before.rotated, 1);
  assert.equal(after.requests - before.requests, 1);
  assert.equal(after.reused - before.reused, 0);
  await context.close();
});

for (const locks of [true, false]) {
  const how = locks ? 'Web Locks' : 'no Web Locks (IndexedDB lease + BroadcastChannel fallback)';
  test(`four tabs of one browser context calling authFetch at the same moment after expiry, ${how}: all succeed, exactly one refresh request reaches authgate, the session is not revoked`, async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext();
  if (!locks) {
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
    });
  }
  const first = await context.newPage();
  await first.goto(`${app.origin}/`);
  await signInInPage(first, email);
  const tabs = [first];
  for (let i = 0; i < 3; i++) {
    const tab = await context.newPage();
    await tab.goto(`${app.origin}/`);
    await status(tab, `signed in as ${email}`);
    tabs.push(tab);
  }
  // Three expiries in a row: a lost race shows up in one of them far more often than in one.
  let after;
  for (let round = 1; round <= 3; round++) {
    await sleep(TTL_MS + 700); // every tab's access token has expired; nothing is in flight
    const before = await refreshes();
    const startAt = Date.now() + 300;
    const results = await Promise.all(tabs.map((tab) => tab.evaluate(async (at) => {
      while (Date.now() < at) await new Promise((r) => setTimeout(r, 1));
      const r = await window.authgate.authFetch(window.authgateHelloUrl);
      return { status: r.status, body: await r.json() };
    }, startAt)));
    after = await refreshes();
    const seen = `round ${round}: ${JSON.stringify({ before, after })}`;
    for (const r of results) assert.deepEqual(r, { status: 200, body: { hello: email } }, seen);
    assert.equal(after.requests - before.requests, 1, `refresh requests reaching authgate, ${seen}`);
    assert.equal(after.rotated - before.rotated, 1, seen);
    assert.equal(after.grace - before.grace, 0, seen);
    assert.equal(after.reused - before.reused, 0, seen);
    assert.equal(after.invalid - before.invalid, 0, seen);
  }
  // The session lives on: every tab still works, and the next refresh rotates normally.
  await tabs[3].click('#whoami');
  await output(tabs[3], `You are ${email} (id ${(await tabs[3].evaluate(() => window.authgate.user())).id})`);
  await tabs[2].evaluate(() => window.authgate.refresh());
  const later = await refreshes();
  assert.equal(later.rotated - after.rotated, 1);
  assert.equal(later.reused - after.reused, 0);
  await tabs[1].click('#hello');
  await output(tabs[1], `Demo API says hello to ${email}`);
  assert.equal(await first.evaluate(() => navigator.locks === undefined), !locks);
  await context.close();
  });
}

test('a different site: credentialed fetch blocked by CORS, form POST to custom-refresh/ refused', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(`${app.origin}/`);
  await signInInPage(page, email);

  const attacker = await context.newPage();
  await attacker.goto(`${evil.origin}/attack`);
  const attempt = (url) => attacker.evaluate(async (u) => {
    try {
      const r = await fetch(u, { credentials: 'include' });
      return { ok: true, status: r.status };
    } catch (err) {
      return { ok: false, error: `${err.name}: ${err.message}` };
    }
  }, url);
  assert.deepEqual(await attempt(`${auth.origin}/api/v1/auth/user/`), { ok: false, error: 'TypeError: Failed to fetch' });
  assert.deepEqual(await attempt(`${auth.origin}/demo/api/hello`), { ok: false, error: 'TypeError: Failed to fetch' });
  // Control: the same fetch from the allowed origin goes through.
  assert.deepEqual(await page.evaluate(async (u) => (await fetch(u, { credentials: 'include' })).status, `${auth.origin}/demo/api/hello`), 200);

  const before = await refreshes();
  const statuses = {};
  for (const form of ['empty', 'fields']) {
    await attacker.goto(`${evil.origin}/attack`);
    const [response] = await Promise.all([
      attacker.waitForResponse((r) => r.url().endsWith('/custom-refresh/')),
      attacker.click(`#go-${form}`),
    ]);
    statuses[form] = { status: response.status(), body: await response.json() };
  }
  const after = await refreshes();
  const refused = { status: 403, body: { error: 'csrf_rejected', message: 'cross-site request refused' } };
  assert.deepEqual(statuses, { empty: refused, fields: refused });
  assert.equal(after.rotated - before.rotated, 0);
  assert.equal(after.reused - before.reused, 0);
  // The session survived the attempts.
  await page.click('#hello');
  await output(page, `Demo API says hello to ${email}`);
  await context.close();
});

test('same origin: authgate serves the SPA under /demo/ (sign-in, who-am-I, demo API)', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await newContext();
  const page = await context.newPage();
  const response = await page.goto(`${auth.origin}/demo/`);
  assert.equal(response.status(), 200);
  const headers = response.headers();
  assert.match(headers['content-security-policy'], /^default-src 'self'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  await status(page, 'signed out');
  await signInInPage(page, email);
  await page.click('#whoami');
  await output(page, `You are ${email} (id ${(await page.evaluate(() => window.authgate.user())).id})`);
  await page.click('#hello');
  await output(page, `Demo API says hello to ${email}`);
  // Only the session hint is readable: the access token's expiry, no secret.
  assert.match(await page.evaluate(() => document.cookie), /^authgate_session=\d+$/);
  await context.close();
});

test('the demo routes exist only with AUTHGATE_DEMO=true', async () => {
  const plain = await startAuthgate({ AUTHGATE_DEMO: 'false', HOST: '127.0.0.1' });
  try {
    for (const p of ['/demo/', '/demo/app.js', '/demo/api/hello']) {
      const r = await fetch(`${plain.local}${p}`);
      assert.equal(r.status, 404, p);
    }
  } finally {
    await plain.stop();
  }
  // Control: the demo instance serves them, and the API refuses an anonymous caller.
  assert.equal((await fetch(`${auth.local}/demo/app.js`)).status, 200);
  assert.equal((await fetch(`${auth.local}/demo/nope.js`)).status, 404);
  const anon = await fetch(`${auth.local}/demo/api/hello`);
  assert.equal(anon.status, 401);
  assert.equal((await anon.json()).error, 'unauthenticated');
});
