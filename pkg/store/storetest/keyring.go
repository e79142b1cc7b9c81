package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// sameRing compares every field: data byte for byte, the time exactly and
// in UTC.
func sameRing(t *testing.T, what string, got, want store.KeyRing) {
	t.Helper()
	if got.Version != want.Version {
		t.Errorf("%s: version %d, want %d", what, got.Version, want.Version)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("%s: data (%d bytes) differs from the %d bytes stored", what, len(got.Data), len(want.Data))
	}
	sameTime(t, what+" UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func mustRing(t *testing.T, s store.Store) store.KeyRing {
	t.Helper()
	r, err := s.KeyRing(context.Background())
	if err != nil {
		t.Fatalf("get key ring: %v", err)
	}
	return r
}

// mustSwap swaps and checks the returned record and what is then stored.
func mustSwap(t *testing.T, s store.Store, old int64, data []byte, at time.Time) store.KeyRing {
	t.Helper()
	got, err := s.SwapKeyRing(context.Background(), old, data, at)
	if err != nil {
		t.Fatalf("swap from version %d: %v", old, err)
	}
	want := store.KeyRing{Version: old + 1, Data: data, UpdatedAt: at}
	sameRing(t, fmt.Sprintf("swap %d→%d returned", old, old+1), got, want)
	sameRing(t, fmt.Sprintf("stored after swap %d→%d", old, old+1), mustRing(t, s), want)
	return got
}

func ringNotFound(t *testing.T, s store.Store) {
	if r, err := s.KeyRing(context.Background()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get on an empty store = %+v, %v; want ErrNotFound", r, err)
	}
}

// ringSwapWithoutRing: only version 0 creates; any other old version finds
// nothing to swap and creates nothing.
func ringSwapWithoutRing(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, old := range []int64{1, 2, -1} {
		if _, err := s.SwapKeyRing(ctx, old, []byte("ring"), nonUTC); !errors.Is(err, store.ErrConflict) {
			t.Errorf("swap from %d with none stored: err = %v, want ErrConflict", old, err)
		}
	}
	if _, err := s.KeyRing(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after failed swaps: err = %v, want ErrNotFound", err)
	}
}

func ringFirstCreate(t *testing.T, s store.Store) {
	r := mustSwap(t, s, 0, []byte(`{"keys":["k1"]}`), nonUTC)
	if r.Version != 1 {
		t.Errorf("first version = %d, want 1", r.Version)
	}
}

func ringSwap(t *testing.T, s store.Store) {
	mustSwap(t, s, 0, []byte("ring one"), nonUTC)
	r := mustSwap(t, s, 1, []byte("ring two"), nonUTC.Add(24*time.Hour+time.Nanosecond))
	if r.Version != 2 {
		t.Errorf("version after one swap = %d, want 2", r.Version)
	}
	// Versions go up by one each time.
	for v := int64(2); v < 6; v++ {
		mustSwap(t, s, v, fmt.Appendf(nil, "ring %d", v+1), nonUTC.Add(time.Duration(v)*time.Hour))
	}
}

// ringStale: any version but the stored one is refused and changes nothing.
func ringStale(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustSwap(t, s, 0, []byte("ring one"), nonUTC)
	want := mustSwap(t, s, 1, []byte("ring two"), nonUTC.Add(time.Hour))
	for _, old := range []int64{1, 0, 3, -1} {
		r, err := s.SwapKeyRing(ctx, old, []byte("stale"), nonUTC.Add(2*time.Hour))
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("swap from %d (stored 2): %+v, err = %v; want ErrConflict", old, r, err)
		}
		sameRing(t, fmt.Sprintf("stored after refused swap from %d", old), mustRing(t, s), want)
	}
}

// ringDataRoundTrip: the store keeps the bytes exactly, whatever they are.
func ringDataRoundTrip(t *testing.T, s store.Store) {
	random := make([]byte, 64<<10)
	rand.Read(random)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"zero bytes", []byte{0, 0, 'k', 0, 0xff, 0}},
		{"64 KiB random", random},
		{"every byte value", all},
		{"invalid UTF-8", []byte{0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0xbc}},
		{"empty", []byte{}},
		{"nil", nil},
		{"text with quotes", []byte(`'; DROP TABLE key_ring; --"\`)},
	}
	for i, tc := range cases {
		r := mustSwap(t, s, int64(i), tc.data, nonUTC.Add(time.Duration(i)*time.Second))
		if len(tc.data) == 0 && len(r.Data) != 0 {
			t.Errorf("%s: got %d bytes back", tc.name, len(r.Data))
		}
	}
}

// ringConcurrentSwaps is "exactly one replica rotates": in every round,
// N callers that all read the same version swap at once; exactly one wins,
// every other gets ErrConflict, and the winner's ring is what is stored.
func ringConcurrentSwaps(t *testing.T, s store.Store) {
	mustSwap(t, s, 0, []byte("ring 1"), nonUTC)
	for round := int64(1); round <= 5; round++ {
		winner := raceSwaps(t, s, round)
		if winner == nil {
			return
		}
		if winner.Version != round+1 {
			t.Fatalf("round %d: winner's version = %d, want %d", round, winner.Version, round+1)
		}
		sameRing(t, fmt.Sprintf("round %d: stored", round), mustRing(t, s), *winner)
	}
}

// ringConcurrentFirstCreates: replicas starting on an empty store all try
// to create the first ring; exactly one does.
func ringConcurrentFirstCreates(t *testing.T, s store.Store) {
	winner := raceSwaps(t, s, 0)
	if winner == nil {
		return
	}
	if winner.Version != 1 {
		t.Fatalf("winner's version = %d, want 1", winner.Version)
	}
	sameRing(t, "stored", mustRing(t, s), *winner)
}

// raceSwaps has racers swap from version old at once, each with its own
// data, and returns the one winner's record (nil after reporting a failure).
func raceSwaps(t *testing.T, s store.Store, old int64) *store.KeyRing {
	t.Helper()
	const racers = 16
	results := make([]store.KeyRing, racers)
	errs := concurrently(racers, 1, func(w, _ int) (err error) {
		data := fmt.Appendf(nil, "round %d racer %d", old, w)
		results[w], err = s.SwapKeyRing(context.Background(), old, data, nonUTC.Add(time.Duration(w)*time.Second))
		return err
	})
	var won []int
	for i, err := range errs {
		switch {
		case err == nil:
			won = append(won, i)
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("from %d: racer %d: err = %v, want nil or ErrConflict", old, i, err)
		}
	}
	if len(won) != 1 {
		t.Errorf("from %d: %d racers won (%v), want exactly 1", old, len(won), won)
		return nil
	}
	w := won[0]
	sameRing(t, fmt.Sprintf("from %d: winner %d", old, w), results[w], store.KeyRing{
		Version: old + 1, Data: fmt.Appendf(nil, "round %d racer %d", old, w), UpdatedAt: nonUTC.Add(time.Duration(w) * time.Second),
	})
	return &results[w]
}
