-- A user's sessions that have not ended, by expiry: counting and listing them (`GET user/`,
-- `GET sessions/`) and ending them all read this index alone, so the revoked and expired rows a
-- long-lived account piles up (until the retention clean-up removes them) cost those requests
-- nothing. Neither column changes when a refresh rotates the session, so refresh does not pay
-- for it; a session leaves the index when it is revoked.
CREATE INDEX sessions_user_live ON sessions (user_id, expires_at) WHERE revoked_at IS NULL;
