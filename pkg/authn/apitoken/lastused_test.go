package apitoken_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
)

// TestLastUsedBatched: authentications write nothing; Flush writes one
// batch with the latest time of each token, and nothing when idle.
func TestLastUsedBatched(t *testing.T) {
	f := newFixture()
	alice, aliceRec := f.create(t, "alice", "read", 0)
	bob, bobRec := f.create(t, "bob", "write", 0)
	ctx := context.Background()

	const n = 50
	for i := range n {
		f.clock.Advance(time.Second)
		if _, err := f.tokens.Authenticate(ctx, "token", authn.Secret(alice)); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			if _, err := f.tokens.Authenticate(ctx, "bob", authn.Secret(bob)); err != nil {
				t.Fatal(err)
			}
		}
	}
	bobUsed := f.clock.Now().Add(-(n/2 - 1) * time.Second)
	if got := f.store.touchBatches(); len(got) != 0 {
		t.Fatalf("%d store writes before Flush, want 0", len(got))
	}
	if err := f.tokens.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	batches := f.store.touchBatches()
	if len(batches) != 1 {
		t.Fatalf("%d TouchAPITokens calls after Flush, want exactly 1", len(batches))
	}
	if got := batches[0]; len(got) != 2 || !got[aliceRec.Hash].Equal(f.clock.Now()) || !got[bobRec.Hash].Equal(bobUsed) {
		t.Errorf("batch = %v, want alice at %v and bob at %v", got, f.clock.Now(), bobUsed)
	}
	if got := f.store.get(aliceRec.Hash).LastUsedAt; !got.Equal(f.clock.Now()) {
		t.Errorf("stored last use %v, want %v", got, f.clock.Now())
	}

	// Nothing new: no write at all.
	if err := f.tokens.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(f.store.touchBatches()); got != 1 {
		t.Errorf("an idle Flush wrote: %d calls, want still 1", got)
	}
}

// TestLastUsedFailedFlushRetries: a failed write keeps the times (and the
// newer of two) for the next Flush.
func TestLastUsedFailedFlushRetries(t *testing.T) {
	f := newFixture()
	raw, rec := f.create(t, "alice", "read", 0)
	ctx := context.Background()
	if _, err := f.tokens.Authenticate(ctx, "token", authn.Secret(raw)); err != nil {
		t.Fatal(err)
	}
	f.store.setFail(errBoom)
	if err := f.tokens.Flush(ctx); !errors.Is(err, errBoom) {
		t.Fatalf("Flush = %v, want the store's error", err)
	}
	f.store.setFail(nil)
	f.clock.Advance(time.Minute)
	if _, err := f.tokens.Authenticate(ctx, "token", authn.Secret(raw)); err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	batches := f.store.touchBatches()
	if len(batches) != 2 || !batches[1][rec.Hash].Equal(f.clock.Now()) {
		t.Errorf("batches = %v, want a retry with the latest time %v", batches, f.clock.Now())
	}
}

// TestLastUsedFailuresAreNotRecorded: refused tokens are not touched.
func TestLastUsedFailuresAreNotRecorded(t *testing.T) {
	f := newFixture()
	raw, _ := f.create(t, "alice", "read", 0)
	ctx := context.Background()
	if _, err := f.tokens.Authenticate(ctx, "bob", authn.Secret(raw)); !errors.Is(err, authn.ErrBadCredentials) {
		t.Fatal(err)
	}
	if err := f.tokens.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.store.touchBatches(); len(got) != 0 {
		t.Errorf("a refused use was recorded: %v", got)
	}
}

// TestRunFlushesPeriodically: Run writes without being asked.
func TestRunFlushesPeriodically(t *testing.T) {
	f := newFixture()
	f.tokens.FlushEvery = 10 * time.Millisecond
	raw, _ := f.create(t, "alice", "read", 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.tokens.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	if _, err := f.tokens.Authenticate(context.Background(), "token", authn.Secret(raw)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.store.touchBatches()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not flush within 5 s at a 10 ms interval")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRunFlushesOnStop: uses since the last tick are written when Run
// stops, although its context has ended.
func TestRunFlushesOnStop(t *testing.T) {
	f := newFixture()
	f.tokens.FlushEvery = time.Hour
	raw, rec := f.create(t, "alice", "read", 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.tokens.Run(ctx); close(done) }()

	if _, err := f.tokens.Authenticate(context.Background(), "token", authn.Secret(raw)); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if got := f.store.get(rec.Hash).LastUsedAt; !got.Equal(f.clock.Now()) {
		t.Errorf("last use %v after Run stopped, want %v", got, f.clock.Now())
	}
	if got := len(f.store.touchBatches()); got != 1 {
		t.Errorf("%d writes, want 1", got)
	}
}
