// Package logtest gives tests a log sink that concurrent handlers can write
// while the test reads it, to assert what was (and was not) logged.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent Write and String.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail keeps about the last Keep bytes written to it (between Keep and
// twice Keep), for the output of a long-running child process: enough to
// show when a test fails, never all of a load test's. Safe for concurrent
// Write and String.
type Tail struct {
	Keep int

	mu  sync.Mutex
	buf []byte
}

// Write appends p, dropping the oldest bytes past 2*Keep.
func (l *Tail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > 2*l.Keep {
		l.buf = append([]byte(nil), l.buf[len(l.buf)-l.Keep:]...)
	}
	return len(p), nil
}

// String returns what is kept.
func (l *Tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
