package asynclog_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/asynclog"
)

// syncBuffer is a bytes.Buffer safe for concurrent use, counting writes.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	block  chan struct{} // when set, writes wait for it
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Every line written before Close is in the output after it, whole and in
// order, in far fewer writes than lines; lines after Close write through.
func TestCloseLosesNoLine(t *testing.T) {
	out := &syncBuffer{}
	w := asynclog.New(out, time.Hour, 1<<20)
	for i := range 1000 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if out.String() != "" {
		t.Fatal("written before the interval or Close")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "after close\n")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1001 || lines[0] != "line 0" || lines[999] != "line 999" || lines[1000] != "after close" {
		t.Fatalf("%d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if out.writes != 2 {
		t.Errorf("%d writes to the output, want 2 (one buffer, one after Close)", out.writes)
	}
}

// A writer that cannot keep up never makes Write wait: beyond the limit,
// lines are dropped and counted.
func TestFullBufferDropsInsteadOfBlocking(t *testing.T) {
	out := &syncBuffer{block: make(chan struct{})}
	w := asynclog.New(out, time.Millisecond, 64)
	done := make(chan struct{})
	go func() {
		for range 100 {
			fmt.Fprintf(w, "0123456789\n")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Write blocked on a stuck output")
	}
	if w.Dropped() == 0 {
		t.Error("nothing dropped although the output was stuck and the buffer small")
	}
	close(out.block)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// The interval writes the buffer without Close.
func TestIntervalFlushes(t *testing.T) {
	out := &syncBuffer{}
	w := asynclog.New(out, 10*time.Millisecond, 1<<20)
	defer w.Close()
	fmt.Fprintf(w, "hello\n")
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "hello\n" {
		if time.Now().After(deadline) {
			t.Fatal("not written within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkWrite(b *testing.B) {
	w := asynclog.New(io.Discard, time.Millisecond, 1<<24)
	defer w.Close()
	line := []byte(`{"time":"2026-12-06T13:48:59Z","level":"INFO","msg":"request","request_id":"abc","method":"GET"}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = w.Write(line)
	}
}
