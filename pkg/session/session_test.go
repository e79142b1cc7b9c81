package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/clocktest"
	"github.com/tollgate/tollgate/pkg/session"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

const (
	idle     = 30 * time.Minute
	absolute = 8 * time.Hour
)

var start = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// newManager returns a manager over a fresh SQLite store in a temp dir,
// its clock stopped at start, and the store.
func newManager(t *testing.T) (*session.Manager, *clocktest.Clock, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := clocktest.New(start)
	return &session.Manager{Store: st, Idle: idle, Absolute: absolute, Now: clock.Now}, clock, st
}

var alice = session.Who{Subject: "alice", AccountID: "acct-alice", Source: "oidc:corp", Admin: true,
	Groups: []string{"registry-admins", "dev"}}

// mustStart starts a session for who, failing the test on an error.
func mustStart(t *testing.T, m *session.Manager, who session.Who) (string, store.Session) {
	t.Helper()
	id, s, err := m.Start(context.Background(), who)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return id, s
}

// sha256Hex is the stored form of a session ID, computed here again.
func sha256Hex(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// random256 checks that s is 256 bits, base64url without padding.
func random256(t *testing.T, what, s string) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Errorf("%s %q: %d bytes, %v; want 32 bytes of base64url", what, s, len(b), err)
	}
}

// gone checks that the store no longer holds the session with that ID.
func gone(t *testing.T, st store.Store, id string) {
	t.Helper()
	if _, err := st.Session(context.Background(), sha256Hex(id)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("stored session: err = %v, want ErrNotFound", err)
	}
}

// noSession checks that err is ErrNoSession, which is store.ErrNotFound too.
func noSession(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, session.ErrNoSession) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNoSession (and store.ErrNotFound)", what, err)
	}
}

// TestStartStoresTheHashOnly: the ID is tgs_ and 256 random bits; the
// store keeps its SHA-256 and what Who said, never the ID.
func TestStartStoresTheHashOnly(t *testing.T) {
	m, _, st := newManager(t)
	ctx := context.Background()
	id, s := mustStart(t, m, alice)
	if !strings.HasPrefix(id, session.Prefix) {
		t.Fatalf("id %q lacks the prefix %q", id, session.Prefix)
	}
	random256(t, "id", strings.TrimPrefix(id, session.Prefix))
	random256(t, "CSRF token", s.CSRF)
	if s.Hash != sha256Hex(id) {
		t.Errorf("Hash = %q, want the hex SHA-256 of the ID", s.Hash)
	}
	if _, err := st.Session(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the ID itself is a stored key: err = %v", err)
	}
	stored, err := st.Session(ctx, s.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Subject != "alice" || stored.AccountID != "acct-alice" || stored.Source != "oidc:corp" || !stored.Admin ||
		!slices.Equal(stored.Groups, alice.Groups) || stored.CSRF != s.CSRF {
		t.Errorf("stored %+v, want alice's session as started (%+v)", stored, s)
	}
	if !stored.CreatedAt.Equal(start) || !stored.SeenAt.Equal(start) || !stored.ExpiresAt.Equal(start.Add(absolute)) {
		t.Errorf("times %v/%v/%v, want %v, %v and %v", stored.CreatedAt, stored.SeenAt, stored.ExpiresAt,
			start, start, start.Add(absolute))
	}
}

// TestStartIsRandom: two sessions share neither ID nor CSRF token, and a
// session does not alias the caller's groups.
func TestStartIsRandom(t *testing.T) {
	m, _, _ := newManager(t)
	who := alice
	who.Groups = slices.Clone(alice.Groups)
	id1, s1 := mustStart(t, m, who)
	id2, s2 := mustStart(t, m, who)
	if id1 == id2 || s1.CSRF == s2.CSRF || s1.CSRF == strings.TrimPrefix(id1, session.Prefix) {
		t.Errorf("ids %q, %q and CSRF tokens %q, %q: want all different", id1, id2, s1.CSRF, s2.CSRF)
	}
	who.Groups[0] = "changed"
	if s1.Groups[0] != alice.Groups[0] {
		t.Errorf("session groups follow the caller's slice: %q", s1.Groups)
	}
}

func TestStartRefuses(t *testing.T) {
	m, _, _ := newManager(t)
	if _, _, err := m.Start(context.Background(), session.Who{Source: "htpasswd"}); err == nil {
		t.Error("started a session without a subject")
	}
	for _, bad := range []session.Manager{
		{Store: m.Store, Absolute: absolute},
		{Store: m.Store, Idle: idle},
		{Store: m.Store, Idle: -idle, Absolute: absolute},
	} {
		if _, _, err := bad.Start(context.Background(), alice); err == nil {
			t.Errorf("Idle %v, Absolute %v: started a session", bad.Idle, bad.Absolute)
		}
	}
}

func TestGet(t *testing.T) {
	m, _, _ := newManager(t)
	id, want := mustStart(t, m, alice)
	got, err := m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != want.Hash || got.Subject != want.Subject || got.CSRF != want.CSRF || !got.SeenAt.Equal(start) {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
}

// TestGetUnknown: IDs never started, malformed or another session's hash
// are no session.
func TestGetUnknown(t *testing.T) {
	m, _, _ := newManager(t)
	id, s := mustStart(t, m, alice)
	for name, bad := range map[string]string{
		"empty":           "",
		"never started":   session.Prefix + strings.Repeat("A", len(id)-len(session.Prefix)),
		"the stored hash": s.Hash,
		"without prefix":  strings.TrimPrefix(id, session.Prefix),
		"another prefix":  "tgr_" + strings.TrimPrefix(id, session.Prefix),
		"longer":          id + "A",
		"the CSRF token":  session.Prefix + s.CSRF,
		"truncated":       id[:len(id)-1],
		"short":           session.Prefix + "x",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := m.Get(context.Background(), bad)
			noSession(t, "get", err)
		})
	}
}

