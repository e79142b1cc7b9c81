package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
	"github.com/tollgate/tollgate/pkg/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite backend: the methods with the same SQL on both
// backends come from sqlstore.
type Store struct {
	*sqlstore.Store
	db   *sql.DB
	path string // the database file, whose header Ping reads
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and applies
// pending migrations. A new file is created with mode 0600; an existing
// one keeps its mode (see ExposedFiles).
func Open(ctx context.Context, path string) (*Store, error) { return openUpTo(ctx, path, "") }

// openUpTo is Open applying the migrations up to last only ("": all), so that
// tests can build a database as an older version left it.
func openUpTo(ctx context.Context, path, last string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	s.Store = sqlstore.New(conn{db}, s.inTx, errs)
	if err := s.migrate(ctx, last); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	return s, nil
}

// createPrivate creates an empty file at path, mode 0600, unless one
// exists. SQLite takes an empty file for an empty database, and creates
// the -wal and -shm files with the mode of the database file (os_unix.c,
// findCreateFileMode), so the three hold token hashes and the audit log
// for Tollgate's account alone, whatever the umask.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// Exposed is a file of a database that group or others may access.
type Exposed struct {
	Path string
	Mode fs.FileMode // permission bits
}

// ExposedFiles returns those of the database at path, its -wal and its
// -shm files that exist and that group or others may read or write, in
// that order. Open does not refuse them (the database worked before and
// chmod 600 fixes it): report them, so the operator does. Windows has no
// such permission bits: nothing is reported there.
func ExposedFiles(path string) ([]Exposed, error) {
	if runtime.GOOS == "windows" {
		return nil, nil
	}
	var exposed []Exposed
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return exposed, fmt.Errorf("sqlite store: %w", err)
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			exposed = append(exposed, Exposed{Path: f, Mode: mode})
		}
	}
	return exposed, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers and that its file is sound: the
// file starts with SQLite's header, and the schema and one row of a table
// can be read. The header is read from the file itself: a pooled
// connection answers from its page cache, and in WAL mode from the log,
// although the file under it was overwritten. No integrity scan: the cost
// is one small file read and one small query.
func (s *Store) Ping(ctx context.Context) error {
	if err := checkHeader(s.path); err != nil {
		return err
	}
	// Preparing the query reads the schema; running it reads a row.
	var version string
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1`).Scan(&version)
	if err != nil {
		return fmt.Errorf("ping: schema_migrations: %w", classify(err))
	}
	return nil
}

// headerMagic starts every SQLite database file (https://sqlite.org/fileformat.html §1.3).
const headerMagic = "SQLite format 3\x00"

// errNotADatabase is a file whose first bytes are not headerMagic.
var errNotADatabase = errors.New("sqlite store: the file does not start with SQLite's header")

// checkHeader reads the first bytes of the database file. A file that
// cannot be read or is not a database makes the store unavailable.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ping: %w: %w", store.ErrUnavailable, err)
	}
	defer f.Close()
	head := make([]byte, len(headerMagic))
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("ping: %s: %w: %w", path, store.ErrUnavailable, err)
	}
	if string(head) != headerMagic {
		return fmt.Errorf("ping: %s: %w: %w", path, store.ErrUnavailable, errNotADatabase)
	}
	return nil
}

// migrate applies the embedded migrations not yet recorded, each in its
// own transaction, in file-name order.
func (s *Store) migrate(ctx context.Context, last string) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	return sqlstore.Migrate(ctx, migrations, last, s.apply)
}

// apply runs one migration in its own transaction unless it is recorded.
func (s *Store) apply(ctx context.Context, version, body string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		version, time.Now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// execer is *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// conn runs sqlstore's statements on the database or in a transaction,
// their placeholders $1, $2... sent as SQLite's ?1, ?2....
type conn struct{ q execer }

var _ sqlstore.DB = conn{}

// Exec implements sqlstore.DB.
func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, numbered(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// QueryRow implements sqlstore.DB.
func (c conn) QueryRow(ctx context.Context, query string, args ...any) rows.Scanner {
	return c.q.QueryRowContext(ctx, numbered(query), args...)
}

// Query implements sqlstore.DB.
func (c conn) Query(ctx context.Context, query string, args ...any) (rows.Iter, error) {
	return c.q.QueryContext(ctx, numbered(query), args...)
}

// inTx is sqlstore.InTx on the database.
func (s *Store) inTx(ctx context.Context, fn func(sqlstore.DB) error) error {
	return s.withTx(ctx, func(tx *sql.Tx) error { return fn(conn{tx}) })
}

// withTx runs fn in one transaction and commits it if fn returns nil;
// otherwise it rolls it back and returns fn's error. The DSN's
// _txlock=immediate makes a transaction take the write lock at once, so
// transactions that write run one after another.
func (s *Store) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// execEach runs query, prepared once in tx, with each argument list, and
// returns how many rows the runs changed.
func execEach(ctx context.Context, tx *sql.Tx, query string, args [][]any) (int64, error) {
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	var n int64
	for _, a := range args {
		res, err := stmt.ExecContext(ctx, a...)
		if err != nil {
			return 0, err
		}
		m, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// numbered returns query with PostgreSQL's placeholders $n written as
// SQLite's ?n (https://sqlite.org/lang_expr.html#parameters): sqlstore's
// queries have no other $.
func numbered(query string) string { return strings.ReplaceAll(query, "$", "?") }

// errs maps the driver's errors to the store's (see rows.Errors).
var errs = rows.Errors{NoRows: isNoRows, Duplicate: isConstraint, Classify: classify}

// isNoRows reports an empty result of QueryRow.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// isConstraint reports a UNIQUE/PRIMARY KEY violation.
func isConstraint(err error) bool {
	var se *sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code()
	return code == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY || code == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE
}
