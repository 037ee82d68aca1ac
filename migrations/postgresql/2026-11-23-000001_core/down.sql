DROP TABLE auth_events;
DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE users;
