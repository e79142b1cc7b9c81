package apitoken

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// flushTimeout bounds one batch write.
const flushTimeout = 10 * time.Second

// touch notes that the token with this hash was used at time at.
func (t *Tokens) touch(hash string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.used == nil {
		t.used = make(map[string]time.Time)
	}
	if prev, ok := t.used[hash]; !ok || at.After(prev) {
		t.used[hash] = at
	}
}

// Flush writes the last-used times noted since the previous Flush, in one
// TouchAPITokens call (none when there is nothing to write). If the write
// fails the times are kept for the next Flush.
func (t *Tokens) Flush(ctx context.Context) error {
	t.mu.Lock()
	batch := t.used
	t.used = nil
	t.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := t.Store.TouchAPITokens(ctx, batch)
	if err != nil {
		t.mu.Lock()
		for hash, at := range batch {
			if prev, ok := t.used[hash]; !ok || at.After(prev) {
				if t.used == nil {
					t.used = make(map[string]time.Time)
				}
				t.used[hash] = at
			}
		}
		t.mu.Unlock()
	}
	return err
}

// Run flushes every FlushEvery until ctx ends, then once more (with a
// context of its own, so the last uses before a shutdown are kept).
func (t *Tokens) Run(ctx context.Context) {
	every := t.FlushEvery
	if every <= 0 {
		every = DefaultFlushEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			t.flushLogged(fctx)
			cancel()
			return
		case <-tick.C:
			fctx, cancel := context.WithTimeout(ctx, flushTimeout)
			t.flushLogged(fctx)
			cancel()
		}
	}
}

func (t *Tokens) flushLogged(ctx context.Context) {
	if err := t.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.logger().ErrorContext(ctx, "record API token last-used times; will retry", "error", err)
	}
}

func (t *Tokens) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.New(slog.DiscardHandler)
}
