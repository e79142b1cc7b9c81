package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// flakyAudit is an in-memory store.Audit that can be away (every append
// fails with store.ErrUnavailable) and can refuse single events for good.
type flakyAudit struct {
	mu     sync.Mutex
	events []store.AuditEvent
	down   atomic.Bool
	refuse string // events of this kind fail with a plain error
}

var errRefused = errors.New("value too long for type character varying(255)")

func (f *flakyAudit) AppendAudit(_ context.Context, evs []store.AuditEvent) error {
	if f.down.Load() {
		return fmt.Errorf("append audit: %w: connection refused", store.ErrUnavailable)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range evs {
		if f.refuse != "" && e.Kind == f.refuse {
			return errRefused
		}
	}
	f.events = append(f.events, evs...)
	return nil
}

func (f *flakyAudit) DeleteAuditBefore(context.Context, time.Time) (int64, error) { return 0, nil }

func (f *flakyAudit) ListAudit(context.Context, int64, time.Time, int) ([]store.AuditEvent, error) {
	return nil, errors.New("not used")
}

func (f *flakyAudit) stored() []store.AuditEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.AuditEvent(nil), f.events...)
}

// fast is a Recorder over st with short timings, for tests.
func fast(st store.Audit, opts ...Option) *Recorder {
	r := NewRecorder(st, slog.New(slog.DiscardHandler), opts...)
	r.flushEvery, r.minBackoff, r.maxBackoff = 10*time.Millisecond, 5*time.Millisecond, 20*time.Millisecond
	return r
}

// running starts r.Run; the returned stop ends it and waits.
func running(t *testing.T, r *Recorder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not return within 15s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// numbered records events 0..n-1 (Detail is the number), in order.
func numbered(r *Recorder, from, n int) {
	for i := from; i < from+n; i++ {
		r.Record(store.AuditEvent{Kind: TokenIssued, Subject: "alice", Detail: strconv.Itoa(i)})
	}
}

// wantNumbered asserts the store holds exactly events 0..n-1, in order.
func wantNumbered(t *testing.T, got []store.AuditEvent, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("store holds %d events, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Detail != strconv.Itoa(i) {
			t.Fatalf("event %d is number %s: out of order or repeated", i, e.Detail)
		}
	}
}

// writtenInOrder waits until st holds n events, then asserts they are
// events 0..n-1, in order.
func writtenInOrder(t *testing.T, st *flakyAudit, what string, n int) {
	t.Helper()
	eventually(t, what, func() bool { return len(st.stored()) == n })
	wantNumbered(t, st.stored(), n)
}

// eventually polls cond every 5ms until it holds, failing after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOutageKeepsEventsAndWritesThemInOrder(t *testing.T) {
	st := &flakyAudit{}
	r := fast(st)
	running(t, r)
	numbered(r, 0, 100)
	eventually(t, "the first events are written", func() bool { return len(st.stored()) == 100 })
	st.down.Store(true)
	numbered(r, 100, 900)
	eventually(t, "900 events buffered", func() bool { mem, _ := r.Buffered(); return mem == 900 })
	if n := len(st.stored()); n != 100 {
		t.Fatalf("store holds %d events while away, want the 100 of before", n)
	}
	st.down.Store(false)
	writtenInOrder(t, st, "the buffered events are written", 1000)
	// The backlog lets go of a batch once the store has answered for it,
	// a moment after the rows are there.
	eventually(t, "the backlog emptied", func() bool { mem, spooled := r.Buffered(); return mem == 0 && spooled == 0 })
	if r.Dropped() != 0 {
		t.Errorf("after the outage: dropped %d, want 0", r.Dropped())
	}
}

func TestFullBufferWithoutSpoolDropsAndCounts(t *testing.T) {
	st := &flakyAudit{}
	st.down.Store(true)
	r := fast(st, WithBuffer(100))
	running(t, r)
	numbered(r, 0, 150)
	eventually(t, "50 events dropped", func() bool { return r.Dropped() == 50 })
	if mem, _ := r.Buffered(); mem != 100 {
		t.Errorf("buffered %d, want 100 (audit.buffer)", mem)
	}
	st.down.Store(false)
	writtenInOrder(t, st, "the buffer is written", 100) // the oldest are kept
}

func TestSpoolTakesWhatMemoryCannot(t *testing.T) {
	st := &flakyAudit{}
	st.down.Store(true)
	path := filepath.Join(t.TempDir(), "audit.spool")
	r := fast(st, WithBuffer(10), WithSpool(path))
	running(t, r)
	numbered(r, 0, 100)
	eventually(t, "90 events spooled", func() bool { mem, sp := r.Buffered(); return mem == 10 && sp == 90 })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("spool mode %v, want 0600", fi.Mode().Perm())
	}
	if lines := spoolLines(t, path); len(lines) != 90 || lines[0].Detail != "10" {
		t.Fatalf("spool holds %d lines starting at %+v, want 90 from number 10", len(lines), lines)
	}
	numbered(r, 100, 20) // while the spool holds events, new ones go behind them
	st.down.Store(false)
	writtenInOrder(t, st, "memory and spool are written", 120)
	eventually(t, "the spool is removed", func() bool { _, err := os.Stat(path); return errors.Is(err, os.ErrNotExist) })
	if r.Dropped() != 0 {
		t.Errorf("dropped %d, want 0", r.Dropped())
	}
}

