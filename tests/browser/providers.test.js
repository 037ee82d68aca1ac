// "Continue with …" through the example SPA in headless Chromium: the real authgate binary, a
// real OpenID provider (oidc-provider, tests/peers/oidc) and the SPA on its own origin. The
// browser follows every redirect itself: authgate → the provider's login page → authgate's
// callback → the SPA, signed in. Then an account with TOTP: linked from its signed-in session,
// and asked for its second factor after the provider sign-in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startAuthgate, startStatic, startOidcProvider, launchBrowser, freePort, uniqueEmail, totp, ensureArtifacts,
} from './harness.js';

const PASSWORD = 'correct horse battery staple';
const CLIENT = { client_id: 'authgate-spa-test', client_secret: 'spa-test-secret' };

let auth; let app; let idp; let browser;

before(async () => {
  idp = await startOidcProvider();
  const appPort = await freePort();
  const appOrigin = `http://app.example.test:${appPort}`;
  auth = await startAuthgate({
    AUTHGATE_ALLOWED_ORIGINS: appOrigin,
    AUTHGATE_COOKIE_DOMAIN: 'example.test',
    AUTHGATE_PROVIDERS: 'corp',
    AUTHGATE_PROVIDER_CORP_ISSUER: idp.issuer,
    AUTHGATE_PROVIDER_CORP_CLIENT_ID: CLIENT.client_id,
    AUTHGATE_PROVIDER_CORP_CLIENT_SECRET: CLIENT.client_secret,
    AUTHGATE_REDIRECT_URLS: `${appOrigin}/*`,
  });
  await idp.addClient({ ...CLIENT, redirect_uris: [`${auth.origin}/api/v1/auth/oauth/corp/callback/`] });
  app = await startStatic({ host: 'app.example.test', authOrigin: auth.origin, port: appPort });
  browser = await launchBrowser({ secureOrigins: [app.origin] });
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await auth?.stop();
  await idp?.stop();
});

async function statusIs(page, expected) {
  for (let i = 0; i < 200; i++) {
    const text = await page.textContent('#status');
    if (expected instanceof RegExp ? expected.test(text) : text === expected) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`status stayed ${await page.textContent('#status')}; output: ${await page.textContent('#output')}`);
}

/** Clicks the SPA's "Continue with corp"; signs in at the provider's page when it asks. */
async function continueWithProvider(page, login) {
  await page.click('button.provider[data-provider="corp"]');
  await page.waitForURL((u) => u.origin === idp.issuer || u.origin === app.origin);
  if (new URL(page.url()).origin === idp.issuer) {
    await page.fill('input[name="login"]', login);
    await page.click('button[type="submit"]');
  }
  await page.waitForURL((u) => u.origin === app.origin);
}

test('a new user continues with the provider and lands on the SPA signed in', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app.origin}/`);
  await statusIs(page, 'signed out');
  await page.waitForSelector('button.provider[data-provider="corp"]');
  const login = uniqueEmail();
  await continueWithProvider(page, login);
  await statusIs(page, `signed in as ${login}`);
  assert.equal(new URL(page.url()).search, '', 'nothing left in the address bar');
  const user = await page.evaluate(() => window.authgate.user());
  assert.equal(user.email_verified, true);
  assert.deepEqual(user.identities.map((i) => i.provider), ['corp']);
  assert.equal(user.has_password, false);
  // The protected API takes the session like any other.
  const hello = await page.evaluate(async () => (await window.authgate.authFetch(window.authgateHelloUrl)).json());
  assert.deepEqual(hello, { hello: login });
  await page.screenshot({ path: path.join(ensureArtifacts(), 'provider-signed-in.png') });
  await context.close();
});

test('an account with TOTP links the provider, then gives its code after the provider sign-in', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${app.origin}/`);
  await statusIs(page, 'signed out');
  const email = uniqueEmail();
  await page.fill('#signup-name', 'Ada');
  await page.fill('#signup-email', email);
  await page.fill('#signup-password', PASSWORD);
  await page.click('#signup');
  await statusIs(page, `signed in as ${email}`);
  const secret = await page.evaluate(async (password) => {
    const { secret } = await window.authgate.enrollTotp({ password });
    return secret;
  }, PASSWORD);
  const { recovery_codes: recovery } = await page.evaluate((code) => window.authgate.confirmTotp({ code }), totp(secret));

  // The provider's address is the same as the account's: it signs in there only once linked,
  // which takes the password and a code.
  await page.evaluate(
    ([to, password, code]) => window.authgate.linkProvider('corp', { returnTo: to, password, code }),
    [`${app.origin}/`, PASSWORD, recovery[0]],
  ).catch(() => {});
  await page.waitForURL((u) => u.origin === idp.issuer);
  await page.fill('input[name="login"]', email);
  await page.click('button[type="submit"]');
  await page.waitForURL((u) => u.origin === app.origin);
  await statusIs(page, `signed in as ${email}`);
  const linked = await page.evaluate(() => window.authgate.user());
  assert.deepEqual(linked.identities.map((i) => i.provider), ['corp']);

  await page.click('#logout');
  await statusIs(page, 'signed out');
  // The provider still has its own session: it sends the browser straight back, and authgate
  // asks for the second factor before any session opens.
  await continueWithProvider(page, email);
  await page.waitForSelector('#mfa-form:not([hidden])');
  assert.match(await page.textContent('#output'), /Second factor needed: totp/);
  assert.equal(await page.evaluate(() => window.authgate.hasSession()), false);
  await page.fill('#mfa-code', totp(secret, Date.now() + 30000));
  await page.click('#mfa-code-submit');
  await statusIs(page, `signed in as ${email}`);
  const claims = await page.evaluate(async () => {
    const sessions = await window.authgate.listSessions();
    return sessions.find((s) => s.current);
  });
  assert.ok(claims, 'the new session is listed as current');
  await context.close();
});

test('a refusal comes back to the SPA as an error code, never as provider text', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // A callback with a state this browser never started.
  await page.goto(`${auth.origin}/api/v1/auth/oauth/corp/callback/?code=x&state=forged`);
  await page.waitForURL((u) => u.origin === app.origin);
  await page.waitForFunction(() => document.querySelector('#output').textContent.includes('failed'));
  assert.equal(await page.textContent('#output'), 'Sign-in with the provider failed: invalid_state');
  assert.equal(new URL(page.url()).searchParams.get('error'), null, 'the error is taken out of the address bar');
  await context.close();
});
