package sqlstore

import (
	"context"
	"strconv"

	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// DB runs one statement: each backend adapts its driver (database/sql,
// pgx) to it.
type DB interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// QueryRow runs a query for one row; its Scan reports no row as the
	// Errors' NoRows.
	QueryRow(ctx context.Context, query string, args ...any) rows.Scanner
	// Query runs a query for any number of rows.
	Query(ctx context.Context, query string, args ...any) (rows.Iter, error)
}

// InTx runs fn in one transaction, on a DB bound to it, and commits it if
// fn returns nil; otherwise it rolls it back and returns fn's error.
// Failures to begin or commit come back as the driver said.
type InTx func(ctx context.Context, fn func(DB) error) error

// Store implements the methods of store.Store that both backends share.
type Store struct {
	db   DB
	inTx InTx // nil on a Store bound to a transaction
	errs rows.Errors
}

// New returns the shared methods over db, whose transactions inTx runs,
// mapping its errors with errs.
func New(db DB, inTx InTx, errs rows.Errors) *Store { return &Store{db: db, inTx: inTx, errs: errs} }

// transaction returns what fn returns, run in one transaction on a Store
// bound to it. fn's errors are the store's already; a failure to begin or
// commit is classified.
func transaction[T any](ctx context.Context, s *Store, fn func(tx *Store) (T, error)) (T, error) {
	var v T
	err := s.inTx(ctx, func(db DB) (err error) {
		v, err = fn(&Store{db: db, errs: s.errs})
		return err
	})
	if err != nil {
		var zero T
		return zero, s.errs.Classify(err)
	}
	return v, nil
}

// insert stores one row of values into table's columns: a duplicate key
// is store.ErrConflict after what, another failure as op.
func (s *Store) insert(ctx context.Context, what, op, table, columns string, values ...any) error {
	_, err := s.db.Exec(ctx, `INSERT INTO `+table+` (`+columns+`) VALUES (`+placeholders(len(values))+`)`, values...)
	return s.errs.Inserted(what, op, err)
}

// placeholders returns "$1, $2, ..., $n".
func placeholders(n int) string {
	b := make([]byte, 0, 4*n)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b = append(b, ", "...)
		}
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return string(b)
}
