-- Sessions of deleted accounts: the rows go with the account, but their ids must stay on the
-- revocation list until no access token of theirs can still be alive. A tombstone holds only the
-- random session id and when it ended: nothing about the person.
CREATE TABLE session_tombstones (
    id TEXT PRIMARY KEY NOT NULL,
    revoked_at TIMESTAMP NOT NULL
);
CREATE INDEX session_tombstones_revoked_at ON session_tombstones (revoked_at);
