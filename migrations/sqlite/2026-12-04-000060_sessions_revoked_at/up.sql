-- The revocation list reloads the sessions revoked within one access-token lifetime every few
-- seconds: without an index that is a scan of every session ever opened.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);
