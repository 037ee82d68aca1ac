ALTER TABLE users DROP COLUMN has_password;
DROP TABLE webauthn_challenges;
DROP TABLE passkeys;
