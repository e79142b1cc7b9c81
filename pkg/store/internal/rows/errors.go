package rows

import (
	"fmt"

	"github.com/tollgate/tollgate/pkg/store"
)

// Errors is what a backend knows about its driver's errors. Each backend
// fills one in; the helpers below map every failure to the store's
// sentinels the same way for both.
type Errors struct {
	NoRows    func(error) bool  // a query for one row found none
	Duplicate func(error) bool  // a UNIQUE or PRIMARY KEY violation
	Classify  func(error) error // wraps store.ErrUnavailable where the database cannot answer now
}

// Failed returns nil for a nil err; otherwise err classified, after op
// ("get client: ...").
func (e Errors) Failed(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, e.Classify(err))
}

// Inserted maps the error of an INSERT: a duplicate key is
// store.ErrConflict after what ("client: ..."), anything else Failed.
func (e Errors) Inserted(what, op string, err error) error {
	if err != nil && e.Duplicate(err) {
		return fmt.Errorf("%s: %w", what, store.ErrConflict)
	}
	return e.Failed(op, err)
}

// Affected maps the row count of an UPDATE or DELETE of one row, n and
// err being what the driver reported: no row is store.ErrNotFound after
// what, a failure as Failed says.
func (e Errors) Affected(what, op string, n int64, err error) error {
	if err != nil {
		return e.Failed(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// One returns the value scan reads from the one row r: store.ErrNotFound
// after what when there is none, other failures as Failed says.
func One[T any](e Errors, what, op string, r Scanner, scan func(Scanner) (T, error)) (T, error) {
	v, err := scan(r)
	if err == nil {
		return v, nil
	}
	var zero T
	if e.NoRows(err) {
		return zero, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return zero, e.Failed(op, err)
}

// List returns the values scan reads from every row of a result set, rs
// and err being what the driver's query returned; it closes rs. It returns
// nil for no rows.
func List[T any](e Errors, op string, rs Iter, err error, scan func(Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, e.Failed(op, err)
	}
	defer closeIter(rs)
	out, err := All(rs, scan)
	return out, e.Failed(op, err)
}

// PrefixMatch returns the one token of found, the rows of a query for the
// tokens whose hash starts with a prefix (LIMIT 2 is enough):
// store.ErrNotFound for none, store.ErrConflict for several.
func PrefixMatch(found []store.APIToken) (store.APIToken, error) {
	switch len(found) {
	case 0:
		return store.APIToken{}, fmt.Errorf("api token: %w", store.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return store.APIToken{}, fmt.Errorf("api token prefix matches several: %w", store.ErrConflict)
}

// closeIter closes a result set of either driver: *sql.Rows has
// Close() error, pgx.Rows Close().
func closeIter(rs Iter) {
	switch c := rs.(type) {
	case interface{ Close() error }:
		c.Close()
	case interface{ Close() }:
		c.Close()
	}
}
