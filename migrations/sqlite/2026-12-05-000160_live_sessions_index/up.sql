-- A user's sessions that have not ended, by expiry: counting and listing them (`GET user/`,
-- `GET sessions/`) and ending them all find their rows through this index, so of a long-lived
-- account's sessions they read only the live ones (counting still reads each to check its idle
-- time); the revoked and expired rows it piles up until the retention clean-up removes them cost
-- those requests nothing. Neither column changes when a refresh rotates the session, so refresh does not pay
-- for it; a session leaves the index when it is revoked.
CREATE INDEX sessions_user_live ON sessions (user_id, expires_at) WHERE revoked_at IS NULL;
