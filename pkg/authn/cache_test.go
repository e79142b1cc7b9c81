package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBackend knows users by plain-text password and counts its calls. With
// release set, each call first reports on entered and then waits for release
// (or for its context to end).
type fakeBackend struct {
	mu      sync.Mutex
	users   map[string]Secret
	version atomic.Uint64
	calls   atomic.Int64
	fail    error // returned by every call when set
	entered chan struct{}
	release chan struct{}
}

func newFake(users map[string]Secret) *fakeBackend {
	return &fakeBackend{users: users}
}

func (f *fakeBackend) Authenticate(ctx context.Context, username string, secret Secret) (Identity, error) {
	f.calls.Add(1)
	if f.release != nil {
		f.entered <- struct{}{}
		select {
		case <-f.release:
		case <-ctx.Done():
			return Identity{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want, ok := f.users[username]
	switch {
	case f.fail != nil:
		return Identity{}, f.fail
	case !ok:
		return Identity{}, fmt.Errorf("fake: user %q: %w", username, ErrNoSuchUser)
	case want != secret:
		return Identity{}, fmt.Errorf("fake: user %q: %w", username, ErrBadCredentials)
	}
	return Identity{Name: username, Source: "fake"}, nil
}

func (f *fakeBackend) Version() uint64 { return f.version.Load() }

func (f *fakeBackend) setUser(name string, secret Secret, present bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if present {
		f.users[name] = secret
	} else {
		delete(f.users, name)
	}
	f.version.Add(1)
}

// fakeClock is a settable clock.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

func newTestCache(inner Authenticator, ttl time.Duration, max int) (*Cache, *fakeClock) {
	clock := &fakeClock{}
	clock.t.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c := NewCache(inner, ttl, max)
	c.now = clock.now
	return c, clock
}

func auth(t *testing.T, c Authenticator, user string, secret Secret) error {
	t.Helper()
	id, err := c.Authenticate(context.Background(), user, secret)
	if err == nil && id.Name != user {
		t.Fatalf("identity %q, want %q", id.Name, user)
	}
	return err
}

func TestCache(t *testing.T) {
	const ttl = time.Minute
	type step struct {
		do        func(f *fakeBackend, clock *fakeClock) // optional, before the request
		user      string
		secret    Secret
		wantErr   error
		wantCalls int64 // inner calls so far, after this step
	}
	tests := []struct {
		name  string
		ttl   time.Duration
		steps []step
	}{
		{"hit avoids inner", ttl, []step{
			{user: "alice", secret: "right", wantCalls: 1},
			{user: "alice", secret: "right", wantCalls: 1},
			{user: "alice", secret: "right", wantCalls: 1},
		}},
		{"cached right password does not let a wrong one in", ttl, []step{
			{user: "alice", secret: "right", wantCalls: 1},
			{user: "alice", secret: "wrong", wantErr: ErrBadCredentials, wantCalls: 2},
			{user: "alice", secret: "", wantErr: ErrBadCredentials, wantCalls: 3},
			{user: "alice", secret: "right", wantCalls: 3},
		}},
		{"failures are not cached", ttl, []step{
			{user: "alice", secret: "wrong", wantErr: ErrBadCredentials, wantCalls: 1},
			{user: "alice", secret: "wrong", wantErr: ErrBadCredentials, wantCalls: 2},
			{user: "nobody", secret: "x", wantErr: ErrNoSuchUser, wantCalls: 3},
			{user: "nobody", secret: "x", wantErr: ErrNoSuchUser, wantCalls: 4},
		}},
		{"user name is part of the key", ttl, []step{
			{user: "alice", secret: "right", wantCalls: 1},
			{user: "bob", secret: "right", wantErr: ErrBadCredentials, wantCalls: 2},
		}},
		{"expiry", ttl, []step{
			{user: "alice", secret: "right", wantCalls: 1},
			{do: func(_ *fakeBackend, c *fakeClock) { c.advance(ttl - time.Nanosecond) }, user: "alice", secret: "right", wantCalls: 1},
			{do: func(_ *fakeBackend, c *fakeClock) { c.advance(time.Nanosecond) }, user: "alice", secret: "right", wantCalls: 2},
			{user: "alice", secret: "right", wantCalls: 2},
		}},
		{"password change invalidates", ttl, []step{
			{user: "alice", secret: "right", wantCalls: 1},
			{do: func(f *fakeBackend, _ *fakeClock) { f.setUser("alice", "new", true) }, user: "alice", secret: "right", wantErr: ErrBadCredentials, wantCalls: 2},
			{user: "alice", secret: "new", wantCalls: 3},
			{user: "alice", secret: "new", wantCalls: 3},
		}},
		{"removed user invalidates", ttl, []step{
			{user: "alice", secret: "right", wantCalls: 1},
			{do: func(f *fakeBackend, _ *fakeClock) { f.setUser("alice", "", false) }, user: "alice", secret: "right", wantErr: ErrNoSuchUser, wantCalls: 2},
		}},
		{"ttl zero passes through", 0, []step{
			{user: "alice", secret: "right", wantCalls: 1},
			{user: "alice", secret: "right", wantCalls: 2},
		}},
		{"NUL in user name skips the cache", ttl, []step{
			{do: func(f *fakeBackend, _ *fakeClock) { f.setUser("a\x00b", "c", true) }, user: "a\x00b", secret: "c", wantCalls: 1},
			{user: "a\x00b", secret: "c", wantCalls: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(map[string]Secret{"alice": "right", "bob": "other"})
			c, clock := newTestCache(f, tt.ttl, 10)
			for i, s := range tt.steps {
				if s.do != nil {
					s.do(f, clock)
				}
				err := auth(t, c, s.user, s.secret)
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
					t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
				}
				if got := f.calls.Load(); got != s.wantCalls {
					t.Fatalf("step %d: inner calls = %d, want %d", i, got, s.wantCalls)
				}
			}
		})
	}
}

func TestCacheBounded(t *testing.T) {
	const max = 3
	users := map[string]Secret{}
	for i := range 10 {
		users[fmt.Sprint("user", i)] = "pw"
	}
	f := newFake(users)
	c, clock := newTestCache(f, time.Minute, max)
	for i := range 10 {
		clock.advance(time.Second)
		if err := auth(t, c, fmt.Sprint("user", i), "pw"); err != nil {
			t.Fatal(err)
		}
		if n, m := len(c.entries), c.order.Len(); n > max || n != m {
			t.Fatalf("after %d inserts: %d entries, %d in order; want at most %d", i+1, n, m, max)
		}
	}
	calls := f.calls.Load()
	_ = auth(t, c, "user9", "pw") // newest: still cached
	if f.calls.Load() != calls {
		t.Errorf("newest entry was evicted")
	}
	_ = auth(t, c, "user0", "pw") // oldest: evicted
	if f.calls.Load() != calls+1 {
		t.Errorf("oldest entry was kept")
	}
}

func TestCacheEvictsExpiredFirst(t *testing.T) {
	f := newFake(map[string]Secret{"a": "pw", "b": "pw", "c": "pw"})
	c, clock := newTestCache(f, time.Minute, 10)
	_ = auth(t, c, "a", "pw")
	_ = auth(t, c, "b", "pw")
	clock.advance(2 * time.Minute)
	_ = auth(t, c, "c", "pw")
	if n := len(c.entries); n != 1 {
		t.Fatalf("%d entries after inserting past two expired ones, want 1", n)
	}
}

// startBlocked starts Authenticate in a goroutine and returns its result channel.
func startBlocked(ctx context.Context, c *Cache, user string, secret Secret) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Authenticate(ctx, user, secret)
		done <- err
	}()
	return done
}

// mustEnter waits for a call into f, failing the test after a few seconds.
func mustEnter(t *testing.T, f *fakeBackend) {
	t.Helper()
	select {
	case <-f.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a call into the backend")
	}
}

// result waits for an Authenticate started by startBlocked.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for Authenticate to return")
		return nil
	}
}

