// Package sqlstore is the part of the SQL backends that is one statement
// with the same SQL on SQLite and PostgreSQL: most methods of store.Store,
// written once over DB, a driver behind a small adapter. Each backend
// embeds a *Store and adds the methods whose SQL, locking or transactions
// differ (API token creation and lookup by prefix, audit appends, account
// updates and revocations), plus Ping, Close and its migrations.
//
// Queries use PostgreSQL's numbered placeholders ($1, $2...); the SQLite
// adapter sends them as ?1, ?2..., which SQLite reads the same way.
package sqlstore
