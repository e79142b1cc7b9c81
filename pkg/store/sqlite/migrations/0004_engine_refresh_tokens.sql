-- Engine API refresh tokens (rotating). A use is
-- UPDATE ... WHERE used_at IS NULL; revoking a family updates every row
-- with its family_id.
CREATE TABLE engine_refresh_tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    family_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);

CREATE INDEX engine_refresh_tokens_family ON engine_refresh_tokens (family_id);
