DROP TABLE invite_codes;
DROP INDEX users_phone;
ALTER TABLE users DROP COLUMN totp_locked_until;
ALTER TABLE users DROP COLUMN totp_failures;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_pending;
ALTER TABLE users DROP COLUMN totp_secret;
