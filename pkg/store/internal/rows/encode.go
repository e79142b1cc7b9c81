package rows

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/pkg/store"
)

// Times are stored as Unix nanoseconds (BIGINT/INTEGER) and read back in
// UTC: PostgreSQL's timestamptz would keep only microseconds.

// ToDB returns t as Unix nanoseconds.
func ToDB(t time.Time) int64 { return t.UnixNano() }

// FromDB returns the UTC time of n Unix nanoseconds.
func FromDB(n int64) time.Time { return time.Unix(0, n).UTC() }

// LowerBound returns t as Unix nanoseconds for a "not before" filter: the
// zero time, no filter, is the smallest value there is.
func LowerBound(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return ToDB(t)
}

// NullTime maps the zero time to nil (NULL), any other to its Unix
// nanoseconds. Both database/sql and pgx send a nil *int64 as NULL.
func NullTime(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := ToDB(t)
	return &n
}

// FromNull maps nil (a NULL scanned into a *int64) to the zero time.
func FromNull(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return FromDB(*n)
}

// ClientLists returns c's audiences and scopes as JSON arrays.
func ClientLists(c store.Client) (aud, scopes string, err error) {
	if aud, err = EncodeList(c.Audiences); err != nil {
		return "", "", fmt.Errorf("audiences: %w", err)
	}
	if scopes, err = EncodeList(c.Scopes); err != nil {
		return "", "", fmt.Errorf("scopes: %w", err)
	}
	return aud, scopes, nil
}

// EncodeList returns l as a JSON array ("[]" for nil). encoding/json would
// replace invalid UTF-8 silently, so it is refused instead.
func EncodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	for _, v := range l {
		if !utf8.ValidString(v) {
			return "", fmt.Errorf("%q is not valid UTF-8", v)
		}
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// DecodeList reads a JSON array of strings; it never returns nil.
func DecodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if l == nil {
		l = []string{}
	}
	return l, nil
}
