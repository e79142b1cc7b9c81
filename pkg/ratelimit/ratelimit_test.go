package ratelimit

import (
	"fmt"
	"github.com/tollgate/tollgate/pkg/clocktest"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func wantAllowed(t *testing.T, k *Keyed, key string) {
	t.Helper()
	if ok, wait := k.Allow(key); !ok {
		t.Fatalf("Allow(%q) = false (retry after %v), want true", key, wait)
	}
}

func wantRefused(t *testing.T, k *Keyed, key string, wantWait time.Duration) {
	t.Helper()
	ok, wait := k.Allow(key)
	if ok {
		t.Fatalf("Allow(%q) = true, want false", key)
	}
	if wait != wantWait {
		t.Fatalf("Allow(%q) retry after %v, want %v", key, wait, wantWait)
	}
}

func TestKeyedSpendsOnlyFailures(t *testing.T) {
	c := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	k := New(Budget{PerMinute: 6, Burst: 3}, 100, c.Now) // a token every 10s
	for range 10 {
		wantAllowed(t, k, "alice") // checking spends nothing
	}
	for i := range 3 {
		wantAllowed(t, k, "alice")
		k.Fail("alice")
		if i < 2 {
			wantAllowed(t, k, "alice")
		}
	}
	wantRefused(t, k, "alice", 10*time.Second)
	wantAllowed(t, k, "bob") // budgets are per key

	c.Advance(4 * time.Second)
	wantRefused(t, k, "alice", 6*time.Second)
	c.Advance(6 * time.Second)
	wantAllowed(t, k, "alice") // one token back
	k.Fail("alice")
	wantRefused(t, k, "alice", 10*time.Second)
}

// A burst of concurrent attempts all admitted while one token was left is
// charged in full: the bucket goes into debt.
func TestKeyedDebt(t *testing.T) {
	c := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	k := New(Budget{PerMinute: 60, Burst: 5}, 100, c.Now) // a token a second
	for range 25 {
		k.Fail("alice")
	}
	wantRefused(t, k, "alice", 21*time.Second) // from -20 to 1
	c.Advance(20 * time.Second)
	wantRefused(t, k, "alice", time.Second)
	c.Advance(time.Second)
	wantAllowed(t, k, "alice")
}

func TestKeyedDisabled(t *testing.T) {
	for _, b := range []Budget{{}, {PerMinute: 10}, {Burst: 10}} {
		k := New(b, 100, nil)
		for range 100 {
			k.Fail("alice")
		}
		wantAllowed(t, k, "alice")
		if n := k.Len(); n != 0 {
			t.Errorf("%+v: Len = %d, want 0", b, n)
		}
	}
}

// Rotating keys cannot grow the map beyond its bound; the least recently
// failed keys go first, so a key under attack right now stays limited.
func TestKeyedBounded(t *testing.T) {
	c := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	k := New(Budget{PerMinute: 1, Burst: 2}, 50, c.Now)
	for i := range 1000 {
		k.Fail(fmt.Sprintf("user%d", i))
		k.Fail(fmt.Sprintf("user%d", i))
		k.Fail("alice")
		if n := k.Len(); n > 50 {
			t.Fatalf("after %d keys Len = %d, want at most 50", i+1, n)
		}
	}
	wantRefused(t, k, "alice", 999*time.Minute) // 1000 failures: from -998 up to 1
	wantRefused(t, k, "user999", time.Minute)
	wantAllowed(t, k, "user0") // forgotten: a fresh, full bucket
}

// Keys whose bucket has refilled are forgotten at the next sweep.
func TestKeyedSweepsRefilled(t *testing.T) {
	c := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	k := New(Budget{PerMinute: 60, Burst: 2}, 100, c.Now)
	k.Fail("alice")
	k.Fail("alice")
	k.Fail("bob")
	k.Fail("carol")
	c.Advance(sweepEvery)
	k.Fail("alice") // alice refilled and spent again: kept; bob and carol go
	if n := k.Len(); n != 1 {
		t.Fatalf("Len = %d after the sweep, want 1 (alice)", n)
	}
	if ok, _ := k.Allow("alice"); !ok {
		t.Error("alice holds one token, want allowed")
	}
	k.Fail("alice")
	wantRefused(t, k, "alice", time.Second)
}

func TestKeyedConcurrent(t *testing.T) {
	k := New(Budget{PerMinute: 1, Burst: 10}, 64, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				key := fmt.Sprintf("k%d", (g*500+i)%100)
				k.Allow(key)
				k.Fail(key)
			}
		})
	}
	wg.Wait()
	if n := k.Len(); n > 64 {
		t.Errorf("Len = %d, want at most 64", n)
	}
}

func TestAddrKey(t *testing.T) {
	tests := []struct {
		addr netip.Addr
		want string
	}{
		{netip.MustParseAddr("192.0.2.7"), "192.0.2.7"},
		{netip.MustParseAddr("::ffff:192.0.2.7"), "192.0.2.7"},
		{netip.MustParseAddr("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64"},
		{netip.MustParseAddr("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64"},
		{netip.Addr{}, "unknown"},
	}
	for _, tt := range tests {
		if got := AddrKey(tt.addr); got != tt.want {
			t.Errorf("AddrKey(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
