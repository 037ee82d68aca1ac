// Test peers for the browser tests: the real authgate binary, a static server for the SPA on
// another origin, an "evil" site, and headless Chromium (Debian's) driven by playwright-core.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = path.join(ROOT, 'tests', 'browser', 'artifacts');
const BINARY = process.env.AUTHGATE_BINARY || path.join(ROOT, 'target', 'debug', 'authgate');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts target/debug/authgate on a random port with a temp SQLite database. */
export async function startAuthgate(env = {}) {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`cargo build --locked\` first`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authgate-browser-'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const host = env.HOST || 'auth.example.test';
    const origin = `http://${host}:${port}`;
    const child = spawn(BINARY, ['serve'], {
      env: {
        PATH: process.env.PATH,
        AUTHGATE_LISTEN: `127.0.0.1:${port}`,
        AUTHGATE_DATABASE_URL: `sqlite://${dir}/authgate-${attempt}.db`,
        AUTHGATE_PUBLIC_URL: origin,
        AUTHGATE_DEMO: 'true',
        AUTHGATE_COOKIE_SECURE: 'false',
        AUTHGATE_BCRYPT_COST: '4',
        AUTHGATE_LOG_FORMAT: 'json',
        AUTHGATE_LOG: 'warn',
        ...Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'HOST')),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    let exited = false;
    child.on('exit', () => (exited = true));
    for (let i = 0; i < 200 && !exited; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (r.ok) {
          return {
            port,
            origin,
            local: `http://127.0.0.1:${port}`,
            log: () => log,
            async metrics() {
              const r = await fetch(`http://127.0.0.1:${port}/metrics`);
              return parseMetrics(await r.text());
            },
            async stop() {
              child.kill('SIGTERM');
              if (!exited) await new Promise((r) => child.once('exit', r));
              rmSync(dir, { recursive: true, force: true });
            },
          };
        }
      } catch (_) {
        // not listening yet
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    if (!/binding|address in use/i.test(log)) throw new Error(`authgate did not start:\n${log}`);
  }
  throw new Error('authgate did not start: no free port');
}

/** Prometheus text → { 'name{labels}': value }. */
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** The sum of every series of `name` whose labels include all of `labels`. */
export function metric(all, name, labels = {}) {
  let sum = 0;
  for (const [key, value] of Object.entries(all)) {
    const brace = key.indexOf('{');
    const n = brace < 0 ? key : key.slice(0, brace);
    if (n !== name) continue;
    const ls = brace < 0 ? '' : key.slice(brace);
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}

/**
 * Serves the SPA (examples/spa + clients/js, flat) on its own origin, pointed at `authOrigin`,
 * with a CSP that allows exactly that API origin; and any extra `pages` ({'/path': html}) and
 * `scripts` ({'/path.js': source}).
 */
export async function startStatic({ host, authOrigin, pages = {}, scripts = {}, port: wanted }) {
  const port = wanted ?? (await freePort());
  const origin = `http://${host}:${port}`;
  const files = {
    '/': ['text/html; charset=utf-8', () =>
      readFileSync(path.join(ROOT, 'examples/spa/index.html'), 'utf8').replace(
        '<meta name="authgate-base-url" content="">',
        `<meta name="authgate-base-url" content="${authOrigin}">`,
      )],
    '/app.js': ['text/javascript', () => readFileSync(path.join(ROOT, 'examples/spa/app.js'), 'utf8')],
    '/authgate.js': ['text/javascript', () => readFileSync(path.join(ROOT, 'clients/js/authgate.js'), 'utf8')],
  };
  for (const [p, html] of Object.entries(pages)) files[p] = ['text/html; charset=utf-8', () => html];
  for (const [p, js] of Object.entries(scripts)) files[p] = ['text/javascript', () => js];
  const server = http.createServer((req, res) => {
    const entry = files[new URL(req.url, origin).pathname];
    if (!entry) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': entry[0],
      'content-security-policy': `default-src 'self'; connect-src 'self' ${authOrigin}; form-action 'self' ${authOrigin}`,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
    res.end(entry[1]());
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { origin, port, stop: () => new Promise((r) => server.close(r)) };
}

// A bare page, `/bare`: the client and nothing else. Every event lands in `window.events` as
// [event, session]; `window.authgateClientOptions` (an init script) adds client options to the
// page's defaults.
const bareJs = (defaults) => `
import { createClient, AuthgateError } from './authgate.js';
const baseUrl = document.querySelector('meta[name="authgate-base-url"]').content;
window.client = createClient({ baseUrl, ...${JSON.stringify(defaults)}, ...(window.authgateClientOptions || {}) });
window.events = [];
window.client.onAuthStateChange((event, session) => window.events.push([event, session]));
window.AuthgateError = AuthgateError;
window.helloUrl = baseUrl + '/demo/api/hello';
window.ready = true;
`;

/** [`startStatic`] on `app.example.test:<port>` serving the bare page, its client created with
 * `clientDefaults`. */
export function startBareApp({ authOrigin, port, clientDefaults = {} }) {
  return startStatic({
    host: 'app.example.test',
    authOrigin,
    port,
    pages: {
      '/bare': `<!doctype html><title>bare</title><meta name="authgate-base-url" content="${authOrigin}">
        <script type="module" src="/bare.js"></script>`,
    },
    scripts: { '/bare.js': bareJs(clientDefaults) },
  });
}

const BROWSER_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP evil.test 127.0.0.1, MAP *.other-site.test 127.0.0.1',
];

/** `secureOrigins`: plain-http origins Chromium treats as secure contexts (Web Locks need one). */
export async function launchBrowser({ secureOrigins = [] } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...BROWSER_ARGS,
      ...(secureOrigins.length ? [`--unsafely-treat-insecure-origin-as-secure=${secureOrigins.join(',')}`] : []),
    ],
  });
}

