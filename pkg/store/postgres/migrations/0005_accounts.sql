-- Accounts: what Tollgate keeps about a user besides the password. The id
-- is a random UUID, made once and never reused; every stored credential
-- names the id it was issued to, so a user removed and added again under
-- the same name never gets back what the first one held. COLLATE "C" lists
-- names in byte order whatever the database's locale, as SQLite does.
CREATE TABLE accounts (
    id                TEXT PRIMARY KEY,
    name              TEXT COLLATE "C" NOT NULL UNIQUE,
    email             TEXT NOT NULL,
    type              TEXT NOT NULL,
    state             TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    tokens_not_before BIGINT
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
-- subject's name (gen_random_uuid: PostgreSQL 13 or later), so they keep
-- working and end with it from now on. It was made no later than its
-- first credential: a name already gone from the user file is ended at
-- the next start, as an account older than the file.
INSERT INTO accounts (id, name, email, type, state, created_at, updated_at)
SELECT gen_random_uuid()::text, name, '', 'user', 'enabled', MIN(created_at),
       (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint
FROM (SELECT owner AS name, created_at FROM api_tokens
      UNION ALL SELECT subject, created_at FROM refresh_tokens
      UNION ALL SELECT subject, created_at FROM engine_refresh_tokens) AS names
GROUP BY name;
UPDATE api_tokens SET account_id = a.id FROM accounts a WHERE a.name = api_tokens.owner;
UPDATE refresh_tokens SET account_id = a.id FROM accounts a WHERE a.name = refresh_tokens.subject;
UPDATE engine_refresh_tokens SET account_id = a.id FROM accounts a WHERE a.name = engine_refresh_tokens.subject;
