package rows

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// fakeRow scans its values into the destinations the way both drivers do
// for the types used here: a NULL (nil) into a **int64 sets it to nil.
type fakeRow []any

func (r fakeRow) Scan(dest ...any) error {
	if len(dest) != len(r) {
		return errors.New("column count")
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *string:
			*d = r[i].(string)
		case *int64:
			*d = r[i].(int64)
		case **int64:
			if r[i] == nil {
				*d = nil
			} else {
				n := r[i].(int64)
				*d = &n
			}
		default:
			return errors.New("unexpected destination")
		}
	}
	return nil
}

func TestTimes(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	if got := FromDB(ToDB(at)); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("FromDB(ToDB(%v)) = %v, want the same instant in UTC", at, got)
	}
	if n := NullTime(time.Time{}); n != nil {
		t.Errorf("NullTime(zero) = %v, want nil", *n)
	}
	if got := FromNull(NullTime(at)); !got.Equal(at) {
		t.Errorf("FromNull(NullTime(%v)) = %v", at, got)
	}
	if got := FromNull(nil); !got.IsZero() {
		t.Errorf("FromNull(nil) = %v, want zero", got)
	}
}

func TestLists(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "[]"},
		{[]string{}, "[]"},
		{[]string{"a", "b\"c"}, `["a","b\"c"]`},
	} {
		got, err := EncodeList(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("EncodeList(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		back, err := DecodeList(got)
		if err != nil || back == nil || !slices.Equal(back, tc.in) && len(tc.in) > 0 {
			t.Errorf("DecodeList(%q) = %q, %v", got, back, err)
		}
	}
	if _, err := EncodeList([]string{"\xff"}); err == nil {
		t.Error("EncodeList accepted invalid UTF-8")
	}
	if l, err := DecodeList("null"); err != nil || l == nil {
		t.Errorf("DecodeList(null) = %#v, %v; want an empty non-nil list", l, err)
	}
}

func TestScanClient(t *testing.T) {
	c, err := ScanClient(fakeRow{"id", "h", `["aud"]`, `[]`, "d", int64(5), nil})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Client{ID: "id", SecretHash: "h", Audiences: []string{"aud"}, Scopes: []string{},
		Description: "d", CreatedAt: FromDB(5)}
	if c.ID != want.ID || !slices.Equal(c.Audiences, want.Audiences) || c.Scopes == nil ||
		!c.CreatedAt.Equal(want.CreatedAt) || !c.UpdatedAt.IsZero() {
		t.Errorf("ScanClient = %+v, want %+v", c, want)
	}
	if _, err := ScanClient(fakeRow{"id", "h", `{`, `[]`, "d", int64(5), nil}); err == nil {
		t.Error("ScanClient accepted a malformed audiences column")
	}
}
