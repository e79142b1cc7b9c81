CREATE TABLE api_tokens (
    hash         TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    role         TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_owner_created_at ON api_tokens (owner, created_at);

-- AUTOINCREMENT: an id is never reused, even after the newest rows are
-- deleted, so a reader's "after id" cursor never skips a later event.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    client_ip   TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    service     TEXT NOT NULL,
    requested   TEXT NOT NULL,
    granted     TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