func blockingFake() *fakeBackend {
	f := newFake(map[string]Secret{"alice": "right"})
	f.entered = make(chan struct{}, 100)
	f.release = make(chan struct{})
	return f
}

// waitFor polls cond until it holds or a few seconds have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *Cache) waitersFor(user string, secret Secret) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.flights[flightKey{key: c.keyFor(user, secret), version: c.Version()}]
	if !ok {
		return -1
	}
	return f.waiters
}

func TestCacheCollapsesIdenticalColdRequests(t *testing.T) {
	const n = 20
	f := blockingFake()
	c, _ := newTestCache(f, time.Minute, 10)
	var results []<-chan error
	for range n {
		results = append(results, startBlocked(context.Background(), c, "alice", "right"))
	}
	mustEnter(t, f)
	waitFor(t, "all callers to join the flight", func() bool { return c.waitersFor("alice", "right") == n-1 })
	close(f.release)
	for _, r := range results {
		if err := result(t, r); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("inner calls = %d, want 1", got)
	}
}

func TestCacheDoesNotCollapseDifferentSecrets(t *testing.T) {
	f := blockingFake()
	c, _ := newTestCache(f, time.Minute, 10)
	right := startBlocked(context.Background(), c, "alice", "right")
	wrong := startBlocked(context.Background(), c, "alice", "wrong")
	mustEnter(t, f)
	mustEnter(t, f) // a second call into inner: the two were not collapsed
	close(f.release)
	if err := result(t, right); err != nil {
		t.Errorf("right secret: %v", err)
	}
	if err := result(t, wrong); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("wrong secret: err = %v, want ErrBadCredentials", err)
	}
}

