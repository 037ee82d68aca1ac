// The React binding (clients/react) through the example app (examples/react, built with Vite) in
// headless Chromium against the real authgate binary. The app is served on
// http://localhost:<port>, authgate on http://localhost:<other port>: same site, so the session
// hint cookie (host-only, `localhost`) is readable by the app's page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ROOT, startAuthgate, launchBrowser, freePort, metric, uniqueEmail } from './harness.js';

const PASSWORD = 'correct horse battery staple';
const EXAMPLE = path.join(ROOT, 'examples', 'react');
const DIST = path.join(EXAMPLE, 'dist');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let auth; let app; let browser;

/** `npm ci` when the example has no node_modules yet, then `vite build` (about a second). */
function buildExample() {
  const npm = (...args) => {
    try {
      execFileSync('npm', [...args, '--prefix', EXAMPLE], { cwd: ROOT, stdio: 'pipe' });
    } catch (err) {
      throw new Error(`npm ${args.join(' ')} failed:\n${err.stdout}\n${err.stderr}`);
    }
  };
  if (!existsSync(path.join(EXAMPLE, 'node_modules', '.bin', 'vite'))) npm('ci', '--no-audit', '--no-fund');
  npm('run', 'build');
}

/** Serves examples/react/dist, its page pointed at `authOrigin`, with a CSP that allows exactly that API. */
async function serveDist(port, authOrigin) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const server = http.createServer((req, res) => {
    let file = new URL(req.url, 'http://localhost').pathname;
    if (file === '/') file = '/index.html';
    const full = path.join(DIST, path.normalize(file));
    if (!full.startsWith(DIST + path.sep) || !existsSync(full)) {
      res.writeHead(404).end('not found');
      return;
    }
    let body = readFileSync(full);
    if (file === '/index.html') {
      body = body.toString('utf8').replace(
        '<meta name="authgate-base-url" content="">',
        `<meta name="authgate-base-url" content="${authOrigin}">`,
      );
    }
    res.writeHead(200, {
      'content-type': types[path.extname(full)] || 'application/octet-stream',
      'content-security-policy': `default-src 'self'; connect-src 'self' ${authOrigin}`,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
    res.end(body);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { origin: `http://localhost:${port}`, stop: () => new Promise((r) => server.close(r)) };
}

before(async () => {
  buildExample();
  const appPort = await freePort();
  const appOrigin = `http://localhost:${appPort}`;
  auth = await startAuthgate({ HOST: 'localhost', AUTHGATE_ALLOWED_ORIGINS: appOrigin });
  app = await serveDist(appPort, auth.origin);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await auth?.stop();
});

/** Requests authgate has answered, except its own /metrics and /healthz. */
async function served() {
  const all = await auth.metrics();
  return metric(all, 'authgate_http_requests_total')
    - metric(all, 'authgate_http_requests_total', { route: '/metrics' })
    - metric(all, 'authgate_http_requests_total', { route: '/healthz' });
}

/** A page that records every request to authgate and every text #status shows. */
async function newTab(context) {
  const page = await context.newPage();
  const requests = [];
  page.on('request', (r) => {
    if (r.url().startsWith(auth.origin)) requests.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  await page.addInitScript(() => {
    window.statusSeen = [];
    new MutationObserver(() => {
      const el = document.getElementById('status');
      const text = el && el.textContent;
      if (text && text !== window.statusSeen[window.statusSeen.length - 1]) window.statusSeen.push(text);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  return { page, requests };
}

async function text(page, id, expected) {
  await page.waitForFunction(
    ([i, t]) => document.getElementById(i)?.textContent === t,
    [id, expected],
    { timeout: 10000 },
  ).catch(async (err) => {
    const got = await page.evaluate((i) => document.getElementById(i)?.textContent, id);
    throw new Error(`#${id} is ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}: ${err.message}`);
  });
}

/** A user created out of band (not a browser: no Origin, so CSRF rules do not apply). */
async function createUser(email) {
  const r = await fetch(`${auth.local}/api/v1/auth/signup/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'React Test', email, password: PASSWORD }),
  });
  assert.equal(r.status, 201, await r.text());
}

async function signIn(page, email) {
  await page.fill('#signin-email', email);
  await page.fill('#signin-password', PASSWORD);
  await page.click('#signin');
  await text(page, 'status', `signed in as ${email}`);
}

test('a signed-out page renders signed out at once, without any request to authgate', async () => {
  const context = await browser.newContext();
  const { page, requests } = await newTab(context);
  const before = await served();
  await page.goto(`${app.origin}/`);
  await text(page, 'status', 'signed out');
  await sleep(1000); // nothing arrives late either (no user fetch, no refresh)
  assert.deepEqual(requests, []);
  assert.equal(await served(), before, 'requests authgate served for an anonymous page load');
  // The first status rendered is the final one: no "loading" flash before it.
  assert.deepEqual(await page.evaluate(() => window.statusSeen), ['signed out']);
  await context.close();
});

test('sign up shows the user at once (no GET user/); a reload shows it after exactly one GET user/, never signed out', async () => {
  const context = await browser.newContext();
  const { page, requests } = await newTab(context);
  await page.goto(`${app.origin}/`);
  await text(page, 'status', 'signed out');
  const email = uniqueEmail();
  await page.fill('#signup-name', 'React Test');
  await page.fill('#signup-email', email);
  await page.fill('#signup-password', PASSWORD);
  await page.click('#signup');
  await text(page, 'status', `signed in as ${email}`);
  await text(page, 'user-email', email);
  await text(page, 'user-name', 'React Test');
  await text(page, 'output', `Signed up: ${email}`);
  assert.deepEqual(requests, ['POST /api/v1/auth/signup/']);
  // HttpOnly tokens: the page's script sees only the session hint.
  const visible = await page.evaluate(() => document.cookie);
  assert.match(visible, /^authgate_session=\d+$/);

  requests.length = 0;
  await page.reload();
  await text(page, 'status', `signed in as ${email}`);
  await sleep(500);
  assert.deepEqual(requests, ['GET /api/v1/auth/user/']);
  assert.deepEqual(await page.evaluate(() => window.statusSeen), ['loading…', `signed in as ${email}`]);
  await context.close();
});

test('a second tab follows a sign-out in the first through the binding, with no request of its own', async () => {
  const email = uniqueEmail();
  await createUser(email);
  const context = await browser.newContext();
  const first = await newTab(context);
  await first.page.goto(`${app.origin}/`);
  await signIn(first.page, email);
  assert.deepEqual(first.requests, ['POST /api/v1/auth/signin/', 'GET /api/v1/auth/user/']);

  const second = await newTab(context);
  await second.page.goto(`${app.origin}/`);
  await text(second.page, 'status', `signed in as ${email}`);
  await text(second.page, 'user-email', email);
  assert.deepEqual(second.requests, ['GET /api/v1/auth/user/']);
  second.requests.length = 0;

  first.requests.length = 0;
  await first.page.click('#signout');
  await text(first.page, 'status', 'signed out');
  await text(first.page, 'output', 'Signed out');
  assert.deepEqual(first.requests, ['POST /api/v1/auth/custom-logout/']);

  await text(second.page, 'status', 'signed out');
  await text(second.page, 'output', 'You were signed out (in another tab, or your session ended).');
  assert.equal(await second.page.isVisible('#signin'), true);
  assert.deepEqual(second.requests, []);

  // And back: a sign-in in the second tab signs the first in (it fetches the user once).
  first.requests.length = 0;
  await signIn(second.page, email);
  await text(first.page, 'status', `signed in as ${email}`);
  await text(first.page, 'user-email', email);
  assert.deepEqual(first.requests, ['GET /api/v1/auth/user/']);
  await context.close();
});