// TestGetTouchesOncePerMinute: SeenAt is written when more than a minute
// old, not on every request.
func TestGetTouchesOncePerMinute(t *testing.T) {
	m, clock, st := newManager(t)
	ctx := context.Background()
	id, s := mustStart(t, m, alice)
	seen := func() time.Time {
		t.Helper()
		stored, err := st.Session(ctx, s.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return stored.SeenAt
	}
	for _, step := range []struct {
		advance    time.Duration
		storedSeen time.Time
	}{
		{30 * time.Second, start},                       // fresh: no write
		{30 * time.Second, start},                       // exactly a minute: no write yet
		{time.Second, start.Add(61 * time.Second)},      // more than a minute: written
		{59 * time.Second, start.Add(61 * time.Second)}, // fresh again
		{20 * time.Minute, start.Add(22 * time.Minute)}, // written
	} {
		clock.Advance(step.advance)
		got, err := m.Get(ctx, id)
		if err != nil {
			t.Fatalf("at %v: %v", clock.Now(), err)
		}
		if !got.SeenAt.Equal(step.storedSeen) {
			t.Errorf("at %v: returned SeenAt %v, want %v", clock.Now(), got.SeenAt, step.storedSeen)
		}
		if stored := seen(); !stored.Equal(step.storedSeen) {
			t.Errorf("at %v: stored SeenAt %v, want %v", clock.Now(), stored, step.storedSeen)
		}
	}
}

// TestIdleTimeout: a session unused for longer than Idle ends, and is
// deleted as it is found; one used in time lives on.
func TestIdleTimeout(t *testing.T) {
	m, clock, st := newManager(t)
	ctx := context.Background()
	id, _ := mustStart(t, m, alice)
	clock.Advance(idle) // on the boundary: still live
	if _, err := m.Get(ctx, id); err != nil {
		t.Fatalf("after exactly the idle timeout: %v", err)
	}
	clock.Advance(idle) // touched just now, so live again
	if _, err := m.Get(ctx, id); err != nil {
		t.Fatalf("used within the idle timeout: %v", err)
	}
	clock.Advance(idle + time.Nanosecond)
	_, err := m.Get(ctx, id)
	noSession(t, "after the idle timeout", err)
	gone(t, st, id)
}

// TestAbsoluteTimeout: a session used all the time still ends Absolute
// after it started, and is deleted as it is found.
func TestAbsoluteTimeout(t *testing.T) {
	m, clock, st := newManager(t)
	ctx := context.Background()
	id, _ := mustStart(t, m, alice)
	for clock.Now().Before(start.Add(absolute - 10*time.Minute)) {
		clock.Advance(10 * time.Minute)
		if _, err := m.Get(ctx, id); err != nil {
			t.Fatalf("at %v, before the absolute timeout: %v", clock.Now(), err)
		}
	}
	clock.Set(start.Add(absolute))
	_, err := m.Get(ctx, id)
	noSession(t, "at the absolute timeout", err)
	gone(t, st, id)
}

func TestEnd(t *testing.T) {
	m, _, st := newManager(t)
	ctx := context.Background()
	id, _ := mustStart(t, m, alice)
	other, _ := mustStart(t, m, alice)
	if err := m.End(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err := m.Get(ctx, id)
	noSession(t, "after End", err)
	gone(t, st, id)
	if _, err := m.Get(ctx, other); err != nil {
		t.Errorf("alice's other session: %v", err)
	}
	for _, again := range []string{id, "", "junk"} {
		if err := m.End(ctx, again); err != nil {
			t.Errorf("End(%q) = %v, want nil", again, err)
		}
	}
}

func TestEndAll(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := context.Background()
	a1, _ := mustStart(t, m, alice)
	a2, _ := mustStart(t, m, alice)
	b, _ := mustStart(t, m, session.Who{Subject: "bob", Source: "htpasswd"})
	if n, err := m.EndAll(ctx, "alice"); err != nil || n != 2 {
		t.Fatalf("EndAll(alice) = %d, %v; want 2, nil", n, err)
	}
	for _, id := range []string{a1, a2} {
		_, err := m.Get(ctx, id)
		noSession(t, "alice's session after EndAll", err)
	}
	if _, err := m.Get(ctx, b); err != nil {
		t.Errorf("bob's session: %v", err)
	}
}

// TestPurge: the purge deletes the sessions past either timeout, by the
// rule Get applies.
func TestPurge(t *testing.T) {
	m, clock, st := newManager(t)
	ctx := context.Background()
	old, _ := mustStart(t, m, alice) // absolute timeout first
	clock.Advance(absolute - idle/2)
	idleID, _ := mustStart(t, m, alice) // will be idle
	used, _ := mustStart(t, m, alice)   // used in time
	clock.Advance(idle / 2)
	if _, err := m.Get(ctx, used); err != nil {
		t.Fatal(err)
	}
	clock.Advance(idle/2 + time.Second)
	if n, err := m.Purge(ctx); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2, nil", n, err)
	}
	gone(t, st, old)
	gone(t, st, idleID)
	if _, err := st.Session(ctx, sha256Hex(used)); err != nil {
		t.Errorf("used session: %v", err)
	}
}

func TestCheckCSRF(t *testing.T) {
	m, _, _ := newManager(t)
	_, s := mustStart(t, m, alice)
	_, other := mustStart(t, m, alice)
	for _, tc := range []struct {
		name  string
		s     store.Session
		token string
		want  bool
	}{
		{"its token", s, s.CSRF, true},
		{"another session's token", s, other.CSRF, false},
		{"empty", s, "", false},
		{"a prefix", s, s.CSRF[:20], false},
		{"longer", s, s.CSRF + "A", false},
		{"the session's hash", s, s.Hash, false},
		{"a session without a token", store.Session{}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := session.CheckCSRF(tc.s, tc.token); got != tc.want {
				t.Errorf("CheckCSRF = %v, want %v", got, tc.want)
			}
		})
	}
}

// failing is a store that cannot answer.
type failing struct{ store.Sessions }

var errDown = fmt.Errorf("sqlite: %w", store.ErrUnavailable)

func (failing) Session(context.Context, string) (store.Session, error) {
	return store.Session{}, errDown
}
func (failing) CreateSession(context.Context, store.Session) error { return errDown }

// TestStoreFailureIsNoAnswer: a store that cannot answer is an error that
// says so, never ErrNoSession (which would sign the user out).
func TestStoreFailureIsNoAnswer(t *testing.T) {
	m := &session.Manager{Store: failing{}, Idle: idle, Absolute: absolute}
	id, _ := mustStart(t, &session.Manager{Store: okStore{}, Idle: idle, Absolute: absolute}, alice)
	_, err := m.Get(context.Background(), id)
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, session.ErrNoSession) {
		t.Errorf("Get on a failing store: err = %v, want ErrUnavailable and not ErrNoSession", err)
	}
	if _, _, err := m.Start(context.Background(), alice); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Start on a failing store: err = %v, want ErrUnavailable", err)
	}
}

// okStore accepts every session and keeps none.
type okStore struct{ store.Sessions }

func (okStore) CreateSession(context.Context, store.Session) error { return nil }
