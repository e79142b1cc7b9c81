package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// memAudit is an in-memory store.Audit.
type memAudit struct {
	mu      sync.Mutex
	events  []store.AuditEvent
	batches int
	fail    error
}

func (m *memAudit) AppendAudit(_ context.Context, evs []store.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.batches++
	m.events = append(m.events, evs...)
	return nil
}

func (m *memAudit) DeleteAuditBefore(context.Context, time.Time) (int64, error) { return 0, nil }

func (m *memAudit) ListAudit(context.Context, int64, time.Time, int) ([]store.AuditEvent, error) {
	return nil, errors.New("not used")
}

func (m *memAudit) snapshot() ([]store.AuditEvent, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.AuditEvent(nil), m.events...), m.batches
}

func TestRunWritesQueuedEventsInBatchesAndAtShutdown(t *testing.T) {
	st := &memAudit{}
	r := NewRecorder(st, slog.New(slog.DiscardHandler))
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.now = func() time.Time { return fixed }
	for i := range 600 {
		r.Record(store.AuditEvent{Kind: TokenIssued, Subject: "alice", Detail: string(rune('a' + i%26))})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	cancel()
	<-done
	events, batches := st.snapshot()
	if len(events) != 600 {
		t.Fatalf("stored %d events, want 600", len(events))
	}
	if batches < 1 || batches > 3 {
		t.Errorf("%d batches for 600 events; want them batched (≤ 3 of %d)", batches, defaultBatch)
	}
	if !events[0].Time.Equal(fixed) || events[599].Subject != "alice" {
		t.Errorf("event not stamped or altered: %+v", events[0])
	}
}

func TestRecordDropsWhenQueueFull(t *testing.T) {
	r := NewRecorder(&memAudit{}, slog.New(slog.DiscardHandler))
	for range defaultQueue + 5 {
		r.Record(store.AuditEvent{Kind: TokenIssued})
	}
	if got := r.Dropped(); got != 5 {
		t.Errorf("Dropped = %d, want 5", got)
	}
}

func TestWriteIsSynchronous(t *testing.T) {
	st := &memAudit{}
	r := NewRecorder(st, slog.New(slog.DiscardHandler))
	if err := r.Write(context.Background(), store.AuditEvent{Kind: APITokenCreated, Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
	if events, _ := st.snapshot(); len(events) != 1 || events[0].Time.IsZero() {
		t.Fatalf("events = %+v, want one stamped event", events)
	}
	st.fail = errors.New("disk full")
	if err := r.Write(context.Background(), store.AuditEvent{Kind: APITokenRevoked}); err == nil {
		t.Error("Write hid a store failure")
	}
}

// An event recorded after Run has ended has nothing to write it: it is
// counted as dropped, not left unseen in the queue.
func TestRecordAfterRunEndedIsDropped(t *testing.T) {
	st := &memAudit{}
	r := NewRecorder(st, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	cancel()
	<-done
	r.Record(store.AuditEvent{Kind: TokenIssued, Subject: "late"})
	if got := r.Dropped(); got != 1 {
		t.Errorf("Dropped = %d after a Record past Run, want 1", got)
	}
	if mem, _ := r.Buffered(); mem != 0 {
		t.Errorf("Buffered = %d, want 0: the late event waits for no one", mem)
	}
}
