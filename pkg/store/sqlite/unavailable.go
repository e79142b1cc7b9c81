package sqlite

import (
	"context"
	"errors"
	"fmt"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/tollgate/tollgate/pkg/store"
)

// unavailableCodes are the primary result codes (https://sqlite.org/rescode.html)
// that say the database cannot answer now: locked past the busy timeout,
// failing I/O, a file that cannot be opened or is full, corrupt, or not a
// database at all. SQLITE_INTERRUPT is there because the driver interrupts
// a statement only when the call's context ends, i.e. it ran out of time.
var unavailableCodes = map[int]bool{
	sqlite3lib.SQLITE_BUSY:      true,
	sqlite3lib.SQLITE_LOCKED:    true,
	sqlite3lib.SQLITE_IOERR:     true,
	sqlite3lib.SQLITE_CANTOPEN:  true,
	sqlite3lib.SQLITE_FULL:      true,
	sqlite3lib.SQLITE_CORRUPT:   true,
	sqlite3lib.SQLITE_NOTADB:    true,
	sqlite3lib.SQLITE_INTERRUPT: true,
}

// classify returns err, wrapping store.ErrUnavailable as well when err says
// the database cannot answer now; the driver's error stays wrapped, so
// logs keep the cause. Answers (store.IsAnswer) and other failures come
// back as they are.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || store.IsAnswer(err) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// unavailable reports an error of unavailableCodes (extended codes
// included), or a call that ran out of time.
func unavailable(err error) bool {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		return unavailableCodes[se.Code()&0xff]
	}
	return errors.Is(err, context.DeadlineExceeded)
}
