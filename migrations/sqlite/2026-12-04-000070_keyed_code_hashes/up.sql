-- One-time codes are now stored as HMAC-SHA-256 under a server secret instead of plain SHA-256.
-- Codes hashed the old way can no longer be checked: they are voided (marked consumed), and a user
-- in the middle of a flow asks for a new code. Codes live at most 24 hours, so nothing else is lost.
UPDATE one_time_codes SET consumed_at = created_at WHERE consumed_at IS NULL;
