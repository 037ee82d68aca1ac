// README.md's "## Passkeys" snippet, exactly as shipped, in headless Chromium against the real
// authgate binary. The ```js block is read from README.md when the test runs, so what is tested
// is what a reader copies. The snippet calls '/api/v1/auth/...' on its own origin, so the sign-in
// page must come from authgate's origin: authgate runs in proxy mode in front of a small app
// (this file's `app` server) that serves the sign-in page, `<input autocomplete="username
// webauthn">` and the snippet in a `<script type="module">`, as README says, at the public path
// `/signin`, and a home page at `/` that authgate lets through only with a valid session.
//
// The page is opened at http://localhost:<port> (localhost is a secure context) with authgate's
// RP ID `localhost` and its passkey origins left to the default README promises, the origin of
// AUTHGATE_PUBLIC_URL (http://localhost:<port>). Chromium's virtual authenticator (DevTools
// protocol: ctap2, internal transport, resident keys, user verification, presence simulated)
// holds a passkey registered through the API beforehand; it answers the snippet's conditional
// (autofill) request with that passkey as a user picking it from the autofill list would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ROOT, startAuthgate, launchBrowser, freePort, uniqueEmail, addVirtualAuthenticator } from './harness.js';

const PASSWORD = 'correct horse battery staple';

/** The one ```js block of README.md's "## Passkeys" section, as the file has it now. */
function readmeSnippet() {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^(?=## )/m).find((s) => /^## Passkeys\s*\n/.test(s));
  assert.ok(section, 'README.md has a "## Passkeys" section');
  const blocks = [...section.matchAll(/^```js\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => m[1]);
  assert.equal(blocks.length, 1, 'exactly one ```js block under "## Passkeys"');
  assert.ok(!/<\/script/i.test(blocks[0]), 'the snippet can sit in a <script> element');
  return blocks[0];
}

const SNIPPET = readmeSnippet();

/** The app behind authgate: records what reaches it (authgate adds the X-Auth-* identity). */
function startApp(port) {
  const seen = [];
  const pages = {
    '/setup': '<!doctype html><meta charset="utf-8"><title>Setup</title><p>setup</p>',
    '/signin': `<!doctype html>
<meta charset="utf-8">
<title>Sign in</title>
<form><label>Email <input name="username" autocomplete="username webauthn"></label></form>
<script type="module">
${SNIPPET}</script>
`,
    '/': '<!doctype html><meta charset="utf-8"><title>Home</title><p id="home">home</p>',
  };
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://app');
    seen.push({ path: pathname, email: req.headers['x-auth-user-email'] ?? null, id: req.headers['x-auth-user-id'] ?? null });
    const body = pages[pathname];
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(body);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () =>
    resolve({ seen, stop: () => new Promise((r) => server.close(r)) })));
}

let auth; let app; let browser;

before(async () => {
  const appPort = await freePort();
  app = await startApp(appPort);
  auth = await startAuthgate({
    HOST: 'localhost',
    AUTHGATE_UPSTREAM: `http://127.0.0.1:${appPort}`,
    AUTHGATE_PUBLIC_PATHS: '/setup,/signin',
    AUTHGATE_WEBAUTHN_RP_ID: 'localhost',
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await auth?.stop();
});

test("README's passkey sign-in snippet, as shipped, signs in from the autofill request", async () => {
  assert.match(auth.origin, /^http:\/\/localhost:\d+$/);
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;

  // Beforehand, on a page of the same origin: an account with a password, and a passkey added
  // to it through the API (docs/passkeys.md), kept by the virtual authenticator.
  const email = uniqueEmail();
  await page.goto(`${auth.origin}/setup`);
  const user = await page.evaluate(async ({ email, password }) => {
    async function post(path, body) {
      const res = await fetch('/api/v1/auth/' + path, {
        method: 'POST', credentials: 'include',
        headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      const data = await res.json();
      if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(data)}`);
      return data;
    }
    const user = await post('signup/', { email, password, name: 'README Reader' });
    const { publicKey, state } = await post('mfa/passkeys/register/options/', { password });
    const credential = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey),
    });
    await post('mfa/passkeys/register/', { credential: credential.toJSON(), state, name: 'README passkey' });
    return user;
  }, { email, password: PASSWORD });
  assert.equal(user.email, email);
  const stored = await credentials();
  assert.equal(stored.length, 1);
  assert.equal(stored[0].isResidentCredential, true, 'a discoverable credential: it signs in without a username');

  // Signed out: no cookies left, and authgate knows nobody.
  await context.clearCookies();
  assert.equal((await page.request.get(`${auth.origin}/api/v1/auth/user/`)).status(), 401);
  const home = `${auth.origin}/`;
  assert.equal((await page.request.get(home)).status(), 401, 'authgate lets nobody through to / signed out');
  const homeVisits = () => app.seen.filter((r) => r.path === '/');
  assert.equal(homeVisits().length, 0);

  // The sign-in page: its module runs the snippet, which must end in location.assign('/').
  await page.goto(`${auth.origin}/signin`);
  try {
    await page.waitForURL(home, { timeout: 15000 });
  } catch (e) {
    throw new Error(`the snippet did not navigate to / (still at ${page.url()}; page errors: ${JSON.stringify(errors)})`);
  }
  await page.waitForSelector('#home');
  assert.deepEqual(errors, []);

  // authgate passed `/` on to the app as this user: the navigation carried a valid session.
  assert.deepEqual(homeVisits(), [{ path: '/', email, id: user.id }]);
  // Both session cookies are set (the refresh token's is scoped to the auth API), HttpOnly, and
  // the access token is a passkey sign-in's.
  const jar = await context.cookies([home, `${auth.origin}/api/v1/auth/`]);
  const cookie = (name) => jar.find((c) => c.name === name);
  for (const name of ['access_token', 'refresh_token']) {
    assert.ok(cookie(name), `the ${name} cookie is set`);
    assert.equal(cookie(name).httpOnly, true, `${name} is HttpOnly`);
  }
  const claims = JSON.parse(Buffer.from(cookie('access_token').value.split('.')[1], 'base64url').toString());
  assert.equal(claims.email, email);
  assert.deepEqual(claims.amr, ['webauthn']);
  // GET user/ from the signed-in page answers 200 for that user.
  const me = await page.evaluate(async () => {
    const res = await fetch('/api/v1/auth/user/', { credentials: 'include' });
    return { status: res.status, body: await res.json() };
  });
  assert.equal(me.status, 200);
  assert.equal(me.body.email, email);
  assert.equal(me.body.id, user.id);
  assert.equal(me.body.passkeys, 1);
  await context.close();
});
