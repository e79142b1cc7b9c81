// Package rows holds the driver-independent half of the SQL backends
// (pkg/store/sqlite over database/sql, pkg/store/postgres over pgx): decoding
// a result row into a store value type, reading one row or all rows of a
// result, mapping the driver's errors to the store's sentinels (Errors),
// encoding string lists as JSON arrays, and storing times as Unix
// nanoseconds. SQL text, placeholders, transactions, recognizing the
// driver's errors and migrations stay with each backend.
package rows
