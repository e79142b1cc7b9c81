-- Accounts: what Tollgate keeps about a user besides the password. The id
-- is a random UUID, made once and never reused; every stored credential
-- names the id it was issued to, so a user removed and added again under
-- the same name never gets back what the first one held.
CREATE TABLE accounts (
    id                TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL UNIQUE,
    email             TEXT NOT NULL,
    type              TEXT NOT NULL,
    state             TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    tokens_not_before INTEGER
);

ALTER TABLE refresh_tokens ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id);

ALTER TABLE engine_refresh_tokens ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
ALTER TABLE engine_refresh_tokens ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
CREATE INDEX engine_refresh_tokens_account ON engine_refresh_tokens (account_id);
CREATE INDEX engine_refresh_tokens_expires_at ON engine_refresh_tokens (expires_at);

ALTER TABLE api_tokens ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
-- Listings are by account, in (created_at, hash) order; none is by owner.
CREATE INDEX api_tokens_account ON api_tokens (account_id, created_at, hash);
DROP INDEX api_tokens_owner_created_at;
CREATE INDEX api_tokens_created_at ON api_tokens (created_at, hash);

-- Credentials stored before accounts existed get an account of their
-- subject's name (a random version-4 UUID each), so they keep working and
-- end with it from now on. It was made no later than its first
-- credential: a name already gone from the user file is ended at the next
-- start, as an account older than the file.
INSERT INTO accounts (id, name, email, type, state, created_at, updated_at)
SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
       substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) ||
       substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))),
       name, '', 'user', 'enabled', MIN(created_at),
       CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER)
FROM (SELECT owner AS name, created_at FROM api_tokens
      UNION ALL SELECT subject, created_at FROM refresh_tokens
      UNION ALL SELECT subject, created_at FROM engine_refresh_tokens)
GROUP BY name;
UPDATE api_tokens SET account_id = (SELECT id FROM accounts WHERE name = api_tokens.owner);
UPDATE refresh_tokens SET account_id = (SELECT id FROM accounts WHERE name = refresh_tokens.subject);
UPDATE engine_refresh_tokens SET account_id = (SELECT id FROM accounts WHERE name = engine_refresh_tokens.subject);
