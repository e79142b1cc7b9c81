// Package rows holds the driver-independent half of the SQL backends
// (pkg/store/sqlite over database/sql, pkg/store/postgres over pgx): decoding
// a result row into a store value type, encoding string lists as JSON
// arrays, and storing times as Unix nanoseconds. SQL text, placeholders,
// transactions, error mapping and migrations stay with each backend.
package rows
