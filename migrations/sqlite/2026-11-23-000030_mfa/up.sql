-- Second factors (TOTP), phone binding and invitations (issue 5).
-- totp_secret: the confirmed secret, sealed; totp_pending: a secret issued by POST mfa/totp/
-- and not yet confirmed, sealed. totp_last_step: the last accepted 30 s step, so a code works
-- once. totp_failures / totp_locked_until: the growing delay after wrong codes.
ALTER TABLE users ADD COLUMN totp_secret BLOB;
ALTER TABLE users ADD COLUMN totp_pending BLOB;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
ALTER TABLE users ADD COLUMN totp_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_locked_until TIMESTAMP;
-- A phone number (E.164) belongs to one account at most; NULLs do not collide.
CREATE UNIQUE INDEX users_phone ON users (phone);

-- Invitation codes: only the SHA-256 of the code is stored.
CREATE TABLE invite_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
