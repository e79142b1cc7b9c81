package keys_test

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/clocktest"
)

func TestReplicasCreateOneRingAndAgree(t *testing.T) {
	c := clocktest.New(time.Now())
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
	c := clocktest.New(time.Now())
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
	c.Advance(syncPolicy.Prepublish)
	syncAll(t, replicas)
	for i, r := range replicas {
		if r.Holder.Load().Active().ID() == first {
			t.Errorf("replica %d still signs with the old key after the pre-publication delay", i)
		}
	}
}

func TestSyncKeepsTheLoadedRingWhenTheStoreFails(t *testing.T) {
	c := clocktest.New(time.Now())
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
