-- One-time codes (email verification, password reset, email change): only a salted SHA-256 of
-- the code is stored; attempt-counted, expiring, single use.
CREATE TABLE one_time_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    target TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    consumed_at TIMESTAMP
);
CREATE INDEX one_time_codes_user_purpose ON one_time_codes (user_id, purpose, created_at);

-- Mail (and later SMS) waiting to be sent, written in the transaction that causes it. Bodies are
-- sealed (they hold codes). A row in 'sending' whose next_attempt_at has passed was claimed by a
-- sender that died: it is claimed again.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text BYTEA NOT NULL,
    body_html BYTEA,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient_time ON outbox (recipient, created_at);
