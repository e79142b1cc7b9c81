-- Audiences and scopes are JSON arrays of strings. COLLATE "C" lists ids in
-- byte order whatever the database's locale, as the sqlite store does.
CREATE TABLE clients (
    id          TEXT COLLATE "C" PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    audiences   TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT
);

-- The one signing key ring: the CHECK keeps it to a single row, so the
-- primary key decides a race of first creates; swaps are
-- UPDATE ... WHERE version = old, which re-checks the version after waiting
-- for a concurrent swap's row lock.
CREATE TABLE key_ring (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    version    BIGINT NOT NULL CHECK (version > 0),
    data       BYTEA NOT NULL,
    updated_at BIGINT
);
