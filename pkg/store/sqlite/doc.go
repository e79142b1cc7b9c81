// Package sqlite is the embedded default store: one SQLite file (WAL mode)
// through modernc.org/sqlite, so the binary needs no cgo. Schema migrations
// are embedded and applied at Open.
package sqlite
