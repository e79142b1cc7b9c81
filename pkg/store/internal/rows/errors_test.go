package rows

import (
	"database/sql"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/pkg/store"
)

// errDup stands for a key violation, errDown for a lost connection.
var (
	errDup  = errors.New("duplicate")
	errDown = errors.New("down")
)

// testErrors reads as database/sql's: sql.ErrNoRows is no row; it
// classifies errDown as unavailable, like a backend does a lost connection.
var testErrors = Errors{
	NoRows:    func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
	Duplicate: func(err error) bool { return errors.Is(err, errDup) },
	Classify: func(err error) error {
		if errors.Is(err, errDown) {
			return errors.Join(store.ErrUnavailable, err)
		}
		return err
	},
}

// failingRow fails every Scan with its error.
type failingRow struct{ err error }

func (r failingRow) Scan(...any) error { return r.err }

// fakeIter yields its rows, then its error; it records being closed.
type fakeIter struct {
	rows   []fakeRow
	err    error
	closed bool
}

func (it *fakeIter) Next() bool { return len(it.rows) > 0 }
func (it *fakeIter) Err() error { return it.err }
func (it *fakeIter) Close()     { it.closed = true }
func (it *fakeIter) Scan(dest ...any) error {
	r := it.rows[0]
	it.rows = it.rows[1:]
	return r.Scan(dest...)
}

func TestErrorsMapping(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  error
		want []error // each must match with errors.Is; nil: no error
	}{
		{"Failed nil", testErrors.Failed("op", nil), nil},
		{"Failed unavailable", testErrors.Failed("op", errDown), []error{store.ErrUnavailable, errDown}},
		{"Inserted nil", testErrors.Inserted("x", "op", nil), nil},
		{"Inserted duplicate", testErrors.Inserted("x", "op", errDup), []error{store.ErrConflict}},
		{"Inserted other", testErrors.Inserted("x", "op", errDown), []error{store.ErrUnavailable}},
		{"Affected one row", testErrors.Affected("x", "op", 1, nil), nil},
		{"Affected none", testErrors.Affected("x", "op", 0, nil), []error{store.ErrNotFound}},
		{"Affected failure", testErrors.Affected("x", "op", 0, errDown), []error{store.ErrUnavailable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil && tc.got != nil {
				t.Fatalf("err = %v, want nil", tc.got)
			}
			for _, w := range tc.want {
				if !errors.Is(tc.got, w) {
					t.Errorf("err = %v, want %v", tc.got, w)
				}
			}
			if tc.got != nil && errors.Is(tc.got, store.ErrNotFound) && errors.Is(tc.got, store.ErrUnavailable) {
				t.Errorf("err = %v is both an answer and unavailable", tc.got)
			}
		})
	}
}

func TestOne(t *testing.T) {
	row := fakeRow{"id", "h", `[]`, `[]`, "d", int64(5), nil}
	if c, err := One(testErrors, "client", "get client", row, ScanClient); err != nil || c.ID != "id" {
		t.Errorf("One = %+v, %v; want client id", c, err)
	}
	c, err := One(testErrors, "client", "get client", failingRow{sql.ErrNoRows}, ScanClient)
	if !errors.Is(err, store.ErrNotFound) || c.ID != "" {
		t.Errorf("no row: %+v, %v; want the zero client and ErrNotFound", c, err)
	}
	if _, err := One(testErrors, "client", "get client", failingRow{errDown}, ScanClient); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("failure: err = %v, want ErrUnavailable", err)
	}
}

func TestList(t *testing.T) {
	it := &fakeIter{rows: []fakeRow{{"a", "h", `[]`, `[]`, "", int64(1), nil}, {"b", "h", `[]`, `[]`, "", int64(2), nil}}}
	got, err := List(testErrors, "list clients", it, nil, ScanClient)
	if err != nil || len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Errorf("List = %+v, %v; want clients a, b", got, err)
	}
	if !it.closed {
		t.Error("List left the result set open")
	}
	it = &fakeIter{err: errDown}
	if _, err := List(testErrors, "list clients", it, nil, ScanClient); !errors.Is(err, store.ErrUnavailable) || !it.closed {
		t.Errorf("iteration failure: err = %v, closed = %v; want ErrUnavailable, closed", err, it.closed)
	}
	if got, err := List(testErrors, "list clients", nil, errDown, ScanClient); !errors.Is(err, store.ErrUnavailable) || got != nil {
		t.Errorf("query failure: %v, %v; want nil, ErrUnavailable", got, err)
	}
}

func TestPrefixMatch(t *testing.T) {
	a, b := store.APIToken{Hash: "abc1"}, store.APIToken{Hash: "abc2"}
	if _, err := PrefixMatch(nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("none: err = %v, want ErrNotFound", err)
	}
	if got, err := PrefixMatch([]store.APIToken{a}); err != nil || got.Hash != a.Hash {
		t.Errorf("one: %+v, %v; want %s", got, err, a.Hash)
	}
	if _, err := PrefixMatch([]store.APIToken{a, b}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("several: err = %v, want ErrConflict", err)
	}
}