func TestCacheWaiterSurvivesLeaderCancel(t *testing.T) {
	f := blockingFake()
	c, _ := newTestCache(f, time.Minute, 10)
	leaderCtx, cancel := context.WithCancel(context.Background())
	leader := startBlocked(leaderCtx, c, "alice", "right")
	mustEnter(t, f)
	waiter := startBlocked(context.Background(), c, "alice", "right")
	waitFor(t, "the waiter to join", func() bool { return c.waitersFor("alice", "right") == 1 })
	cancel()
	if err := result(t, leader); !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: err = %v, want context.Canceled", err)
	}
	mustEnter(t, f) // the waiter retried and now leads
	close(f.release)
	if err := result(t, waiter); err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

func TestCacheWaiterOwnCancel(t *testing.T) {
	f := blockingFake()
	c, _ := newTestCache(f, time.Minute, 10)
	leader := startBlocked(context.Background(), c, "alice", "right")
	mustEnter(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	waiter := startBlocked(ctx, c, "alice", "right")
	waitFor(t, "the waiter to join", func() bool { return c.waitersFor("alice", "right") == 1 })
	cancel()
	if err := result(t, waiter); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter: err = %v, want context.Canceled", err)
	}
	close(f.release)
	if err := result(t, leader); err != nil {
		t.Fatalf("leader: %v", err)
	}
}

type panicky struct{}

func (panicky) Authenticate(context.Context, string, Secret) (Identity, error) { panic("boom") }

func TestCachePanickingInnerLeavesNoFlight(t *testing.T) {
	c, _ := newTestCache(panicky{}, time.Minute, 10)
	func() {
		defer func() { _ = recover() }()
		_, _ = c.Authenticate(context.Background(), "alice", "right")
	}()
	if len(c.flights) != 0 || len(c.entries) != 0 {
		t.Fatalf("flights %d, entries %d after a panic; want none", len(c.flights), len(c.entries))
	}
}

func TestCacheErrorsHideSecret(t *testing.T) {
	const secret = "s3cr3t-Pa55word"
	tests := []struct {
		name string
		user string
		fail error
		ctx  func() context.Context
	}{
		{"wrong password", "alice", nil, context.Background},
		{"unknown user", "mallory", nil, context.Background},
		{"internal error", "alice", errors.New("db down"), context.Background},
		{"cancelled", "alice", nil, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(map[string]Secret{"alice": "other"})
			f.fail = tt.fail
			var chain Authenticator = Chain{NewCache(f, time.Minute, 10)}
			_, err := chain.Authenticate(tt.ctx(), tt.user, secret)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err)} {
				if strings.Contains(s, secret) {
					t.Fatalf("error shows the secret: %s", s)
				}
			}
		})
	}
}

func TestCacheForwards(t *testing.T) {
	f := newFake(map[string]Secret{})
	f.version.Store(41)
	c := NewCache(f, time.Minute, 10)
	if got := c.Version(); got != 41 {
		t.Errorf("Version = %d, want 41", got)
	}
	if _, err := c.Exists(context.Background(), "alice"); !errors.Is(err, ErrLookupUnsupported) {
		t.Errorf("Exists over a non-Lookup: err = %v, want ErrLookupUnsupported", err)
	}
	withLookup := NewCache(Chain{lookupFake{}}, time.Minute, 10)
	if ok, err := withLookup.Exists(context.Background(), "alice"); !ok || err != nil {
		t.Errorf("Exists = %v, %v; want true, nil", ok, err)
	}
}

type lookupFake struct{}

func (lookupFake) Authenticate(context.Context, string, Secret) (Identity, error) {
	return Identity{}, ErrNoSuchUser
}
func (lookupFake) Exists(_ context.Context, name string) (bool, error) { return name == "alice", nil }
