package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// hanging is a store whose calls wait for their context to end, as calls
// to a database that does not answer do.
type hanging struct{ store.Store }

func (hanging) APIToken(ctx context.Context, _ string) (store.APIToken, error) {
	<-ctx.Done()
	return store.APIToken{}, ctx.Err()
}

func (hanging) AppendAudit(ctx context.Context, _ []store.AuditEvent) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hanging) Ping(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hanging) Close() error { return nil }

func TestWithTimeoutBoundsEveryCall(t *testing.T) {
	const d = 50 * time.Millisecond
	s := store.WithTimeout(hanging{}, d)
	calls := map[string]func(context.Context) error{
		"APIToken":    func(ctx context.Context) error { _, err := s.APIToken(ctx, "h"); return err },
		"AppendAudit": func(ctx context.Context) error { return s.AppendAudit(ctx, nil) },
		"Ping":        s.Ping,
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := call(context.Background())
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
			if took := time.Since(start); took < d || took > 20*d {
				t.Errorf("returned after %s, want about %s", took, d)
			}
		})
	}
	t.Run("an earlier deadline of the caller wins", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), d/5)
		defer cancel()
		start := time.Now()
		if err := s.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took >= d {
			t.Errorf("returned after %s, want before the store's %s", took, d)
		}
	})
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
