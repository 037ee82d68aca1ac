// Passkeys through the example SPA in headless Chromium against the real authgate binary, with
// the DevTools protocol's virtual authenticator (a platform authenticator that holds discoverable
// credentials and verifies the user). WebAuthn needs a secure context and an RP ID that is the
// page's host or a parent of it: the SPA is served from http://localhost:<port> (localhost counts
// as secure) and authgate runs with RP ID `localhost` and that origin allowed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAuthgate, startStatic, launchBrowser, freePort, uniqueEmail, addVirtualAuthenticator } from './harness.js';

const PASSWORD = 'correct horse battery staple';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let auth; let app; let browser;

before(async () => {
  const appPort = await freePort();
  const appOrigin = `http://localhost:${appPort}`;
  auth = await startAuthgate({
    HOST: 'localhost',
    AUTHGATE_ALLOWED_ORIGINS: appOrigin,
    AUTHGATE_WEBAUTHN_RP_ID: 'localhost',
    AUTHGATE_WEBAUTHN_ORIGINS: appOrigin,
  });
  app = await startStatic({ host: 'localhost', authOrigin: auth.origin, port: appPort });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await auth?.stop();
});

/** A page with its own virtual authenticator; `presence(false)` leaves requests waiting. */
async function pageWithAuthenticator() {
  const context = await browser.newContext();
  // Counts the page's autofill requests, so a test knows when one is waiting on the authenticator.
  await context.addInitScript(() => {
    const get = CredentialsContainer.prototype.get;
    window.conditionalRequests = 0;
    CredentialsContainer.prototype.get = function (options) {
      if (options && options.mediation === 'conditional') window.conditionalRequests += 1;
      return get.call(this, options);
    };
  });
  const page = await context.newPage();
  const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
  return {
    context,
    page,
    /** On: the authenticator answers at once (the user touched it). Off: a request waits. */
    presence: (enabled) => cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled }),
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

async function output(page, expected) {
  const matches = (text) => (expected instanceof RegExp ? expected.test(text) : text === expected);
  for (let i = 0; i < 200; i++) {
    if (matches(await page.textContent('#output'))) return;
    await sleep(50);
  }
  throw new Error(`#output is ${JSON.stringify(await page.textContent('#output'))}, expected ${expected}`);
}

async function status(page, expected) {
  await page.waitForFunction((text) => document.getElementById('status').textContent === text, expected, { timeout: 10000 });
}

async function passkeyNames(page) {
  await page.click('#passkeys-list');
  await output(page, /^\d+ passkey\(s\)$/);
  return page.$$eval('#passkeys li .passkey-name', (names) => names.map((n) => n.textContent));
}

/** `amr` and `aal` of the session's access token (HttpOnly: read from the browser's jar, not the page). */
async function session(context) {
  const jar = await context.cookies([`${auth.origin}/`]);
  const token = jar.find((c) => c.name === 'access_token')?.value;
  assert.ok(token, 'an access token cookie');
  const { amr, aal } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  return { amr, aal };
}

/** The signed-in user as authgate sees it (GET user/ through the page's client). */
const me = (page) => page.evaluate(() => window.authgate.user());

/** Logs out with the authenticator idle, so the autofill request the page starts just waits. */
async function logOut(page, presence) {
  await presence(false);
  const before = await page.evaluate(() => window.conditionalRequests);
  await page.click('#logout');
  await status(page, 'signed out');
  await page.waitForFunction((n) => window.conditionalRequests > n, before, { timeout: 10000 });
  await sleep(200); // the request reaches the authenticator, which leaves it waiting
  await presence(true); // the waiting request stays waiting: only new requests see this
}

