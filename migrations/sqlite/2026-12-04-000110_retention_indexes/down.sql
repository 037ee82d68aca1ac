DROP INDEX auth_events_created_at;
DROP INDEX sessions_expires_at;
