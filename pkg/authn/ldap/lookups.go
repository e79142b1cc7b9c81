package ldap

import (
	"sync"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
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
	found   bool
	profile *authn.Attributes // nil until Profile read it
	at      time.Time
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

// profile returns a remembered profile still fresh.
func (l *lookups) profile(name string) (*authn.Attributes, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[name]
	if !ok || e.profile == nil || l.clock().Sub(e.at) >= l.ttl {
		return nil, false
	}
	return e.profile, true
}

// putProfile remembers a user and its profile.
func (l *lookups) putProfile(name string, a *authn.Attributes) {
	l.set(name, lookup{found: true, profile: a})
}

// put remembers an answer; over maxLookups, it starts over.
func (l *lookups) put(name string, found bool) { l.set(name, lookup{found: found}) }

func (l *lookups) set(name string, e lookup) {
	if l.ttl <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxLookups {
		l.m = make(map[string]lookup)
	}
	e.at = l.clock()
	l.m[name] = e
}