// spoolLines parses the spool file.
func spoolLines(t *testing.T, path string) []store.AuditEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []store.AuditEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var sp spooled
		if err := json.Unmarshal(sc.Bytes(), &sp); err != nil {
			t.Fatalf("spool line %q: %v", sc.Text(), err)
		}
		out = append(out, sp.event())
	}
	return out
}

func TestShutdownWithStoreAwaySpoolsForTheNextStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.spool")
	away := &flakyAudit{}
	away.down.Store(true)
	first := fast(away, WithBuffer(30), WithSpool(path))
	stop := running(t, first)
	numbered(first, 0, 50) // 30 in memory, 20 in the spool
	eventually(t, "50 events kept", func() bool { mem, sp := first.Buffered(); return mem+sp == 50 })
	stop()
	if lines := spoolLines(t, path); len(lines) != 50 || lines[0].Detail != "0" || lines[49].Detail != "49" {
		t.Fatalf("after shutdown the spool holds %d events, want 0..49 in order", len(lines))
	}
	if first.Dropped() != 0 {
		t.Errorf("dropped %d at shutdown, want 0", first.Dropped())
	}

	back := &flakyAudit{}
	second := fast(back, WithSpool(path))
	running(t, second)
	numbered(second, 50, 10)
	writtenInOrder(t, back, "the spool and the new events are written", 60)
	eventually(t, "the spool is removed", func() bool { _, err := os.Stat(path); return errors.Is(err, os.ErrNotExist) })
}

func TestShutdownWithStoreAwayWithoutSpoolDropsAndCounts(t *testing.T) {
	st := &flakyAudit{}
	st.down.Store(true)
	r := fast(st)
	stop := running(t, r)
	numbered(r, 0, 40)
	eventually(t, "40 events buffered", func() bool { mem, _ := r.Buffered(); return mem == 40 })
	stop()
	if r.Dropped() != 40 {
		t.Errorf("dropped %d at shutdown, want 40", r.Dropped())
	}
}

func TestSpoolLineCutShortIsSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.spool")
	whole, _ := json.Marshal(toSpooled(store.AuditEvent{Kind: TokenIssued, Detail: "0"}))
	if err := os.WriteFile(path, append(append(whole, '\n'), `{"kind":"token.iss`...), 0o600); err != nil {
		t.Fatal(err)
	}
	st := &flakyAudit{}
	r := fast(st, WithSpool(path))
	running(t, r)
	numbered(r, 1, 2)
	writtenInOrder(t, st, "the whole events are written", 3)
	if r.Dropped() != 1 {
		t.Errorf("dropped %d, want 1 (the line cut short)", r.Dropped())
	}
}

func TestEventTheStoreRefusesIsDroppedAlone(t *testing.T) {
	st := &flakyAudit{refuse: "bad"}
	r := fast(st)
	running(t, r)
	numbered(r, 0, 3)
	r.Record(store.AuditEvent{Kind: "bad"})
	numbered(r, 3, 3)
	writtenInOrder(t, st, "the good events are written", 6)
	if r.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", r.Dropped())
	}
}

func TestWriteQueuesWhileTheStoreIsAway(t *testing.T) {
	st := &flakyAudit{}
	st.down.Store(true)
	r := fast(st)
	ev := store.AuditEvent{Kind: APITokenRevoked, Subject: "alice"}
	if err := r.Write(context.Background(), ev); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Write without Run = %v, want the store's ErrUnavailable (nothing would write a queued event)", err)
	}
	running(t, r)
	eventually(t, "Run runs", r.running.Load)
	if err := r.Write(context.Background(), ev); err != nil {
		t.Fatalf("Write with the store away = %v, want nil (queued)", err)
	}
	st.down.Store(false)
	eventually(t, "the queued event is written", func() bool { return len(st.stored()) == 1 })
	if got := st.stored()[0]; got.Kind != APITokenRevoked || got.Subject != "alice" || got.Time.IsZero() {
		t.Errorf("stored %+v", got)
	}
}

// The spool stops at its size: what would take it past is dropped and
// counted, what it holds is written when the store is back.
func TestSpoolStopsAtItsSize(t *testing.T) {
	st := &flakyAudit{}
	st.down.Store(true)
	path := filepath.Join(t.TempDir(), "audit.spool")
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) // every line the same length
	line, err := encodeLines([]store.AuditEvent{{Time: at, Kind: TokenIssued, Subject: "alice", Detail: "10"}})
	if err != nil {
		t.Fatal(err)
	}
	r := fast(st, WithBuffer(10), WithSpool(path), WithSpoolMax(int64(20*len(line)+len(line)/2)))
	r.now = func() time.Time { return at }
	running(t, r)
	numbered(r, 0, 100)
	eventually(t, "20 events spooled, 70 dropped", func() bool {
		mem, sp := r.Buffered()
		return mem == 10 && sp == 20 && r.Dropped() == 70
	})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(20*len(line)) {
		t.Errorf("spool of %d bytes, want 20 lines of %d", fi.Size(), len(line))
	}
	st.down.Store(false)
	writtenInOrder(t, st, "memory and spool are written", 30) // the oldest are kept
}
