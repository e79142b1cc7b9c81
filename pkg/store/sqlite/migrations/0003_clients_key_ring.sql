-- Audiences and scopes are JSON arrays of strings. BINARY collation (the
-- default) lists ids in byte order.
CREATE TABLE clients (
    id          TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL,
    audiences   TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER
);

-- The one signing key ring: the CHECK keeps it to a single row, so the
-- primary key decides a race of first creates; swaps are
-- UPDATE ... WHERE version = old.
CREATE TABLE key_ring (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    INTEGER NOT NULL CHECK (version > 0),
    data       BLOB NOT NULL,
    updated_at INTEGER
);
