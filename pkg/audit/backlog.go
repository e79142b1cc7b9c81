package audit

import (
	"sync"

	"github.com/tollgate/tollgate/pkg/store"
)

// backlog holds the events waiting for the store, oldest first: up to max
// in memory, then, once memory is full, in the spool file when there is
// one. Once the spool holds events every new one goes there too, behind
// them, so every spooled event is newer than every event in memory:
// writing memory first and then the spool keeps the order. It is safe for
// concurrent use.
type backlog struct {
	mu    sync.Mutex
	mem   []store.AuditEvent // mem[head:] wait, oldest first
	head  int
	max   int
	spool *spool // nil: events that do not fit in memory are dropped
}

// batch is the oldest events of the backlog, handed to the writer; done
// removes them once written.
type batch struct {
	events []store.AuditEvent
	ends   []int64 // spooled events: the file offset after each one
}

// add keeps events, in memory while there is room and the spool is empty,
// else in the spool. It returns how many it could not keep, and the
// spool's error when there was one.
func (b *backlog) add(events ...store.AuditEvent) (dropped int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spool == nil || b.spool.pending == 0 {
		n := min(len(events), b.max-b.memLen())
		b.mem = append(b.mem, events[:n]...)
		events = events[n:]
	}
	if len(events) == 0 {
		return 0, nil
	}
	if b.spool == nil {
		return len(events), nil
	}
	if err := b.spool.append(events); err != nil {
		return len(events), err
	}
	return 0, nil
}

func (b *backlog) memLen() int { return len(b.mem) - b.head }

// next returns up to n of the oldest events (none when the backlog is
// empty), and how many unreadable spool lines it skipped for good.
func (b *backlog) next(n int) (batch, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := min(n, b.memLen()); k > 0 {
		return batch{events: b.mem[b.head : b.head+k]}, 0, nil
	}
	if b.spool == nil {
		return batch{}, 0, nil
	}
	events, ends, skipped, err := b.spool.peek(n)
	return batch{events: events, ends: ends}, skipped, err
}

// done removes the first k events of bt, which were written (or dropped).
func (b *backlog) done(bt batch, k int) error {
	if k == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if bt.ends != nil {
		return b.spool.consumed(bt.ends[k-1], k)
	}
	clear(b.mem[b.head : b.head+k]) // let the strings go
	b.head += k
	switch {
	case b.head == len(b.mem):
		b.mem, b.head = b.mem[:0], 0
	case b.head > len(b.mem)/2 && b.head > 1024:
		b.mem = append(b.mem[:0], b.mem[b.head:]...)
		b.head = 0
	}
	return nil
}

// size is how many events wait in memory and in the spool.
func (b *backlog) size() (memory, spooled int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spool != nil {
		spooled = b.spool.pending
	}
	return b.memLen(), spooled
}

// stash moves what is left in memory to the front of the spool, at
// shutdown. It returns how many events the spool keeps for the next start
// and how many could not be kept (all of memory when there is no spool).
func (b *backlog) stash() (kept, lost int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	left := b.mem[b.head:]
	if b.spool == nil {
		return 0, len(left), nil
	}
	kept = len(left) + b.spool.pending
	switch {
	case kept == 0:
		return 0, 0, b.spool.remove()
	case len(left) == 0 && b.spool.read == 0:
		return kept, 0, nil // the file is as it should be
	}
	if err := b.spool.rewrite(left); err != nil {
		return b.spool.pending, len(left), err
	}
	b.mem, b.head = nil, 0
	return kept, 0, nil
}
