package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
	"github.com/tollgate/tollgate/pkg/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_xact_lock key ("tollgate" in ASCII) that
// serializes schema migrations between replicas starting at once.
const migrationLock int64 = 0x746f6c6c67617465

// uniqueViolation is SQLSTATE 23505.
const uniqueViolation = "23505"

// Store is the PostgreSQL backend: the methods with the same SQL on both
// backends come from sqlstore.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
	errs rows.Errors // maps pgx's errors to the store's, with classify
}

// newStore returns the store over pool.
func newStore(pool *pgxpool.Pool) *Store {
	s := &Store{pool: pool}
	s.errs = rows.Errors{NoRows: isNoRows, Duplicate: isUniqueViolation, Classify: s.classify}
	s.Store = sqlstore.New(conn{pool}, s.inTx, s.errs)
	return s
}

// querier is *pgxpool.Pool or pgx.Tx.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// conn runs sqlstore's statements on the pool or in a transaction.
type conn struct{ q querier }

var _ sqlstore.DB = conn{}

// Exec implements sqlstore.DB.
func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

// QueryRow implements sqlstore.DB.
func (c conn) QueryRow(ctx context.Context, query string, args ...any) rows.Scanner {
	return c.q.QueryRow(ctx, query, args...)
}

// Query implements sqlstore.DB.
func (c conn) Query(ctx context.Context, query string, args ...any) (rows.Iter, error) {
	return c.q.Query(ctx, query, args...)
}

// inTx is sqlstore.InTx on the pool.
func (s *Store) inTx(ctx context.Context, fn func(sqlstore.DB) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(conn{tx}) })
}

var _ store.Store = (*Store)(nil)

// errBadDSN is returned for a DSN pgx cannot parse. pgx's own error quotes
// the connection string (its password redaction is best effort), so it is
// not passed on.
var errBadDSN = errors.New("postgres store: store.dsn is not a valid connection string")

// Open connects to the database named by dsn (a postgres:// URL or
// key=value string; a search_path parameter selects the schema) and applies
// pending migrations. The DSN may hold a password, so no error quotes it.
func Open(ctx context.Context, dsn string) (*Store, error) { return openUpTo(ctx, dsn, "") }

// openUpTo is Open applying the migrations up to last only ("": all), so that
// tests can build a schema as an older version left it.
func openUpTo(ctx context.Context, dsn, last string) (*Store, error) {
	cfg, err := poolConfig(dsn)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	s := newStore(pool)
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if err := s.migrate(ctx, last); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	return s, nil
}

// What a database that is down or restarting may cost a caller.
const (
	// defaultConnectTimeout bounds a connection attempt when the DSN names
	// no connect_timeout (pgxpool's own bound is two minutes).
	defaultConnectTimeout = 5 * time.Second
	// pingTimeout bounds the ping with which the pool checks a connection
	// that was idle for over a second before handing it out (pgxpool's
	// default ShouldPing): a dead one is dropped, not given to a request.
	pingTimeout = time.Second
)

// poolConfig parses dsn into the pool's configuration, with the bounds
// above. Together with classify's Pool.Reset on a lost connection they
// make the pool serve again within a second of the database's return.
func poolConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errBadDSN
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	cfg.PingTimeout = pingTimeout
	return cfg, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.classify(s.pool.Ping(ctx)) }

// migrate applies the embedded migrations not yet recorded, in file-name
// order, each in its own transaction.
func (s *Store) migrate(ctx context.Context, last string) error {
	return sqlstore.Migrate(ctx, migrations, last, s.apply)
}

// apply runs one migration unless it is recorded. The advisory lock is
// taken first and held until commit, so of several replicas starting at
// once exactly one creates schema_migrations and applies the migration; the
// others wait, then find it recorded.
func (s *Store) apply(ctx context.Context, version, body string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	var applied bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
		version).Scan(&applied); err != nil {
		return err
	}
	if applied {
		return nil
	}
	// No arguments: pgx uses the simple protocol, which runs every
	// statement of the file.
	if _, err := tx.Exec(ctx, body); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
		version, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// sendBatch sends b on tx in one round trip and returns how many rows its
// statements changed.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) (int64, error) {
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	var n int64
	for range b.Len() {
		tag, err := br.Exec()
		if err != nil {
			return 0, err
		}
		n += tag.RowsAffected()
	}
	return n, br.Close()
}

// isUniqueViolation reports a UNIQUE/PRIMARY KEY violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == uniqueViolation
}

// isNoRows reports an empty result of QueryRow.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
