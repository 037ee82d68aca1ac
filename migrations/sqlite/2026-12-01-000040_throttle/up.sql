-- Sign-in failure lockout, shared by every replica. One row per login
-- that failed recently, known account or not: `login_key` is an HMAC-SHA-256 of the normalised
-- login (never the login itself). `failures` counts consecutive failures; `locked_until` is set
-- by the ladder (AUTHGATE_LOCKOUT_LADDER). A success or a password reset deletes the row.
CREATE TABLE signin_throttle (
    login_key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    locked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX signin_throttle_updated_at ON signin_throttle (updated_at);