test('passkeys through the SPA: register, list, rename, passwordless sign-in (button and autofill), second factor, remove', async () => {
  const { context, page, presence, credentials } = await pageWithAuthenticator();
  await page.goto(`${app.origin}/`);
  await status(page, 'signed out');
  assert.deepEqual(await page.evaluate(async () => {
    const { passkeySupport } = await import('./authgate.js');
    return passkeySupport();
  }), { passkeys: true, conditional: true });
  const email = uniqueEmail();

  // Sign up with a password, then add a passkey (re-authenticating with the password).
  await page.fill('#signup-name', 'Passkey Test');
  await page.fill('#signup-email', email);
  await page.fill('#signup-password', PASSWORD);
  await page.click('#signup');
  await output(page, `Signed up: ${email}`);
  await status(page, `signed in as ${email}`);

  await page.fill('#reauth-password', 'not the password at all');
  await page.click('#passkey-add');
  await output(page, /^Error 400 invalid_password: /);
  assert.equal((await credentials()).length, 0, 'no ceremony without re-authentication');

  await page.fill('#reauth-password', PASSWORD);
  await page.fill('#passkey-name', 'Test laptop');
  await page.click('#passkey-add');
  // The account's first second factor: recovery codes come with it, shown once.
  await output(page, /^Passkey added: Test laptop\nRecovery codes \(shown once, keep them safe\): (\S+ ){9}\S+$/);
  const stored = await credentials();
  assert.equal(stored.length, 1);
  assert.equal(stored[0].isResidentCredential, true, 'a discoverable credential: it signs in without a username');
  assert.deepEqual(await passkeyNames(page), ['Test laptop']);
  const user = await me(page);
  assert.equal(user.passkeys, 1);
  assert.equal(user.has_password, true);
  // The same authenticator again: the browser refuses it (excludeCredentials), nothing is stored.
  await page.click('#passkey-add');
  await output(page, /^Error InvalidStateError: /);
  assert.equal((await credentials()).length, 1);

  // Rename it from the list.
  await page.fill('#passkeys li .passkey-new-name', 'Work laptop');
  await page.click('#passkeys li .passkey-rename');
  await output(page, 'Passkey renamed: Work laptop');
  assert.deepEqual(await passkeyNames(page), ['Work laptop']);
  const [listed] = await page.evaluate(() => window.authgate.listPasskeys());
  assert.deepEqual(Object.keys(listed).sort(),
    ['aaguid', 'authenticator', 'backed_up', 'created_at', 'id', 'last_used_at', 'name', 'user_verified']);
  assert.equal(listed.name, 'Work laptop');
  assert.equal(listed.user_verified, true);
  assert.equal(listed.last_used_at, null);
  assert.equal(typeof listed.backed_up, 'boolean');

  // Sign out, then "Sign in with a passkey": no email, no password typed.
  await logOut(page, presence);
  await page.click('#signin-passkey');
  await output(page, `Signed in with a passkey: ${email}`);
  await status(page, `signed in as ${email}`);
  // The authenticator verified the user (isUserVerified): the passkey alone is two factors.
  assert.deepEqual(await session(context), { amr: ['webauthn'], aal: 'aal2' });
  assert.equal(await page.inputValue('#signin-email'), '');
  assert.equal(await page.inputValue('#signin-password'), '');
  const [used] = await page.evaluate(() => window.authgate.listPasskeys());
  assert.notEqual(used.last_used_at, null);

  // Sign out with the authenticator ready: the autofill request signs straight back in.
  await page.click('#logout');
  await output(page, `Signed in with a passkey (autofill): ${email}`);
  await status(page, `signed in as ${email}`);
  assert.deepEqual(await session(context), { amr: ['webauthn'], aal: 'aal2' });

  // Password sign-in: the passkey is now a second factor.
  await logOut(page, presence);
  await page.fill('#signin-email', email);
  await page.fill('#signin-password', PASSWORD);
  await page.click('#signin');
  await output(page, /^Second factor needed: .*\bpasskey\b/);
  assert.equal(await page.isVisible('#mfa-passkey'), true);
  await status(page, 'signed out');
  await page.click('#mfa-passkey');
  await output(page, `Signed in: ${email}`);
  await status(page, `signed in as ${email}`);
  assert.deepEqual(await session(context), { amr: ['pwd', 'webauthn'], aal: 'aal2' });

  // Remove it (re-authenticating with the password): the authenticator's copy is now unknown.
  assert.deepEqual(await passkeyNames(page), ['Work laptop']);
  await page.fill('#reauth-password', PASSWORD);
  await page.click('#passkeys li .passkey-remove');
  await output(page, 'Passkey removed: Work laptop');
  assert.deepEqual(await passkeyNames(page), []);
  assert.equal((await me(page)).passkeys, 0);

  // A password alone signs in again.
  await logOut(page, presence);
  await page.fill('#signin-email', email);
  await page.fill('#signin-password', PASSWORD);
  await page.click('#signin');
  await output(page, `Signed in: ${email}`);
  assert.deepEqual(await session(context), { amr: ['pwd'], aal: 'aal1' });

  // The removed passkey no longer signs in.
  await logOut(page, presence);
  await page.click('#signin-passkey');
  await output(page, /^Error 401 unknown_passkey: /);
  await context.close();
});

test('sign up with a passkey, no password: passwordless from the start, its last passkey cannot be removed', async () => {
  const { context, page, presence, credentials } = await pageWithAuthenticator();
  await page.goto(`${app.origin}/`);
  await status(page, 'signed out');
  const email = uniqueEmail();
  await page.fill('#signup-name', 'Passkey Only');
  await page.fill('#signup-email', email);
  await page.click('#signup-passkey');
  await output(page, new RegExp(`^Signed up with a passkey: ${email.replace(/[.+]/g, '\\$&')}\\nRecovery codes`));
  await status(page, `signed in as ${email}`);
  assert.equal((await credentials()).length, 1);
  assert.deepEqual(await session(context), { amr: ['webauthn'], aal: 'aal2' });
  const user = await me(page);
  assert.equal(user.has_password, false);
  assert.equal(user.passkeys, 1);

  // Removing the only way in is refused, even with a fresh passkey confirmation.
  assert.equal((await passkeyNames(page)).length, 1);
  await page.check('#reauth-passkey');
  await page.click('#passkeys li .passkey-remove');
  await output(page, /^Error 409 last_sign_in_method: /);
  assert.equal((await passkeyNames(page)).length, 1);

  // Adding a passkey is confirmed with a passkey too (no password to give); this authenticator
  // already holds the account's passkey, so the browser refuses to make a second one.
  await page.fill('#passkey-name', 'Second');
  await page.click('#passkey-add');
  await output(page, /^Error InvalidStateError: /);
  assert.equal((await credentials()).length, 1);
  await logOut(page, presence);
  await page.click('#signin-passkey');
  await output(page, `Signed in with a passkey: ${email}`);
  await status(page, `signed in as ${email}`);
  await context.close();
});
