-- Roles the apps behind authgate act on: names per user, carried in every access token (read at
-- sign-in and at each refresh, so a change takes effect at the user's next refresh).
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (role);
