// Package audit records who got which token, who was refused, and what
// operators changed, into the store's audit log. Token events are on the
// hot path, so they are queued and written in batches by one goroutine;
// administrative events (API tokens, keys) are written before the reply.
// Secrets never enter an event.
package audit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// Event kinds.
const (
	TokenIssued     = "token.issued"
	TokenDenied     = "token.denied"
	APITokenCreated = "apitoken.created"
	APITokenRevoked = "apitoken.revoked"
	TokenRevoked    = "token.revoked" // a refresh token revoked (RFC 7009)
	KeyRotated      = "key.rotated"

	UserAdded           = "user.added"
	UserUpdated         = "user.updated"
	UserRemoved         = "user.removed"
	UserDisabled        = "user.disabled"
	UserEnabled         = "user.enabled"
	UserTokensRevoked   = "user.tokens_revoked"
	UserPasswordChanged = "user.password_changed"
)

const (
	defaultQueue     = 4096
	defaultBatch     = 256
	defaultFlushTime = time.Second
)

// Recorder queues events and writes them in batches.
type Recorder struct {
	store   store.Audit
	logger  *slog.Logger
	queue   chan store.AuditEvent
	now     func() time.Time
	dropped atomic.Int64
	// reported is the drop count last logged; only Run touches it.
	reported int64
}

// NewRecorder returns a Recorder writing to st. Run must be running for
// queued events to be written.
func NewRecorder(st store.Audit, logger *slog.Logger) *Recorder {
	return &Recorder{store: st, logger: logger, queue: make(chan store.AuditEvent, defaultQueue), now: time.Now}
}

// Record queues ev without blocking. When the queue is full the event is
// dropped, counted and reported in the log: a slow audit store must not
// stall registry pulls.
func (r *Recorder) Record(ev store.AuditEvent) {
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	select {
	case r.queue <- ev:
	default:
		r.dropped.Add(1)
	}
}

// Write stores ev now, for events whose reply must wait for the record.
func (r *Recorder) Write(ctx context.Context, ev store.AuditEvent) error {
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	return r.store.AppendAudit(ctx, []store.AuditEvent{ev})
}

// Dropped is how many events were lost to a full queue.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Run writes queued events until ctx ends, then writes what is left.
func (r *Recorder) Run(ctx context.Context) {
	tick := time.NewTicker(defaultFlushTime)
	defer tick.Stop()
	batch := make([]store.AuditEvent, 0, defaultBatch)
	for {
		select {
		case ev := <-r.queue:
			batch = append(batch, ev)
			if len(batch) >= defaultBatch {
				batch = r.flush(batch)
			}
		case <-tick.C:
			batch = r.flush(batch)
			r.reportDropped()
		case <-ctx.Done():
			r.flush(r.drain(batch))
			r.reportDropped()
			return
		}
	}
}

// drain appends whatever is still queued.
func (r *Recorder) drain(batch []store.AuditEvent) []store.AuditEvent {
	for {
		select {
		case ev := <-r.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
}

// flush writes the batch (with a fresh context, so the final flush at
// shutdown still works) and returns it emptied.
func (r *Recorder) flush(batch []store.AuditEvent) []store.AuditEvent {
	if len(batch) == 0 {
		return batch
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.store.AppendAudit(ctx, batch); err != nil {
		r.logger.Error("audit write failed; events lost", "events", len(batch), "error", err)
	}
	return batch[:0]
}

func (r *Recorder) reportDropped() {
	if n := r.dropped.Load(); n > r.reported {
		r.reported = n
		r.logger.Warn("audit queue full; events dropped", "dropped_total", n)
	}
}
