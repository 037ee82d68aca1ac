// The JS client's flows that need a mailed or texted code, in headless Chromium against the real
// authgate binary (one per file): sign-up that waits for email verification (with and without the
// session hint), forgot → code → reset, an email change reverted from the old address's notice,
// phone binding and unbinding, and SMS sign-in (plain, and with TOTP as a continuation).
//
// The codes: without AUTHGATE_SMTP_URL authgate writes every mail (code included) to its log (JSON
// lines, read here); SMS go to AUTHGATE_SMS_WEBHOOK_URL, a receiver in this file that checks the
// Standard Webhooks signature. Set-up as client.test.js: a page on http://app.example.test:<port>,
// authgate on http://auth.example.test:<port>, cookies for Domain=example.test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { startAuthgate, startBareApp, launchBrowser, freePort, uniqueEmail, totp } from './harness.js';

const PASSWORD = 'correct horse battery staple';
const SMS_SECRET = 'sms-webhook-secret-for-tests';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let auth; let app; let browser; let sms;
const texts = []; // { to, message } the SMS webhook received, signature checked

/** The SMS gateway: Standard Webhooks signature over "{id}.{timestamp}.{body}", raw-bytes key. */
function startSmsReceiver(port) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const id = req.headers['webhook-id'];
      const ts = req.headers['webhook-timestamp'];
      const expected = `v1,${createHmac('sha256', SMS_SECRET).update(`${id}.${ts}.${body}`).digest('base64')}`;
      if (req.url !== '/sms' || req.headers['webhook-signature'] !== expected) {
        res.writeHead(401).end();
        return;
      }
      texts.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r(server)));
}

before(async () => {
  const appPort = await freePort();
  const smsPort = await freePort();
  const appOrigin = `http://app.example.test:${appPort}`;
  sms = await startSmsReceiver(smsPort);
  auth = await startAuthgate({
    AUTHGATE_ALLOWED_ORIGINS: appOrigin,
    AUTHGATE_COOKIE_DOMAIN: 'example.test',
    AUTHGATE_REQUIRE_EMAIL_VERIFICATION: 'true',
    AUTHGATE_NOTIFY_SECURITY_CHANGES: 'true', // the old address's notice carries the revert code
    AUTHGATE_SMS_WEBHOOK_URL: `http://127.0.0.1:${smsPort}/sms`,
    AUTHGATE_SMS_WEBHOOK_SECRET: SMS_SECRET,
    AUTHGATE_RATE_LIMIT_AUTH: '0',
    AUTHGATE_MAIL_PER_IP_PER_HOUR: '0',
  });
  app = await startBareApp({ authOrigin: auth.origin, port: appPort, clientDefaults: { autoRefresh: false } });
  browser = await launchBrowser({ secureOrigins: [app.origin] });
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await auth?.stop();
  await new Promise((r) => sms?.close(r));
});

/** Mails authgate wrote to its log for `to` (oldest first): `{ subject, body }`. */
function mails(to) {
  const out = [];
  for (const line of auth.log().split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch (_) {
      continue;
    }
    if (entry.target === 'authgate::mail' && entry.to === to) out.push({ subject: entry.subject, body: entry.body });
  }
  return out;
}

/** The first mail to `to` after the first `seen` whose subject matches `subject`; waits for it. */
async function mailAfter(to, seen, subject) {
  for (let i = 0; i < 100; i++) {
    const found = mails(to).slice(seen).find((m) => subject.test(m.subject));
    if (found) return found;
    await sleep(50);
  }
  throw new Error(`no mail to ${to} matching ${subject}; mails: ${JSON.stringify(mails(to).map((m) => m.subject))}`);
}

const codeIn = (mail) => mail.body.match(/Your code: (\d{6})/)[1];

/** The first SMS to `phone` after the first `seen` texts; waits for it. Its 6-digit code. */
async function smsCode(phone, seen) {
  for (let i = 0; i < 100; i++) {
    const found = texts.filter((t) => t.to === phone).slice(seen)[0];
    if (found) return found.message.match(/\b(\d{6})\b/)[1];
    await sleep(50);
  }
  throw new Error(`no SMS to ${phone}; received: ${JSON.stringify(texts)}`);
}
const smsCount = (phone) => texts.filter((t) => t.to === phone).length;

