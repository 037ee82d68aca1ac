// A SPA on another *site* than authgate (not just another origin): the page on http://spa.other-site.test:<port>, authgate on http://localhost:<port>
// with `SameSite=None; Secure` cookies (Chromium keeps Secure cookies from http://localhost) and
// the SPA's origin allowlisted. Real Chromium sends `Sec-Fetch-Site: cross-site` with every
// request here; authgate must accept the allowlisted Origin anyway, and still refuse a third,
// unlisted site.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startAuthgate, startStatic, launchThirdPartyCookieProfile, metric, uniqueEmail, freePort,
} from './harness.js';

const PASSWORD = 'correct horse battery staple';
let auth; let spa; let evil; let browser;

before(async () => {
  const spaPort = await freePort();
  const spaOrigin = `http://spa.other-site.test:${spaPort}`;
  auth = await startAuthgate({
    HOST: 'localhost',
    AUTHGATE_ALLOWED_ORIGINS: spaOrigin,
    AUTHGATE_COOKIE_SAMESITE: 'none',
    AUTHGATE_COOKIE_SECURE: 'true',
    // No grace: had a refused request rotated the session, the next refresh would be reuse.
    AUTHGATE_REFRESH_REUSE_GRACE: '0s',
  });
  spa = await startStatic({ host: 'spa.other-site.test', authOrigin: auth.origin, port: spaPort });
  evil = await startStatic({ host: 'evil.test', authOrigin: auth.origin });
  browser = await launchThirdPartyCookieProfile();
});

after(async () => {
  await browser?.close();
  await spa?.stop();
  await evil?.stop();
  await auth?.stop();
});

/** `fetch` from inside `page`, with the browser's cookies: what a SPA does. */
function call(page, url, method = 'GET', body) {
  return page.evaluate(async ({ url, method, body }) => {
    try {
      const r = await fetch(url, {
        method,
        credentials: 'include',
        headers: body ? { 'content-type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    } catch (err) {
      return { error: `${err.name}: ${err.message}` };
    }
  }, { url, method, body });
}

async function rotations() {
  return metric(await auth.metrics(), 'authgate_refresh_total', { outcome: 'rotated' });
}

test('an allowlisted SPA on another site signs up, reads the user, refreshes and logs out with SameSite=None cookies; an unlisted site is refused', async () => {
  const { context } = browser;
  const page = await context.newPage();
  await page.goto(`${spa.origin}/`);
  const api = (p) => `${auth.origin}/api/v1/auth/${p}`;
  const email = uniqueEmail();

  const signup = await call(page, api('signup/'), 'POST', { email, password: PASSWORD, name: 'Cross Site' });
  assert.equal(signup.status, 201, JSON.stringify(signup));
  const jar = Object.fromEntries((await context.cookies([api('custom-refresh/')])).map((c) => [c.name, c]));
  assert.equal(jar.refresh_token?.sameSite, 'None', 'the browser kept the refresh cookie');
  assert.equal(jar.refresh_token?.secure, true);
  assert.equal(jar.access_token?.sameSite, 'None');

  const me = await call(page, api('user/'));
  assert.deepEqual([me.status, me.body?.email], [200, email]);
  const before = await rotations();
  const refreshed = await call(page, api('custom-refresh/'), 'POST');
  assert.equal(refreshed.status, 204, JSON.stringify(refreshed));
  assert.equal(await rotations(), before + 1, 'the cross-site refresh rotated the session');
  const patched = await call(page, api('user/'), 'PATCH', { name: 'Renamed Cross Site' });
  assert.deepEqual([patched.status, patched.body?.name], [200, 'Renamed Cross Site']);

  // A third site, not allowlisted: its credentialed POST reaches authgate (no preflight for a
  // body-less POST) and is refused; the browser hides the answer (no CORS headers for it).
  const attacker = await context.newPage();
  await attacker.goto(`${evil.origin}/`);
  const mark = await rotations();
  const attempt = await call(attacker, api('custom-refresh/'), 'POST');
  assert.match(attempt.error ?? '', /Failed to fetch/, JSON.stringify(attempt));
  const refused = await attacker.evaluate(async (u) => {
    const r = await fetch(u, { method: 'POST', credentials: 'include', mode: 'no-cors' });
    return r.type;
  }, api('custom-logout/'));
  assert.equal(refused, 'opaque');
  assert.equal(await rotations(), mark, 'nothing rotated for the unlisted site');
  const still = await call(page, api('user/'));
  assert.equal(still.status, 200, 'the unlisted site could not log the user out');

  const logout = await call(page, api('custom-logout/'), 'POST');
  assert.equal(logout.status, 204);
  const after = await call(page, api('user/'));
  assert.equal(after.status, 401);
});
