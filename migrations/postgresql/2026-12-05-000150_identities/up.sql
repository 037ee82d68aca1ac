-- Identities at OpenID Connect / OAuth 2.0 providers, each belonging to one user. subject is the
-- provider's stable id for the person (`sub`, or GitHub's numeric id); email is what the provider
-- last said, shown to the user beside the link (personal data: it goes with the account).
CREATE TABLE identities (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_user_id ON identities (user_id);

-- A provider sign-in between its redirect to the provider and its end, so that any replica can
-- finish what another began. id is the keyed hash of the `state` sent to the provider; binding
-- the keyed hash of a random value in a cookie of the browser that began it (a callback from
-- another browser is refused: no login CSRF). payload is sealed (it holds the PKCE verifier).
-- purpose: `signin` or `link` (user_id set) until the callback, then `mfa` while a second factor
-- is awaited. used_at makes each step single use; rows go once expired (retention clean-up).
CREATE TABLE oauth_flows (
    id TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    purpose TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    binding TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX oauth_flows_expires_at ON oauth_flows (expires_at);