/** A verified account, made outside the browser (sign-up, then the mailed code). */
async function createUser(email, password = PASSWORD) {
  const post = (p, body) => fetch(`${auth.local}/api/v1/auth/${p}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const seen = mails(email).length;
  const r = await post('signup/', { name: 'Flow Test', email, password });
  assert.equal(r.status, 201, await r.text());
  const code = codeIn(await mailAfter(email, seen, /verify/i));
  const v = await post('verify-email/', { email, verification_code: code });
  assert.equal(v.status, 200, await v.text());
}

async function bare(options = {}) {
  const context = await browser.newContext();
  await context.addInitScript((o) => {
    window.authgateClientOptions = o;
  }, options);
  const page = await context.newPage();
  await page.goto(`${app.origin}/bare`);
  await page.waitForFunction(() => window.ready === true);
  // Runs `fn(client, ...args)` in the page: `{ ok }` or `{ err: [class, status, code] }`.
  const call = (fn, ...args) => page.evaluate(async ([source, a]) => {
    try {
      return { ok: await (0, eval)(source)(window.client, ...a) };
    } catch (err) {
      return { err: [err.constructor.name, err.status, err.error] };
    }
  }, [fn.toString(), args]);
  const events = () => page.evaluate(() => window.events.map(([e]) => e));
  return { context, page, call, events };
}

test('a sign-up that must verify its email first opens no session: no SIGNED_IN, with or without the session hint; verifying signs in', async () => {
  // Without the session hint (a page that cannot read it): the answer alone must tell.
  const off = await bare({ sessionHint: false });
  const first = uniqueEmail();
  const user = (await off.call((c, e, p) => c.signup({ name: 'No Hint', email: e, password: p }), first, PASSWORD)).ok;
  assert.equal(user.email, first);
  assert.equal(user.last_sign_in_at, null);
  await sleep(200);
  assert.deepEqual(await off.events(), [], 'no SIGNED_IN: authgate set no cookies');
  assert.deepEqual((await off.context.cookies()).map((c) => c.name), []);
  await off.context.close();

  // With the hint: the same, and verifying the mailed code (signed out) signs in.
  const on = await bare();
  const second = uniqueEmail();
  const seen = mails(second).length;
  assert.equal((await on.call((c, e, p) => c.signup({ name: 'Hint', email: e, password: p }), second, PASSWORD)).ok.email, second);
  assert.deepEqual(await on.events(), []);
  assert.equal(await on.page.evaluate(() => window.client.hasSession()), false);
  const code = codeIn(await mailAfter(second, seen, /verify/i));
  const verified = (await on.call((c, e, k) => c.verifyEmail({ email: e, code: k }), second, code)).ok;
  assert.equal(verified.email_verified, true);
  assert.deepEqual(await on.events(), ['SIGNED_IN']);
  assert.equal(await on.page.evaluate(() => window.client.hasSession()), true);
  assert.equal((await on.call((c) => c.user())).ok.email, second);
  await on.context.close();
});

test('forgot → mailed code → resetPassword: the new password signs in, the old one and the old session no longer work', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const { context, page, call } = await bare();
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, PASSWORD), { ok: { status: 'signed_in' } });

  const seen = mails(email).length;
  assert.equal(typeof (await call((c, e) => c.forgotPassword({ email: e }), email)).ok.message, 'string');
  const code = codeIn(await mailAfter(email, seen, /password/i));
  const NEW = 'a reset horse battery staple';
  assert.deepEqual(await call((c, e, k, p) => c.resetPassword({ email: e, code: k, password: p }), email, '000000', NEW),
    { err: ['AuthgateError', 400, 'invalid_code'] });
  assert.deepEqual(await call((c, e, k, p) => c.resetPassword({ email: e, code: k, password: p }), email, code, NEW), { ok: null });
  // Every session of the account ended: this page's access token is refused, and so is its refresh.
  assert.equal(await page.evaluate(async () => (await window.client.authFetch(`${document.querySelector('meta[name="authgate-base-url"]').content}/api/v1/auth/user/`)).status), 401);
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, PASSWORD), { err: ['AuthgateError', 401, 'invalid_credentials'] });
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, NEW), { ok: { status: 'signed_in' } });
  assert.equal((await call((c) => c.user())).ok.email, email);
  // The code is single use.
  assert.deepEqual(await call((c, e, k, p) => c.resetPassword({ email: e, code: k, password: p }), email, code, PASSWORD),
    { err: ['AuthgateError', 400, 'invalid_code'] });
  await context.close();
});

test('an email change, verified, then reverted from the old address with the code of its notice', async () => {
  const email = uniqueEmail();
  const moved = `moved-${email}`;
  await createUser(email);
  const { context, call, events } = await bare();
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, PASSWORD), { ok: { status: 'signed_in' } });

  const toNew = mails(moved).length;
  const toOld = mails(email).length;
  assert.equal((await call((c, e, p) => c.updateUser({ email: e, password: p }), moved, PASSWORD)).ok.pending_email, moved);
  const code = codeIn(await mailAfter(moved, toNew, /./));
  const changed = (await call((c, k) => c.verifyEmail({ code: k }), code)).ok;
  assert.equal(changed.email, moved);
  assert.ok((await events()).includes('USER_UPDATED'));

  // The notice to the old address holds the revert code.
  const notice = await mailAfter(email, toOld, /./);
  const revert = notice.body.match(/the code: ([A-Za-z0-9-]+)/)[1];
  assert.deepEqual(await call((c, e) => c.revertEmailChange({ email: e, code: '000000' }), email), { err: ['AuthgateError', 400, 'invalid_code'] });
  assert.deepEqual(await call((c, e, k) => c.revertEmailChange({ email: e, code: k }), email, revert), { ok: null });
  // The old address is back (every session ended): it signs in, the moved one does not.
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), moved, PASSWORD), { err: ['AuthgateError', 401, 'invalid_credentials'] });
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, PASSWORD), { ok: { status: 'signed_in' } });
  assert.equal((await call((c) => c.user())).ok.email, email);
  await context.close();
});

test('phone: requestPhoneCode → texted code → bindPhone; SMS sign-in; unbindPhone', async () => {
  const email = uniqueEmail();
  const phone = '+14155550101';
  await createUser(email);
  const { context, call, events } = await bare();
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, PASSWORD), { ok: { status: 'signed_in' } });

  assert.deepEqual(await call((c, n) => c.requestPhoneCode({ phone: n, password: 'not it' }), phone), { err: ['AuthgateError', 400, 'invalid_password'] });
  let seen = smsCount(phone);
  assert.equal(typeof (await call((c, n, p) => c.requestPhoneCode({ phone: n, password: p }), phone, PASSWORD)).ok.message, 'string');
  const bindCode = await smsCode(phone, seen);
  assert.deepEqual(await call((c, n) => c.bindPhone({ phone: n, code: '000000' }), phone), { err: ['AuthgateError', 400, 'invalid_code'] });
  const bound = (await call((c, n, k) => c.bindPhone({ phone: n, code: k }), phone, bindCode)).ok;
  assert.equal(bound.phone, phone);
  assert.equal((await events()).at(-1), 'USER_UPDATED');

  // Signed out, the number signs in with a texted code.
  assert.deepEqual(await call((c) => c.logout()), { ok: null });
  seen = smsCount(phone);
  assert.equal(typeof (await call((c, n) => c.requestSmsCode({ phone: n }), phone)).ok.message, 'string');
  const signinCode = await smsCode(phone, seen);
  assert.deepEqual(await call((c, n, k) => c.signInWithSms({ phone: n, code: k }), phone, signinCode), { ok: { status: 'signed_in' } });
  assert.equal((await events()).at(-1), 'SIGNED_IN');
  assert.equal((await call((c) => c.user())).ok.phone, phone);

  assert.deepEqual(await call((c) => c.unbindPhone({ password: 'not it' })), { err: ['AuthgateError', 400, 'invalid_password'] });
  assert.deepEqual(await call((c, p) => c.unbindPhone({ password: p }), PASSWORD), { ok: null });
  assert.equal((await call((c) => c.user())).ok.phone, null);
  assert.equal((await events()).at(-1), 'USER_UPDATED');
  await context.close();
});

test('SMS sign-in with TOTP on resolves to an mfa_required continuation; withCode sends the TOTP code as code_totp', async () => {
  const email = uniqueEmail();
  const phone = '+14155550102';
  await createUser(email);
  const { context, page, call, events } = await bare();
  assert.deepEqual(await call((c, l, p) => c.signin({ login: l, password: p }), email, PASSWORD), { ok: { status: 'signed_in' } });
  let seen = smsCount(phone);
  await call((c, n, p) => c.requestPhoneCode({ phone: n, password: p }), phone, PASSWORD);
  assert.equal((await call((c, n, k) => c.bindPhone({ phone: n, code: k }), phone, await smsCode(phone, seen))).ok.phone, phone);
  const { secret } = (await call((c, p) => c.enrollTotp({ password: p }), PASSWORD)).ok;
  // Confirmed with the previous step's code (inside authgate's window), so the current one is
  // still unspent for the sign-in below: no waiting for the next 30 s step.
  assert.equal((await call((c, k) => c.confirmTotp({ code: k }), totp(secret, Date.now() - 30000))).ok.recovery_codes.length, 10);
  await call((c) => c.logout());

  seen = smsCount(phone);
  await call((c, n) => c.requestSmsCode({ phone: n }), phone);
  const code = await smsCode(phone, seen);
  const outcome = await page.evaluate(async ([n, k]) => {
    const first = await window.client.signInWithSms({ phone: n, code: k });
    if (first.status !== 'mfa_required') return first;
    window.mfa = first;
    const passkey = await first.withPasskey().then(() => 'accepted', (e) => e.name);
    return { status: first.status, factors: first.factors, passkeyOffered: first.passkeyOffered, passkey, events: window.events.length };
  }, [phone, code]);
  assert.equal(outcome.status, 'mfa_required', JSON.stringify(outcome));
  assert.ok(outcome.factors.includes('totp'), JSON.stringify(outcome));
  assert.equal(outcome.passkey, 'NotSupportedError', 'an SMS sign-in takes no passkey');
  assert.equal(await page.evaluate(() => window.client.hasSession()), false);
  // (No wrong TOTP code here: authgate spends the SMS code on one, 401 invalid_code, and a new
  // SMS code waits out AUTHGATE_MAIL_COOLDOWN.)
  const done = await page.evaluate((t) => window.mfa.withCode(t), totp(secret));
  assert.deepEqual(done, { status: 'signed_in' });
  assert.equal((await events()).at(-1), 'SIGNED_IN');
  assert.equal((await call((c) => c.user())).ok.email, email);
  await context.close();
});
