-- Recovery codes: single-use second-factor codes for a lost authenticator. Only a keyed hash
-- (HMAC-SHA-256 under the server's code key, bound to the user id) is stored; a code is shown
-- once, when the set is issued. used_at marks a spent code; a new set replaces the old rows.
CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE UNIQUE INDEX recovery_codes_user_hash ON recovery_codes (user_id, code_hash);
