package rows

import (
	"errors"
	"math"
	"reflect"
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
		case *bool:
			*d = r[i].(bool)
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

// asRow turns values as the backends send them into a row as the drivers
// return it: a *int64 becomes its int64, or NULL for nil.
func asRow(values []any) fakeRow {
	row := make(fakeRow, len(values))
	for i, v := range values {
		if p, ok := v.(*int64); ok {
			if p == nil {
				v = nil
			} else {
				v = *p
			}
		}
		row[i] = v
	}
	return row
}

// TestValuesRoundTrip: what the Values functions write, the Scan functions
// read back, field for field (times to the nanosecond, zero times as NULL).
func TestValuesRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	refresh := store.RefreshToken{Hash: "h", Subject: "s", AccountID: "a", Epoch: "e", ClientID: "c", Service: "v",
		Binding: `{"b":1}`, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	if got, err := ScanRefreshToken(asRow(RefreshTokenValues(refresh))); err != nil || got != refresh {
		t.Errorf("refresh token: %+v, %v; want %+v", got, err, refresh)
	}
	engine := store.EngineRefreshToken{Hash: "h", FamilyID: "f", Subject: "s", AccountID: "a", Epoch: "e", ClientID: "c",
		CreatedAt: at, ExpiresAt: at.Add(time.Hour), UsedAt: at.Add(time.Minute)}
	if got, err := ScanEngineRefreshToken(asRow(EngineRefreshValues(engine))); err != nil || got != engine {
		t.Errorf("engine refresh token: %+v, %v; want %+v", got, err, engine)
	}
	api := store.APIToken{Hash: "h", Owner: "o", AccountID: "a", Role: "read", Description: "d",
		CreatedAt: at, ExpiresAt: at.Add(time.Hour), RevokedAt: at.Add(time.Minute)}
	if got, err := ScanAPIToken(asRow(APITokenValues(api))); err != nil || got != api {
		t.Errorf("api token: %+v, %v; want %+v", got, err, api)
	}
	account := store.Account{ID: "i", Name: "n", Email: "e", Type: store.AccountUser, State: store.AccountEnabled,
		CreatedAt: at, UpdatedAt: at.Add(time.Second), Source: "oidc:corp"}
	if got, err := ScanAccount(asRow(AccountValues(account))); err != nil || got != account {
		t.Errorf("account: %+v, %v; want %+v", got, err, account)
	}
	event := store.AuditEvent{ID: 7, Time: at, Kind: "k", Subject: "s", ClientIP: "ip", ClientID: "c", Service: "v",
		Requested: "r", Granted: "g", Detail: "d"}
	if got, err := ScanAuditEvent(asRow(append([]any{event.ID}, AuditValues(event)...))); err != nil || got != event {
		t.Errorf("audit event: %+v, %v; want %+v", got, err, event)
	}
}

// TestSessionValues: a session round-trips field for field, its groups in
// order, no groups as an empty list; invalid UTF-8 is refused.
func TestSessionValues(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	want := store.Session{Hash: "h", Subject: "alice", AccountID: "a", Source: "oidc:corp", Admin: true,
		Groups: []string{"ops", "dev"}, CSRF: "c", CreatedAt: at, SeenAt: at.Add(time.Minute), ExpiresAt: at.Add(time.Hour)}
	values, err := SessionValues(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ScanSession(asRow(values))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ScanSession(SessionValues) = %+v, want %+v", got, want)
	}
	values, err = SessionValues(store.Session{Hash: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ScanSession(asRow(values)); err != nil || got.Groups == nil || len(got.Groups) != 0 || got.Admin {
		t.Errorf("session without groups = %+v, %v; want an empty, non-nil Groups and no Admin", got, err)
	}
	if _, err := SessionValues(store.Session{Groups: []string{"\xff"}}); err == nil {
		t.Error("SessionValues accepted invalid UTF-8")
	}
	if _, err := ScanSession(asRow([]any{"h", "s", "", "", false, "{", "", int64(1), int64(1), int64(1)})); err == nil {
		t.Error("ScanSession accepted a malformed groups column")
	}
}

func TestClientValues(t *testing.T) {
	c := store.Client{ID: "id", SecretHash: "h", Audiences: []string{"reg"}, Description: "d", CreatedAt: FromDB(5)}
	values, err := ClientValues(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ScanClient(asRow(values))
	if err != nil || got.ID != c.ID || !slices.Equal(got.Audiences, c.Audiences) || len(got.Scopes) != 0 ||
		!got.CreatedAt.Equal(c.CreatedAt) || !got.UpdatedAt.IsZero() {
		t.Errorf("ScanClient(ClientValues(%+v)) = %+v, %v", c, got, err)
	}
	if _, err := ClientValues(store.Client{Scopes: []string{"\xff"}}); err == nil {
		t.Error("ClientValues accepted invalid UTF-8")
	}
}

func TestLowerBound(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if got := LowerBound(at); got != ToDB(at) {
		t.Errorf("LowerBound(%v) = %d, want %d", at, got, ToDB(at))
	}
	if got := LowerBound(time.Time{}); got != math.MinInt64 {
		t.Errorf("LowerBound(zero) = %d, want math.MinInt64", got)
	}
}
