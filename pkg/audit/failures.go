package audit

import (
	"hash/maphash"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/pkg/store"
)

// Bounds of the failed-login aggregation: what one minute may hold.
const (
	maxFailureAddrs = 4096 // addresses with a row of their own; the rest share one row with ClientIP ""
	maxListedNames  = 5    // names a row lists
	maxCountedNames = 32   // distinct names a row counts; past it, "(+N or more)"
	maxNameBytes    = 64   // a listed name is cut to this
)

// failures aggregates refused logins into one token.denied row per client
// address and minute, so that a password-guessing client makes one row a
// minute, not one per guess. Memory is bounded: maxFailureAddrs rows of
// maxListedNames short names and maxCountedNames hashes each.
type failures struct {
	mu     sync.Mutex
	seed   maphash.Seed
	minute time.Time // the minute counted now (zero: none yet)
	rows   map[string]*failureRow
	other  *failureRow        // addresses past maxFailureAddrs
	ended  []store.AuditEvent // rows of minutes that ended, not yet taken
}

// failureRow is one address's failures in one minute.
type failureRow struct {
	count  int
	listed []string            // the first distinct names tried, cut to maxNameBytes
	seen   map[uint64]struct{} // hashes of the distinct names tried, at most maxCountedNames
	full   bool                // a name went uncounted: seen is at its bound
}

func newFailures() *failures {
	return &failures{seed: maphash.MakeSeed(), rows: map[string]*failureRow{}}
}

// add counts one refused login of name ("" when none was given, as for a
// refresh token) from addr at t.
func (f *failures) add(t time.Time, addr, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll(t)
	row := f.rows[addr]
	if row == nil {
		row = f.newRow(addr)
	}
	row.count++
	if name == "" {
		return
	}
	h := maphash.String(f.seed, name)
	if _, ok := row.seen[h]; ok {
		return
	}
	if len(row.seen) >= maxCountedNames {
		row.full = true
		return
	}
	row.seen[h] = struct{}{}
	if len(row.listed) < maxListedNames {
		row.listed = append(row.listed, cut(name))
	}
}

// newRow makes addr's row, or returns the shared one when the minute
// already holds maxFailureAddrs addresses.
func (f *failures) newRow(addr string) *failureRow {
	if len(f.rows) >= maxFailureAddrs {
		if f.other == nil {
			f.other = &failureRow{seen: map[uint64]struct{}{}}
		}
		return f.other
	}
	row := &failureRow{seen: map[uint64]struct{}{}}
	f.rows[addr] = row
	return row
}

// roll ends the minute counted when t is in a later one.
func (f *failures) roll(t time.Time) {
	m := t.Truncate(time.Minute)
	if !m.After(f.minute) {
		return
	}
	f.ended = append(f.ended, f.events()...)
	clear(f.rows)
	f.other = nil
	f.minute = m
}

// take returns the rows of the minutes that ended before now; with all,
// the minute counted now too (at shutdown).
func (f *failures) take(now time.Time, all bool) []store.AuditEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll(now)
	if all {
		f.ended = append(f.ended, f.events()...)
		clear(f.rows)
		f.other = nil
	}
	out := f.ended
	f.ended = nil
	return out
}

// events are the rows of the minute counted now, by address.
func (f *failures) events() []store.AuditEvent {
	var out []store.AuditEvent
	for _, addr := range slices.Sorted(maps.Keys(f.rows)) {
		out = append(out, f.rows[addr].event(f.minute, addr))
	}
	if f.other != nil {
		out = append(out, f.other.event(f.minute, ""))
	}
	return out
}

// event is the row's audit record: Subject is the name when only one was
// tried; Detail counts the failures and lists the names, as in
// "failed logins: 37; users: alice, bob (+3 more)".
func (r *failureRow) event(minute time.Time, addr string) store.AuditEvent {
	ev := store.AuditEvent{Time: minute, Kind: TokenDenied, ClientIP: addr}
	if len(r.seen) == 1 && !r.full {
		ev.Subject = r.listed[0]
	}
	var b strings.Builder
	b.WriteString("failed logins: ")
	b.WriteString(strconv.Itoa(r.count))
	if len(r.listed) > 0 {
		b.WriteString("; users: ")
		b.WriteString(strings.Join(r.listed, ", "))
	}
	if more := len(r.seen) - len(r.listed); more > 0 || r.full {
		b.WriteString(" (+" + strconv.Itoa(more))
		if r.full {
			b.WriteString(" or more")
		} else {
			b.WriteString(" more")
		}
		b.WriteString(")")
	}
	ev.Detail = b.String()
	return ev
}

// cut shortens a name to maxNameBytes, on a character boundary.
func cut(name string) string {
	if len(name) <= maxNameBytes {
		return name
	}
	end := maxNameBytes
	for end > 0 && !utf8.RuneStart(name[end]) {
		end--
	}
	return name[:end] + "…"
}
