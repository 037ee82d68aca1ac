// The example SPA: plain DOM + the authgate client module, no framework, no build step.
import { createClient, AuthgateError, passkeySupport } from './authgate.js';

const meta = document.querySelector('meta[name="authgate-base-url"]');
const baseUrl = (meta && meta.content) || window.location.origin;
// `window.authgateClientOptions`: extra client options, for the browser tests (e.g. autoRefresh).
const auth = createClient({ baseUrl, ...(window.authgateClientOptions || {}) });
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
const failure = (err) => {
  if (err instanceof AuthgateError) return `Error ${err.status} ${err.error}: ${err.message}`;
  // The browser's own refusals: NotAllowedError (prompt cancelled), InvalidStateError (this
  // authenticator already holds a passkey for the account), ...
  if (err instanceof DOMException) return `Error ${err.name}: ${err.message}`;
  return `Error: ${err.message}`;
};
const codes = (list) => (list && list.length ? `\nRecovery codes (shown once, keep them safe): ${list.join(' ')}` : '');

let signedIn = false;
let mfa = null; // the `mfa_required` result of a sign-in waiting for its second factor

async function run(action) {
  try {
    await action();
  } catch (err) {
    show(failure(err));
    if (!signedIn) offerPasskeyAutofill(); // a cancelled prompt aborted the autofill: offer it again
  }
}

function onSignedIn(user) {
  signedIn = true;
  mfa = null;
  $('mfa-form').hidden = true;
  stopPasskeyAutofill();
  status(`signed in as ${user.email}`);
}

function onSignedOut() {
  signedIn = false;
  status('signed out');
  $('passkeys').replaceChildren();
  offerPasskeyAutofill();
}

async function refreshStatus() {
  try {
    const user = await auth.user();
    onSignedIn(user);
    return user;
  } catch (err) {
    onSignedOut();
    return null;
  }
}

// Passkeys in the sign-in form's autofill (conditional mediation), while signed out. The request
// waits until the user picks a passkey there; any other passkey prompt of the client aborts it.
let autofill = null;
async function offerPasskeyAutofill() {
  if (autofill) return;
  const controller = new AbortController();
  autofill = controller;
  try {
    if (!(await passkeySupport()).conditional) return;
    await auth.signInWithPasskey({ conditional: true, signal: controller.signal });
    const user = await refreshStatus();
    show(`Signed in with a passkey (autofill): ${user ? user.email : '?'}`);
  } catch (err) {
    // authgate refused the passkey the user picked (400, 401, 403): say so. Anything else
    // (passkeys off on the server, a rate limit on the challenges, a page on another domain than
    // the passkeys' RP ID) just means no autofill this time.
    if (err instanceof AuthgateError && [400, 401, 403].includes(err.status)) show(failure(err));
    else if (err.name !== 'AbortError') console.info('no passkey autofill:', err);
  } finally {
    if (autofill === controller) autofill = null;
  }
}
function stopPasskeyAutofill() {
  if (autofill) autofill.abort();
  autofill = null;
}

$('signup-form').addEventListener('submit', (event) => {
  event.preventDefault();
  run(async () => {
    const user = await auth.signup({
      name: $('signup-name').value,
      email: $('signup-email').value, password: $('signup-password').value,
    });
    show(`Signed up: ${user.email}`);
    onSignedIn(user);
  });
});

$('signup-passkey').addEventListener('click', () =>
  run(async () => {
    const user = await auth.signUpWithPasskey({ name: $('signup-name').value, email: $('signup-email').value });
    show(`Signed up with a passkey: ${user.email}${codes(user.recovery_codes)}`);
    await refreshStatus(); // no cookies yet when authgate requires email verification first
  }),
);

$('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  run(async () => {
    const result = await auth.signin({ login: $('signin-email').value, password: $('signin-password').value });
    if (result.status === 'mfa_required') {
      mfa = result; // the password was right: ask for the second factor
      $('mfa-passkey').hidden = !result.passkeyOffered;
      $('mfa-form').hidden = false;
      show(`Second factor needed: ${result.factors.join(', ')}`);
      return;
    }
    const user = await refreshStatus();
    show(`Signed in: ${user ? user.email : '?'}`);
  });
});

$('signin-passkey').addEventListener('click', () =>
  run(async () => {
    await auth.signInWithPasskey();
    const user = await refreshStatus();
    show(`Signed in with a passkey: ${user ? user.email : '?'}`);
  }),
);

async function finishSecondFactor(step) {
  if (!mfa) throw new Error('sign in with your password first');
  const result = await step(mfa);
  if (result.status === 'mfa_required') {
    mfa = result; // the account still asks (its passkey challenge was spent): try again
    return;
  }
  const user = await refreshStatus();
  show(`Signed in: ${user ? user.email : '?'}`);
}

