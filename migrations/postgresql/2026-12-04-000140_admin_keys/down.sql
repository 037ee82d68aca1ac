DROP INDEX auth_events_kind_created;
ALTER TABLE auth_events DROP COLUMN actor;
DROP TABLE admin_keys;
