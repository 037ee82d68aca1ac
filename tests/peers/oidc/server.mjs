// A real OpenID provider for authgate's tests: oidc-provider (a certified OpenID Connect
// implementation) on 127.0.0.1, with a one-step test login and a key rotation switch.
//
//   node tests/peers/oidc/server.mjs '<json config>'
//
// Config: {"clients": [{client_id, client_secret, redirect_uris, token_endpoint_auth_method?}],
//          "accounts": {"<login>": {"email_verified": bool, "name": str}},  (others: verified)
//          "conformIdTokenClaims": bool (default true: email only through userinfo)}
// Prints one line, {"issuer": "http://127.0.0.1:<port>"}, once listening.
//
// The login page (GET /interaction/:uid) is a form with `login` and a "Sign in" button; posting it
// signs the account in and grants the requested scopes in one step (no consent page).
// POST /test/rotate: from then on tokens are signed with a new key, and the JWKS publishes only it.
// POST /test/clients (a JSON list of clients): registers more clients, for a test that learns its
// redirect URI only after the provider started.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const config = JSON.parse(process.argv[2] || '{}');
const accounts = config.accounts || {};

async function signingKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function build(issuer, key) {
  const provider = new Provider(issuer, {
    clients: (config.clients || []).map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...c,
    })),
    jwks: { keys: [key] },
    cookies: { keys: ['authgate-test-peer-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: config.conformIdTokenClaims !== false,
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const account = accounts[sub] || {};
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: sub,
            email_verified: account.email_verified !== false,
            name: account.name || sub.split('@')[0],
          };
        },
      };
    },
  });
  // Plain http on 127.0.0.1 is what a test needs; the library would otherwise insist on TLS.
  provider.proxy = true;
  return provider;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
      if (body.length > 65536) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

let provider;
let issuer;
let currentKey;

async function interaction(req, res, uid, login) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (login === undefined) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Test provider: sign in</title>
      <h1>Test provider</h1>
      <form method="post" action="/interaction/${escape(uid)}/login">
        <label>Login <input name="login" autocomplete="username"></label>
        <button type="submit">Sign in</button>
      </form>`);
    return;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope || 'openid'));
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: login }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const server = http.createServer(async (req, res) => {
  try {
    const { pathname } = new URL(req.url, issuer);
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(pathname);
    if (match && req.method === 'GET' && !match[2]) return await interaction(req, res, match[1]);
    if (match && req.method === 'POST' && match[2]) {
      const login = new URLSearchParams(await readBody(req)).get('login') || '';
      if (!login) {
        res.writeHead(400).end('login is required');
        return;
      }
      return await interaction(req, res, match[1], login);
    }
    if (pathname === '/test/rotate' && req.method === 'POST') {
      currentKey = await signingKey();
      provider = build(issuer, currentKey);
      res.writeHead(204).end();
      return;
    }
    if (pathname === '/test/clients' && req.method === 'POST') {
      config.clients = [...(config.clients || []), ...JSON.parse(await readBody(req))];
      provider = build(issuer, currentKey);
      res.writeHead(204).end();
      return;
    }
    return provider.callback()(req, res);
  } catch (err) {
    process.stderr.write(`test provider: ${err.stack || err}\n`);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err.message || err));
  }
});

server.listen(0, '127.0.0.1', async () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  currentKey = await signingKey();
  provider = build(issuer, currentKey);
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
