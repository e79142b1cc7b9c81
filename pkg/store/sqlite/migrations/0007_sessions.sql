-- Sessions of the web UI, kept here so that every replica knows them. The
-- hash is the hex SHA-256 of the session ID (the cookie); the ID itself is
-- never stored. group_names is a JSON array of strings; admin is 0 or 1.
-- Signing a user out everywhere deletes by subject; the purge deletes by
-- expires_at (and by seen_at, for the idle timeout).
CREATE TABLE sessions (
    hash        TEXT PRIMARY KEY NOT NULL,
    subject     TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    source      TEXT NOT NULL,
    admin       INTEGER NOT NULL CHECK (admin IN (0, 1)),
    group_names TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
