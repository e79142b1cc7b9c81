// Package asynclog is an io.Writer for log output that never makes the
// request path wait for it: a write copies the line into a buffer, and one
// goroutine writes the buffer out a few times a second, so a busy server
// pays a memory copy per log line, not a system call. Close writes what is
// left: a clean shutdown loses no line. Under overload (the buffer full
// faster than it drains) lines are dropped and counted, never waited for.
package asynclog

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of New's interval and limit.
const (
	DefaultInterval = 100 * time.Millisecond
	DefaultMaxBytes = 8 << 20
)

// Writer buffers writes for one goroutine to write out. Each Write is kept
// whole (slog handlers write one record per call).
type Writer struct {
	out      io.Writer
	interval time.Duration
	max      int

	outMu sync.Mutex // orders writes to out: the buffer's, then those after Close

	mu     sync.Mutex
	buf    []byte // pending output
	spare  []byte // the buffer being written out, reused
	closed bool

	dropped atomic.Uint64
	kick    chan struct{} // wakes the writer early (buffer half full)
	stop    chan struct{}
	done    chan struct{}
}

// New starts a Writer over out that writes every interval (0:
// DefaultInterval) and holds at most maxBytes (0: DefaultMaxBytes).
func New(out io.Writer, interval time.Duration, maxBytes int) *Writer {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	w := &Writer{out: out, interval: interval, max: maxBytes,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Write keeps p for the writer goroutine. It never blocks on the output:
// when the buffer is full, p is dropped (Dropped counts it). After Close it
// writes through, so the last lines of a shutdown are not lost.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.outMu.Lock()
		defer w.outMu.Unlock()
		return w.out.Write(p)
	}
	if len(w.buf)+len(p) > w.max {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	half := len(w.buf) > w.max/2
	w.mu.Unlock()
	if half {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Dropped is the number of writes dropped because the buffer was full.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Close writes out what is buffered and stops the writer goroutine; later
// writes go straight to the output.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.kick:
		case <-w.stop:
			w.flush(true)
			return
		}
		w.flush(false)
	}
}

// flush writes out the buffer; last also closes the writer, in the same
// critical section, so that no write falls between the two.
func (w *Writer) flush(last bool) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.mu.Lock()
	out := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.closed = w.closed || last
	w.mu.Unlock()
	if len(out) > 0 {
		_, _ = w.out.Write(out) // a log that cannot be written has nowhere to report it
	}
	w.mu.Lock()
	w.spare = out[:0]
	w.mu.Unlock()
}
