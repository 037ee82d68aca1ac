// The example SPA: plain DOM + the authgate client module, no framework, no build step.
import { createClient, AuthgateError } from './authgate.js';

const meta = document.querySelector('meta[name="authgate-base-url"]');
const baseUrl = (meta && meta.content) || window.location.origin;
const auth = createClient({ baseUrl });
// The protected demo API that authgate serves with AUTHGATE_DEMO=true; any API that accepts
// authgate's access cookie (or verifies its JWT) works the same way.
const helloUrl = `${baseUrl}/demo/api/hello`;

const $ = (id) => document.getElementById(id);
const status = (text) => {
  $('status').textContent = text;
};
const show = (value) => {
  $('output').textContent = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
};
const failure = (err) =>
  err instanceof AuthgateError ? `Error ${err.status} ${err.error}: ${err.message}` : `Error: ${err.message}`;

async function run(action) {
  try {
    await action();
  } catch (err) {
    show(failure(err));
  }
}

async function refreshStatus() {
  try {
    const user = await auth.user();
    status(`signed in as ${user.email}`);
    return user;
  } catch (err) {
    status('signed out');
    return null;
  }
}

$('signup-form').addEventListener('submit', (event) => {
  event.preventDefault();
  run(async () => {
    const user = await auth.signup({
      name: $('signup-name').value,
      email: $('signup-email').value, password: $('signup-password').value,
    });
    show(`Signed up: ${user.email}`);
    status(`signed in as ${user.email}`);
  });
});

$('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  run(async () => {
    await auth.signin({ login: $('signin-email').value, password: $('signin-password').value });
    const user = await refreshStatus();
    show(`Signed in: ${user ? user.email : '?'}`);
  });
});

$('whoami').addEventListener('click', () =>
  run(async () => {
    const user = await auth.user();
    show(`You are ${user.email} (id ${user.id})`);
  }),
);

$('hello').addEventListener('click', () =>
  run(async () => {
    const response = await auth.authFetch(helloUrl, { headers: { accept: 'application/json' } });
    if (!response.ok) {
      show(`Demo API answered ${response.status}`);
      return;
    }
    const body = await response.json();
    show(`Demo API says hello to ${body.hello}`);
  }),
);

$('logout').addEventListener('click', () =>
  run(async () => {
    await auth.logout();
    show('Logged out');
    status('signed out');
  }),
);

// Exposed for the browser tests and for experimenting in the console.
window.authgate = auth;
window.authgateHelloUrl = helloUrl;
refreshStatus();
