import { useEffect, useRef, useState } from 'react';
import { AuthgateError } from '@authgate/client';
import { useAuth, useSession } from '@authgate/react';

const failure = (err) =>
  err instanceof AuthgateError ? `Error ${err.status} ${err.error}: ${err.message}` : `Error: ${err.message}`;

export function App() {
  const { status, user } = useAuth();
  const [message, setMessage] = useState('');
  // A sign-out this tab did not ask for: another tab signed out, or the session ended.
  const signingOut = useRef(false);
  const previous = useRef(status);
  useEffect(() => {
    if (previous.current === 'signed_in' && status === 'signed_out' && !signingOut.current) {
      setMessage('You were signed out (in another tab, or your session ended).');
    }
    signingOut.current = false;
    previous.current = status;
  }, [status]);

  return (
    <main>
      <h1>authgate React example</h1>
      <SessionStatus />
      {status === 'loading' && <p>Loading your account…</p>}
      {status === 'signed_out' && <SignedOut say={setMessage} />}
      {status === 'signed_in' && <SignedIn user={user} say={setMessage} signingOut={signingOut} />}
      <h2>Result</h2>
      <pre id="output">{message}</pre>
    </main>
  );
}

function SessionStatus() {
  const { status, expiresAt } = useSession();
  const { user } = useAuth();
  const text = status === 'signed_in' ? `signed in as ${user.email}` : status === 'signed_out' ? 'signed out' : 'loading…';
  return (
    <p>
      Status: <strong id="status">{text}</strong>
      {expiresAt && <small> (access token until {new Date(expiresAt * 1000).toLocaleTimeString()})</small>}
    </p>
  );
}

function SignedOut({ say }) {
  const { signUp, signIn } = useAuth();
  const [mfa, setMfa] = useState(null); // the `mfa_required` result of a sign-in waiting for its code

  async function onSignUp(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    try {
      const user = await signUp({ name: form.get('name'), email: form.get('email'), password: form.get('password') });
      say(`Signed up: ${user.email}`);
    } catch (err) {
      say(failure(err));
    }
  }

  async function onSignIn(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    try {
      const result = await signIn({ login: form.get('email'), password: form.get('password') });
      if (result.status === 'mfa_required') {
        setMfa(result);
        say(`Second factor needed: ${result.factors.join(', ')}`);
      } else {
        say(`Signed in: ${form.get('email')}`);
      }
    } catch (err) {
      say(failure(err));
    }
  }

  async function onCode(event) {
    event.preventDefault();
    try {
      await mfa.withCode(new FormData(event.currentTarget).get('code'));
      say('Signed in with a second factor');
    } catch (err) {
      say(failure(err));
    }
  }

  if (mfa) {
    return (
      <form id="mfa-form" onSubmit={onCode}>
        <fieldset>
          <legend>Second factor</legend>
          <label>Authenticator or recovery code <input id="mfa-code" name="code" autoComplete="one-time-code" required /></label>
          <button id="mfa-submit" type="submit">Verify</button>
        </fieldset>
      </form>
    );
  }
  return (
    <>
      <form id="signup-form" onSubmit={onSignUp}>
        <fieldset>
          <legend>Sign up</legend>
          <label>Name <input id="signup-name" name="name" autoComplete="name" required /></label>
          <label>Email <input id="signup-email" name="email" type="email" autoComplete="username" required /></label>
          <label>Password <input id="signup-password" name="password" type="password" autoComplete="new-password" required /></label>
          <button id="signup" type="submit">Sign up</button>
        </fieldset>
      </form>
      <form id="signin-form" onSubmit={onSignIn}>
        <fieldset>
          <legend>Sign in</legend>
          <label>Email <input id="signin-email" name="email" type="email" autoComplete="username" required /></label>
          <label>Password <input id="signin-password" name="password" type="password" autoComplete="current-password" required /></label>
          <button id="signin" type="submit">Sign in</button>
        </fieldset>
      </form>
    </>
  );
}

function SignedIn({ user, say, signingOut }) {
  const { signOut } = useAuth();
  async function onSignOut() {
    signingOut.current = true;
    try {
      await signOut();
      say('Signed out');
    } catch (err) {
      signingOut.current = false;
      say(failure(err));
    }
  }
  return (
    <section>
      <h2>Your account</h2>
      <dl>
        <dt>Name</dt><dd id="user-name">{user.name}</dd>
        <dt>Email</dt><dd id="user-email">{user.email}</dd>
        <dt>Id</dt><dd id="user-id">{user.id}</dd>
      </dl>
      <button id="signout" type="button" onClick={onSignOut}>Sign out</button>
    </section>
  );
}