/**
 * A browser profile (one persistent context) that keeps third-party cookies, as Chrome's default
 * settings do outside Incognito. This Chromium's own profile blocks them (the `UserPreferences`
 * reason in DevTools), as Safari and Firefox do by default: a SPA on another site than authgate
 * works only where the browser keeps third-party cookies (docs/spa.md: cross-origin and cross-site set-ups).
 */
export async function launchThirdPartyCookieProfile() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authgate-chromium-'));
  mkdirSync(path.join(dir, 'Default'), { recursive: true });
  writeFileSync(
    path.join(dir, 'Default', 'Preferences'),
    JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }),
  );
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: BROWSER_ARGS,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function ensureArtifacts() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}

let counter = 0;
/** The current TOTP code of a base32 secret (RFC 6238: SHA-1, 6 digits, 30 s). */
export function totp(secret, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0');
}

export function uniqueEmail() {
  counter += 1;
  return `spa-${Date.now().toString(36)}-${process.pid}-${counter}@example.com`;
}

/**
 * Chromium's virtual authenticator on `page` (DevTools protocol): a platform passkey provider
 * (CTAP2, internal transport) with resident keys and user verification that answers every
 * request by itself. Returns the CDP session and the authenticator's id.
 */
export async function addVirtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/**
 * A real OpenID provider (tests/peers/oidc: oidc-provider) on 127.0.0.1: `{issuer, addClient,
 * stop}`. Its login page is a form with a `login` field and a "Sign in" button.
 */
export async function startOidcProvider(config = {}) {
  const child = spawn(process.execPath, [path.join(ROOT, 'tests/peers/oidc/server.mjs'), JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const issuer = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve(JSON.parse(line).issuer);
    });
    child.on('exit', (code) => reject(new Error(`the OpenID provider exited (${code}):\n${err}`)));
  });
  return {
    issuer,
    async addClient(client) {
      const r = await fetch(`${issuer}/test/clients`, { method: 'POST', body: JSON.stringify([client]) });
      if (r.status !== 204) throw new Error(`registering a client: ${r.status}`);
    },
    async stop() {
      child.kill('SIGTERM');
    },
  };
}
