-- What a code message is for (email_verification, password_reset, email_change, phone_binding,
-- sms_signin; NULL for notices): the per-recipient cooldown holds back a second message of the
-- same purpose only, so a sign-up's verification mail does not delay a reset code.
ALTER TABLE outbox ADD COLUMN purpose TEXT;
