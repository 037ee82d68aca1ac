-- The retention clean-up finds dead rows by time: without these its batches scanned whole tables
-- (measured at 1M users and 5M sessions, the first pass on SQLite ran past 8 minutes). Both
-- columns are written once per row, so the indexes cost the hot paths (refresh) nothing.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX auth_events_created_at ON auth_events (created_at);
