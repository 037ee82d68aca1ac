-- Passkeys (WebAuthn credentials). credential holds the verified public key, its algorithm, the
-- signature counter and flags as the relying-party library serialises them: public data, so not
-- sealed; credential_id is the authenticator's id for it (base64url), unique across all users.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    credential TEXT NOT NULL,
    name TEXT NOT NULL,
    aaguid TEXT NOT NULL,
    backed_up BOOLEAN NOT NULL,
    user_verified BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- Ceremony state between a passkey options call and its finish, so that any replica can finish
-- what another began. The client holds a random state token; only its keyed hash is the key
-- here. used_at makes a challenge single use (a replay is told apart from a forgery); rows go
-- once expired (retention clean-up).
CREATE TABLE webauthn_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges (expires_at);

-- Accounts made with a passkey have no password anyone knows (their hash is of random bytes).
ALTER TABLE users ADD COLUMN has_password BOOLEAN NOT NULL DEFAULT 1;
