-- seq orders tokens created at the same instant by insertion.
CREATE TABLE api_tokens (
    hash         TEXT PRIMARY KEY,
    seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    owner        TEXT NOT NULL,
    role         TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_owner_created_at ON api_tokens (owner, created_at, seq);

-- Ids are taken while AppendAudit holds an EXCLUSIVE lock on the table, so
-- they are committed in id order and an "after id" cursor never skips one.
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
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
