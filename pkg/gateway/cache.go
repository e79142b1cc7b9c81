package gateway

import (
	"sync"
	"time"
)

// Cache remembers decisions (allowed, or authenticated but denied) for a
// few seconds, so that the many requests of a layer upload cost one ACL
// check and no bcrypt. Clear forgets everything at once: what revokes a
// credential, changes a password, removes a user or changes the ACL calls
// it, so that the next request is decided afresh. Safe for concurrent use.
type Cache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	d     Decision
	until time.Time
}

// NewCache returns a cache of at most size decisions kept for ttl; nil
// when ttl is 0 (no cache).
func NewCache(ttl time.Duration, size int) *Cache {
	if ttl <= 0 || size <= 0 {
		return nil
	}
	return &Cache{ttl: ttl, size: size, now: time.Now}
}

func (c *Cache) get(key string) (Decision, bool) {
	if c == nil {
		return Decision{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !c.now().Before(e.until) {
		return Decision{}, false
	}
	return e.d, true
}

func (c *Cache) put(key string, d Decision) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.size {
		c.m = make(map[string]cached, min(c.size, 1024)) // bounded: start over rather than grow
	}
	c.m[key] = cached{d: d, until: c.now().Add(c.ttl)}
}

// Clear forgets every decision.
func (c *Cache) Clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
