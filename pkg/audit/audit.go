// Package audit records who got which token, who was refused, and what
// operators changed, into the store's audit log. Token events are on the
// hot path, so they are queued and written in batches by a goroutine of
// their own; administrative events (API tokens, keys) are written before
// the reply. While the store is away, events wait in a bounded buffer in
// memory, then in an optional spool file, and are written in order when it
// is back; what cannot be kept is dropped, counted and logged. Refused
// logins are aggregated into one row per client address and minute.
// Secrets never enter an event.
package audit

import (
	"context"
	"errors"
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

	// WorkloadTokensRevoked: an operator revoked the refresh tokens of a
	// workload (`tollgate workloads revoke`).
	WorkloadTokensRevoked = "workload.tokens_revoked"
)

// DefaultBuffer is how many events wait in memory for a store that is away
// when WithBuffer does not say (audit.buffer).
const DefaultBuffer = 100000

const (
	defaultQueue     = 4096
	defaultBatch     = 1024 // one transaction (one fsync) per batch: the write cost of a busy server
	defaultFlushTime = time.Second
	// writeTimeout bounds one write to the store.
	writeTimeout = 5 * time.Second
	// finalFlushTime bounds the last writes at shutdown.
	finalFlushTime = 10 * time.Second
	// Retries after a failed write wait from minBackoff, doubling up to
	// maxBackoff: events reach the store within maxBackoff of its return.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Recorder queues events and writes them in batches. Run must be running
// for queued events to be written.
type Recorder struct {
	store  store.Audit
	logger *slog.Logger
	queue  chan store.AuditEvent
	kick   chan struct{} // tells the writer a batch is ready
	now    func() time.Time
	fails  *failures
	buf    *backlog
	// spoolPath is the spool file ("": none), at most spoolMax bytes; Run
	// opens it.
	spoolPath string
	spoolMax  int64

	flushEvery, minBackoff, maxBackoff time.Duration

	running atomic.Bool // Run is taking events off the queue
	stopped atomic.Bool // Run has ended: an event recorded now is dropped
	dropped atomic.Int64
	// reported is the drop count last logged; only Run touches it.
	reported int64
}

// Option configures a Recorder.
type Option func(*Recorder)

// WithBuffer sets how many events wait in memory while the store is away
// (audit.buffer); n <= 0 keeps DefaultBuffer.
func WithBuffer(n int) Option {
	return func(r *Recorder) {
		if n > 0 {
			r.buf.max = n
		}
	}
}

// WithSpool names a file (audit.spool_file) for the events that do not fit
// in memory while the store is away, and for those still in memory at a
// shutdown without the store. Run writes what it holds, from a previous
// run too, once the store answers, then removes it.
func WithSpool(path string) Option { return func(r *Recorder) { r.spoolPath = path } }

// WithSpoolMax bounds the spool file (audit.spool_max_bytes): events that
// would take it past n bytes are dropped and counted. n <= 0 keeps
// DefaultSpoolMax.
func WithSpoolMax(n int64) Option { return func(r *Recorder) { r.spoolMax = n } }

// NewRecorder returns a Recorder writing to st.
func NewRecorder(st store.Audit, logger *slog.Logger, opts ...Option) *Recorder {
	r := &Recorder{store: st, logger: logger, queue: make(chan store.AuditEvent, defaultQueue),
		kick: make(chan struct{}, 1), now: time.Now, fails: newFailures(), buf: &backlog{max: DefaultBuffer},
		flushEvery: defaultFlushTime, minBackoff: minBackoff, maxBackoff: maxBackoff}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Record queues ev without blocking. When the queue is full the event is
// dropped, counted and reported in the log: a slow audit store must not
// stall registry pulls.
func (r *Recorder) Record(ev store.AuditEvent) {
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	if r.stopped.Load() { // nothing takes it off the queue any more
		r.dropped.Add(1)
		return
	}
	select {
	case r.queue <- ev:
	default:
		r.dropped.Add(1)
	}
}

// FailedLogin counts a refused login (a wrong password, an unknown user, an
// invalid API token or refresh token) from ev.ClientIP under the name
// ev.Subject tried ("" for none). It does not block. Run writes one
// token.denied row per address and minute (see failures); the event's
// other fields are not kept.
func (r *Recorder) FailedLogin(ev store.AuditEvent) {
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	r.fails.add(ev.Time, ev.ClientIP, ev.Subject)
}

// Write stores ev now, for events whose reply must wait for the record.
// When the store is away (store.ErrUnavailable) and Run is running, the
// event is queued for Run instead, like Record's, and Write returns nil:
// it is kept, not lost.
func (r *Recorder) Write(ctx context.Context, ev store.AuditEvent) error {
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	err := r.store.AppendAudit(wctx, []store.AuditEvent{ev})
	cancel()
	if !errors.Is(err, store.ErrUnavailable) || !r.running.Load() {
		return err
	}
	select {
	case r.queue <- ev:
		r.logger.WarnContext(ctx, "audit store unavailable; the event is queued until it is back", "kind", ev.Kind)
		return nil
	case <-ctx.Done():
		r.drop(1)
		return err
	}
}

// Dropped is how many events were lost: to a full queue, to a full buffer
// without a spool (or a spool that failed), or at a shutdown without the
// store.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Buffered is how many events wait for the store: in memory (queued or
// buffered) and in the spool file.
func (r *Recorder) Buffered() (memory, spooled int) {
	memory, spooled = r.buf.size()
	return memory + len(r.queue), spooled
}

func (r *Recorder) drop(n int) {
	if n > 0 {
		r.dropped.Add(int64(n))
	}
}

// Run writes queued events until ctx ends, then writes what is left (or
// keeps it in the spool). One goroutine takes events off the queue into
// the backlog, never waiting on the store; another writes the backlog,
// retrying with backoff while the store is away.
func (r *Recorder) Run(ctx context.Context) {
	r.openSpool()
	r.running.Store(true)
	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		r.writeLoop(wctx)
	}()
	tick := time.NewTicker(r.flushEvery)
	defer tick.Stop()
	for {
		select {
		case ev := <-r.queue:
			r.keep(ev)
		case <-tick.C: // the writer flushes on its own timer
			r.keep(r.fails.take(r.now(), false)...)
			r.reportDropped()
		case <-ctx.Done():
			r.running.Store(false)
			r.stopped.Store(true)
			r.keep(r.drain()...)
			r.keep(r.fails.take(r.now(), true)...)
			stopWriter()
			<-writerDone
			r.finish()
			r.reportDropped()
			return
		}
	}
}

// openSpool opens the spool file, with what a previous run left in it.
func (r *Recorder) openSpool() {
	if r.spoolPath == "" {
		return
	}
	sp, err := openSpool(r.spoolPath, r.spoolMax)
	if err != nil {
		r.logger.Error("audit spool cannot be opened; events that do not fit in memory will be dropped",
			"path", r.spoolPath, "error", err)
		return
	}
	r.buf.mu.Lock()
	r.buf.spool = sp
	r.buf.mu.Unlock()
	if sp.pending > 0 {
		r.logger.Info("audit spool holds events of an earlier run; writing them", "path", r.spoolPath, "events", sp.pending)
		r.signal()
	}
}

// keep adds events to the backlog; a full batch wakes the writer.
func (r *Recorder) keep(events ...store.AuditEvent) {
	if len(events) == 0 {
		return
	}
	dropped, err := r.buf.add(events...)
	if err != nil && !errors.Is(err, errSpoolFull) { // a full spool is told by reportDropped
		r.logger.Error("audit spool write failed; events dropped", "events", dropped, "error", err)
	}
	r.drop(dropped)
	if mem, spooled := r.buf.size(); mem+spooled >= defaultBatch {
		r.signal()
	}
}

// signal wakes the writer without blocking.
func (r *Recorder) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// drain takes whatever is still queued.
func (r *Recorder) drain() []store.AuditEvent {
	var out []store.AuditEvent
	for {
		select {
		case ev := <-r.queue:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// writeLoop writes the backlog when woken (a full batch, or every
// flushEvery), and while the store is away retries with backoff.
func (r *Recorder) writeLoop(ctx context.Context) {
	var backoff time.Duration
	wait := time.NewTimer(r.flushEvery)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			if backoff > 0 {
				continue // the retry timer decides
			}
		case <-wait.C:
		}
		err := r.writeAll(ctx)
		backoff = r.nextBackoff(backoff, err)
		if backoff == 0 {
			wait.Reset(r.flushEvery)
		} else {
			wait.Reset(backoff)
		}
	}
}

// nextBackoff is the wait before the next write: none after a success
// (logging the return of the store after an outage), else doubled from
// minBackoff up to maxBackoff (logging the start of an outage).
func (r *Recorder) nextBackoff(prev time.Duration, err error) time.Duration {
	if err == nil {
		if prev > 0 {
			mem, spooled := r.buf.size()
			r.logger.Info("audit store answers again; buffered events written", "waiting", mem+spooled)
		}
		return 0
	}
	if prev == 0 {
		mem, spooled := r.buf.size()
		r.logger.Warn("audit store unavailable; events are kept and retried", "buffered", mem, "spooled", spooled,
			"error", err)
		return r.minBackoff
	}
	return min(2*prev, r.maxBackoff)
}

// writeAll writes batches until the backlog is empty, ctx ends or the
// store is away (that error is returned).
func (r *Recorder) writeAll(ctx context.Context) error {
	for ctx.Err() == nil {
		more, err := r.writeBatch(context.Background())
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// writeBatch writes the oldest batch of the backlog and removes it. It
// reports whether there was one; the error is the store's when it is
// away (the batch stays, to be retried). A batch the store refuses for
// another reason is written one event at a time, and the events it
// refuses alone are dropped: one bad event must not stop the audit log.
func (r *Recorder) writeBatch(ctx context.Context) (bool, error) {
	bt, skipped, err := r.buf.next(defaultBatch)
	r.dropUnreadable(skipped)
	if err != nil {
		r.logger.Error("audit spool read failed", "error", err)
		return false, err
	}
	if len(bt.events) == 0 {
		return skipped > 0, nil
	}
	err = r.append(ctx, bt.events)
	switch {
	case err == nil:
		r.done(bt, len(bt.events))
		return true, nil
	case errors.Is(err, store.ErrUnavailable):
		return false, err
	}
	return true, r.writeEach(ctx, bt)
}

// writeEach writes the batch one event at a time (see writeBatch).
func (r *Recorder) writeEach(ctx context.Context, bt batch) error {
	for k, ev := range bt.events {
		err := r.append(ctx, []store.AuditEvent{ev})
		if errors.Is(err, store.ErrUnavailable) {
			r.done(bt, k)
			return err
		}
		if err != nil {
			r.drop(1)
			r.logger.Error("audit store refuses an event; dropped", "kind", ev.Kind, "error", err)
		}
	}
	r.done(bt, len(bt.events))
	return nil
}

func (r *Recorder) append(ctx context.Context, events []store.AuditEvent) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return r.store.AppendAudit(ctx, events)
}

// done removes the first k events of bt from the backlog.
func (r *Recorder) done(bt batch, k int) {
	if err := r.buf.done(bt, k); err != nil {
		r.logger.Error("audit spool cannot be removed after it was written", "path", r.spoolPath, "error", err)
	}
}

func (r *Recorder) dropUnreadable(n int) {
	if n > 0 {
		r.drop(n)
		r.logger.Error("audit spool holds lines that are not events; skipped", "lines", n)
	}
}

// finish writes what is left at shutdown, for at most finalFlushTime, then
// moves what the store did not take to the spool (or drops it).
func (r *Recorder) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), finalFlushTime)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		var more bool
		if more, err = r.writeBatch(ctx); err != nil || !more {
			break
		}
	}
	kept, lost, serr := r.buf.stash()
	if serr != nil {
		r.logger.Error("audit spool write failed at shutdown", "path", r.spoolPath, "error", serr)
	}
	if kept > 0 {
		r.logger.Warn("audit store unavailable at shutdown; events kept in the spool for the next start",
			"path", r.spoolPath, "spooled", kept, "error", err)
	}
	if lost > 0 {
		r.drop(lost)
		r.logger.Error("audit store unavailable at shutdown; events dropped", "events", lost, "error", err)
	}
}

func (r *Recorder) reportDropped() {
	if n := r.dropped.Load(); n > r.reported {
		r.reported = n
		r.logger.Warn("audit events dropped", "dropped_total", n)
	}
}
