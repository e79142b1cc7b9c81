package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// failingSessions answers every session call with err.
type failingSessions struct {
	store.Store // nil: methods not overridden here would panic
	err         error
}

func (f failingSessions) CreateSession(context.Context, store.Session) error { return f.err }
func (f failingSessions) Session(context.Context, string) (store.Session, error) {
	return store.Session{}, f.err
}
func (f failingSessions) TouchSession(context.Context, string, time.Time) error { return f.err }
func (f failingSessions) DeleteSession(context.Context, string) error           { return f.err }
func (f failingSessions) DeleteUserSessions(context.Context, string) (int64, error) {
	return 0, f.err
}
func (f failingSessions) DeleteExpiredSessions(context.Context, time.Time, time.Time) (int64, error) {
	return 0, f.err
}

// TestInstrumentStoreCountsSessionFailures: each session operation counts
// its failures under its own name, and its answers (a session not found)
// not at all.
func TestInstrumentStoreCountsSessionFailures(t *testing.T) {
	ctx, now := context.Background(), time.Now()
	calls := map[string]func(store.Store) error{
		"create_session": func(s store.Store) error { return s.CreateSession(ctx, store.Session{Hash: "h"}) },
		"get_session":    func(s store.Store) error { _, err := s.Session(ctx, "h"); return err },
		"touch_session":  func(s store.Store) error { return s.TouchSession(ctx, "h", now) },
		"delete_session": func(s store.Store) error { return s.DeleteSession(ctx, "h") },
		"delete_user_sessions": func(s store.Store) error {
			_, err := s.DeleteUserSessions(ctx, "alice")
			return err
		},
		"delete_expired_sessions": func(s store.Store) error {
			_, err := s.DeleteExpiredSessions(ctx, now.Add(-time.Hour), now)
			return err
		},
	}
	for _, tc := range []struct {
		err  error
		want float64
	}{
		{errors.New("database is locked"), 1},
		{fmt.Errorf("session: %w", store.ErrNotFound), 0},
	} {
		for op, call := range calls {
			t.Run(fmt.Sprintf("%s/%v", op, tc.err), func(t *testing.T) {
				m, reg := newTest(t)
				if err := call(m.InstrumentStore(failingSessions{err: tc.err})); !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v passed through", err, tc.err)
				}
				if got := value(t, reg, "tollgate_store_errors_total", "operation="+op); got != tc.want {
					t.Errorf("%s errors = %v, want %v", op, got, tc.want)
				}
			})
		}
	}
}
