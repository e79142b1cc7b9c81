package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// RingStore is where replicas share the sealed ring (pkg/store.KeyRings):
// one versioned record swapped by compare-and-swap.
type RingStore interface {
	KeyRing(ctx context.Context) (store.KeyRing, error)
	SwapKeyRing(ctx context.Context, oldVersion int64, data []byte, at time.Time) (store.KeyRing, error)
}

// Syncer keeps a Holder in step with the ring in the store and performs
// the ring's scheduled changes (activation, rotation, dropping retired
// keys). Every replica runs one; a change is written by compare-and-swap,
// so of replicas racing for the same change exactly one writes it and the
// others adopt the winner's ring.
type Syncer struct {
	Store  RingStore
	Sealer Sealer
	Policy Policy
	Holder *Holder
	CA     bool             // a new ring gets its own CA (tokens carry x5c)
	Now    func() time.Time // nil means time.Now
	Logger *slog.Logger     // nil discards

	mu      sync.Mutex // one change at a time (the Run loop, SIGHUP, the CLI)
	version int64      // store version of the ring in Holder
}

// maxSwapTries bounds compare-and-swap retries within one Sync.
const maxSwapTries = 3

// Sync loads the stored ring (creating the first one if there is none),
// applies what is due and publishes the result in Holder.
func (s *Syncer) Sync(ctx context.Context) error {
	return s.change(ctx, func(r *Ring, now time.Time) (*Ring, error) { return s.due(r, now) })
}

// Rotate starts a rotation now (operators: tollgate keys rotate, or a
// SIGHUP-triggered one): a new key is published and activates after the
// policy's pre-publication delay.
func (s *Syncer) Rotate(ctx context.Context) error {
	return s.change(ctx, func(r *Ring, now time.Time) (*Ring, error) {
		next, err := r.Rotate(now, s.Policy, nil)
		if err != nil {
			return nil, err
		}
		return next.Advance(now, s.Policy), nil
	})
}

// Run syncs every interval until ctx ends. A failed sync keeps the ring
// already in Holder (tokens keep being signed) and is retried.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.logger().Error("key ring sync failed; still signing with the ring loaded", "error", err)
			}
		}
	}
}

// due applies the scheduled changes to r: activation of a pending key,
// dropping expired retired keys, and a rotation when the active key is old.
func (s *Syncer) due(r *Ring, now time.Time) (*Ring, error) {
	next := r.Advance(now, s.Policy)
	if !next.Due(now, s.Policy) {
		return next, nil
	}
	rotated, err := next.Rotate(now, s.Policy, nil)
	if err != nil {
		return nil, err
	}
	return rotated.Advance(now, s.Policy), nil
}

// change loads the stored ring, applies fn and writes the result when it
// differs, retrying on a lost compare-and-swap with the winner's ring.
func (s *Syncer) change(ctx context.Context, fn func(*Ring, time.Time) (*Ring, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for try := 0; try < maxSwapTries; try++ {
		now := s.now()
		current, version, err := s.load(ctx, now)
		if err != nil {
			return err
		}
		next, err := fn(current, now)
		if err != nil {
			return err
		}
		if next == current && version > 0 {
			s.publish(current, version)
			return nil
		}
		err = s.write(ctx, next, version, now)
		if errors.Is(err, store.ErrConflict) {
			continue // another replica changed it: start from its ring
		}
		return err
	}
	return fmt.Errorf("key ring: %w after %d tries", store.ErrConflict, maxSwapTries)
}

// load returns the stored ring and its version, or a new ring (version 0)
// when the store has none yet.
func (s *Syncer) load(ctx context.Context, now time.Time) (*Ring, int64, error) {
	rec, err := s.Store.KeyRing(ctx)
	if errors.Is(err, store.ErrNotFound) {
		r, err := s.newRing(now)
		return r, 0, err
	}
	if err != nil {
		return nil, 0, fmt.Errorf("key ring: %w", err)
	}
	if current := s.Holder.Load(); current != nil && rec.Version == s.version {
		return current, rec.Version, nil // unchanged: skip unsealing
	}
	r, err := unmarshal(rec.Data, s.Sealer, s.Policy.X5C)
	if err != nil {
		return nil, 0, fmt.Errorf("key ring version %d: %w", rec.Version, err)
	}
	return r, rec.Version, nil
}

func (s *Syncer) newRing(now time.Time) (*Ring, error) {
	var ca *CA
	if s.CA {
		var err error
		if ca, err = NewCA(now); err != nil {
			return nil, err
		}
	}
	return NewRing(now, s.Policy, ca)
}

// write stores next as version+1 and publishes it.
func (s *Syncer) write(ctx context.Context, next *Ring, version int64, now time.Time) error {
	data, err := next.Marshal(s.Sealer)
	if err != nil {
		return err
	}
	rec, err := s.Store.SwapKeyRing(ctx, version, data, now)
	if err != nil {
		return err
	}
	s.publish(next, rec.Version)
	s.logger().Info("key ring updated", "version", rec.Version, "active_kid", next.Active().ID())
	return nil
}

func (s *Syncer) publish(r *Ring, version int64) {
	if s.Holder.Load() != r {
		s.Holder.Store(r)
	}
	s.version = version
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Syncer) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
