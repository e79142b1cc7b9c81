package ldap

import (
	"sync"
	"time"
)

// maxLookups bounds the remembered answers of Exists.
const maxLookups = 10000

// lookups remembers whether names are users, for ttl.
type lookups struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]lookup
}

type lookup struct {
	found bool
	at    time.Time
}

func (l *lookups) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// get returns a remembered answer still fresh.
func (l *lookups) get(name string) (found, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[name]
	if !ok || l.clock().Sub(e.at) >= l.ttl {
		return false, false
	}
	return e.found, true
}

// put remembers an answer; over maxLookups, it starts over.
func (l *lookups) put(name string, found bool) {
	if l.ttl <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxLookups {
		l.m = make(map[string]lookup)
	}
	l.m[name] = lookup{found: found, at: l.clock()}
}
