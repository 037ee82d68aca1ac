-- Keys for the admin API (automation): only a hash of each key is stored; the key itself is shown
-- once, when it is created. `scope` is `read` or `write`.
CREATE TABLE admin_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
-- Who did what the audit trail records, when it was not the account itself: `cli`, `key:<id>`
-- (an admin API key) or `user:<id>` (an admin's access token).
ALTER TABLE auth_events ADD COLUMN actor TEXT;
CREATE INDEX auth_events_kind_created ON auth_events (kind, created_at);
