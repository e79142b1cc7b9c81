// Package postgres is the store for several Tollgate replicas sharing one
// PostgreSQL database, through github.com/jackc/pgx/v5 (pgxpool). It keeps
// the same schema semantics as the sqlite store: times are BIGINT Unix
// nanoseconds, read back in UTC, so both backends round-trip time.Time
// exactly. Schema migrations are embedded and applied at Open under a
// transaction-scoped advisory lock, so replicas that start together do not
// race each other.
package postgres
