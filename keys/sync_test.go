package keys_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// clock is a settable time source shared by the replicas of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncPolicy is short enough that a test lives through several rotations
// while every certificate stays valid in real time (they start an hour
// before the fake now, and the fake clock moves less than an hour).
var syncPolicy = keys.Policy{Interval: 8 * time.Minute, Prepublish: time.Minute, MaxTokenLifetime: 2 * time.Minute, Algorithm: "ES256"}

func newReplicas(t *testing.T, n int, c *clock, ca bool) ([]*keys.Syncer, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ring.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := keys.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	replicas := make([]*keys.Syncer, n)
	for i := range replicas {
		replicas[i] = &keys.Syncer{Store: st, Sealer: sealer, Policy: syncPolicy, Holder: &keys.Holder{}, CA: ca, Now: c.Now}
	}
	return replicas, st
}

// syncAll runs Sync on every replica at once, as their schedules would.
func syncAll(t *testing.T, replicas []*keys.Syncer) {
	t.Helper()
	errs := make(chan error, len(replicas))
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Go(func() { errs <- r.Sync(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
}

func TestReplicasCreateOneRingAndAgree(t *testing.T) {
	c := &clock{now: time.Now()}
	replicas, st := newReplicas(t, 4, c, true)
	syncAll(t, replicas)
	rec, err := st.KeyRing(context.Background())
	if err != nil || rec.Version != 1 {
		t.Fatalf("stored ring version = %d, %v; want exactly one creation (1)", rec.Version, err)
	}
	kid := replicas[0].Holder.Load().Active().ID()
	for i, r := range replicas {
		if got := r.Holder.Load().Active().ID(); got != kid {
			t.Errorf("replica %d signs with %s, replica 0 with %s", i, got, kid)
		}
	}
}

func TestManualRotateOnOneReplicaReachesTheOthers(t *testing.T) {
	c := &clock{now: time.Now()}
	replicas, _ := newReplicas(t, 2, c, false)
	syncAll(t, replicas)
	first := replicas[0].Holder.Load().Active().ID()
	if err := replicas[0].Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	syncAll(t, replicas)
	if got := replicas[1].Holder.Load(); len(got.Entries()) != 2 || got.Active().ID() != first {
		t.Fatalf("after a manual rotation: %d keys, active %s; want the new key published, %s still active",
			len(got.Entries()), got.Active().ID(), first)
	}
	c.advance(syncPolicy.Prepublish)
	syncAll(t, replicas)
	for i, r := range replicas {
		if r.Holder.Load().Active().ID() == first {
			t.Errorf("replica %d still signs with the old key after the pre-publication delay", i)
		}
	}
}

func TestSyncKeepsTheLoadedRingWhenTheStoreFails(t *testing.T) {
	c := &clock{now: time.Now()}
	replicas, st := newReplicas(t, 1, c, false)
	syncAll(t, replicas)
	kid := replicas[0].Holder.Load().Active().ID()
	st.Close()
	if err := replicas[0].Sync(context.Background()); err == nil {
		t.Fatal("Sync on a closed store reported no error")
	}
	if got := replicas[0].Holder.Load(); got == nil || got.Active().ID() != kid {
		t.Fatal("a failed sync dropped the ring in use")
	}
}
