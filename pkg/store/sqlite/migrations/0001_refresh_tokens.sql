CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    service    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