$('mfa-passkey').addEventListener('click', () => run(() => finishSecondFactor((m) => m.withPasskey())));

$('mfa-form').addEventListener('submit', (event) => {
  event.preventDefault();
  run(() => finishSecondFactor((m) => m.withCode($('mfa-code').value.trim())));
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
    onSignedOut();
  }),
);

// Passkey management (signed in). Adding and removing one re-authenticates: the password (plus a
// code with TOTP on), or one of the account's passkeys.
function reauthentication() {
  if ($('reauth-passkey').checked) return { passkey: true };
  return { password: $('reauth-password').value, code: $('reauth-code').value.trim() || undefined };
}

async function renderPasskeys() {
  const passkeys = await auth.listPasskeys();
  $('passkeys').replaceChildren(...passkeys.map((passkey) => {
    const item = document.createElement('li');
    item.dataset.id = passkey.id;
    const name = document.createElement('span');
    name.className = 'passkey-name';
    name.textContent = passkey.name;
    const about = document.createElement('small');
    const from = passkey.authenticator ? `${passkey.authenticator}, ` : '';
    about.textContent = ` (${from}added ${passkey.created_at}, last used ${passkey.last_used_at ?? 'never'}) `;
    const newName = document.createElement('input');
    newName.className = 'passkey-new-name';
    newName.value = passkey.name;
    newName.setAttribute('aria-label', `New name for ${passkey.name}`);
    const rename = document.createElement('button');
    rename.type = 'button';
    rename.className = 'passkey-rename';
    rename.textContent = 'Rename';
    rename.addEventListener('click', () =>
      run(async () => {
        const renamed = await auth.renamePasskey(passkey.id, newName.value);
        show(`Passkey renamed: ${renamed.name}`);
        await renderPasskeys();
      }),
    );
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'passkey-remove';
    remove.textContent = 'Remove';
    remove.addEventListener('click', () =>
      run(async () => {
        await auth.removePasskey(passkey.id, reauthentication());
        show(`Passkey removed: ${passkey.name}`);
        await renderPasskeys();
      }),
    );
    item.append(name, about, newName, rename, remove);
    return item;
  }));
  return passkeys;
}

$('passkeys-form').addEventListener('submit', (event) => {
  event.preventDefault();
  run(async () => {
    const passkey = await auth.registerPasskey({ ...reauthentication(), name: $('passkey-name').value.trim() || undefined });
    show(`Passkey added: ${passkey.name}${codes(passkey.recovery_codes)}`);
    await renderPasskeys();
  });
});

$('passkeys-list').addEventListener('click', () =>
  run(async () => {
    const passkeys = await renderPasskeys();
    show(`${passkeys.length} passkey(s)`);
  }),
);

// Identity providers: a "Continue with …" button each. The flow leaves this page and comes back
// to it, signed in or with `?error=` (an account with a second factor is asked for it here).
async function offerProviders() {
  let providers = [];
  try {
    providers = await auth.listProviders();
  } catch (err) {
    return; // no providers endpoint reachable: no buttons
  }
  const back = window.location.origin + window.location.pathname;
  $('providers').replaceChildren($('providers').firstElementChild, ...providers.map((id) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'provider';
    button.dataset.provider = id;
    button.textContent = `Continue with ${id}`;
    button.addEventListener('click', () => auth.signInWithProvider(id, { returnTo: back }));
    return button;
  }));
  $('providers').hidden = providers.length === 0;
}

async function finishProviderSignIn() {
  const result = await auth.completeProviderSignIn();
  if (!result) return;
  if (result.status === 'error') {
    show(`Sign-in with the provider failed: ${result.error}`);
  } else if (result.status === 'mfa_required') {
    mfa = result;
    $('mfa-passkey').hidden = !result.passkeyOffered;
    $('mfa-form').hidden = false;
    show(`Second factor needed: ${result.factors.join(', ')}`);
  } else {
    const user = await refreshStatus();
    show(`Signed in: ${user ? user.email : '?'}`);
  }
}

// Another tab signed in or out, or the session ended: follow it. (No request on a page load
// without a session: the client answers `user()` from the session hint cookie.)
auth.onAuthStateChange((event) => {
  if ((event === 'SIGNED_OUT' || event === 'SESSION_EXPIRED') && signedIn) onSignedOut();
  else if (event === 'SIGNED_IN' && !signedIn) refreshStatus();
});

// Exposed for the browser tests and for experimenting in the console.
window.authgate = auth;
window.authgateHelloUrl = helloUrl;
refreshStatus();
offerProviders();
run(finishProviderSignIn);
