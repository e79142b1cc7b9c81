package authn

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash"
	"strings"
	"sync"
	"time"
)

// Cache remembers successful authentications for a while, so that a
// registry client asking for a token on every pull does not pay a bcrypt
// comparison (50-80 ms at cost 10) each time.
//
// Only successes are cached. Entries are keyed by HMAC-SHA256, under a random
// key made by NewCache that never leaves the process, of the username, a zero
// byte and the secret: neither the secret nor a plain hash of it is kept.
// When the inner backend is Versioned, an entry made under another version
// is a miss, so a password change or a removed user takes effect on the next
// request. Backends that are not Versioned are trusted for up to the ttl.
//
// Concurrent cold requests with the same username and secret share one call
// to the inner backend; requests with different secrets never share one.
type Cache struct {
	// Observe, when set before the Cache is used, is told for each
	// Authenticate whether it was answered from the cache (hit) or not
	// (miss: the inner backend ran, another caller's call with the same
	// credentials was waited for, or caching is off), for metrics. It must
	// be cheap and safe for concurrent use.
	Observe func(hit bool)

	inner     Authenticator
	versioned Versioned // inner, when it is Versioned
	ttl       time.Duration
	max       int
	now       func() time.Time
	macs      sync.Pool // of hash.Hash, HMAC-SHA256 under the cache's key

	mu      sync.Mutex
	entries map[cacheKey]*list.Element // Value is *entry
	order   *list.List                 // oldest first; one ttl for all, so also first to expire
	flights map[flightKey]*flight
}

var (
	_ Authenticator = (*Cache)(nil)
	_ Lookup        = (*Cache)(nil)
	_ Versioned     = (*Cache)(nil)
)

type cacheKey [sha256.Size]byte

// flightKey names one call to the inner backend: the same credentials
// against the same version of its data.
type flightKey struct {
	key     cacheKey
	version uint64
}

type entry struct {
	key     cacheKey
	id      Identity
	expires time.Time
	version uint64
}

// flight is one call to the inner backend that other callers with the same
// key may wait for. id and err are written before done is closed.
type flight struct {
	done    chan struct{}
	id      Identity
	err     error
	waiters int // callers sharing it besides the one running it; guarded by Cache.mu
}

// errAbandoned is what waiting callers see if the inner backend panicked.
var errAbandoned = errors.New("authn: backend call did not complete")

// NewCache wraps inner with a cache of at most maxEntries verified
// credentials, each kept for ttl. A ttl or maxEntries of zero or less turns
// caching off: every call goes to inner.
func NewCache(inner Authenticator, ttl time.Duration, maxEntries int) *Cache {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (it crashes the program instead)
	c := &Cache{
		inner:   inner,
		ttl:     ttl,
		max:     maxEntries,
		now:     time.Now,
		entries: make(map[cacheKey]*list.Element),
		order:   list.New(),
		flights: make(map[flightKey]*flight),
	}
	c.versioned, _ = inner.(Versioned)
	c.macs.New = func() any { return hmac.New(sha256.New, key) }
	return c
}

// Authenticate answers from the cache when it can and asks inner otherwise.
func (c *Cache) Authenticate(ctx context.Context, username string, secret Secret) (Identity, error) {
	if c.ttl <= 0 || c.max <= 0 || strings.IndexByte(username, 0) >= 0 {
		// A NUL in the name would make the key ambiguous; such names skip the cache.
		c.observe(false)
		return c.inner.Authenticate(ctx, username, secret)
	}
	key := c.keyFor(username, secret)
	for first := true; ; first = false {
		fk := flightKey{key: key, version: c.Version()}
		id, f, leader := c.start(fk)
		if first {
			c.observe(f == nil)
		}
		if f == nil {
			return id, nil
		}
		if leader {
			return c.run(ctx, fk, f, username, secret)
		}
		id, retry, err := f.wait(ctx)
		if !retry {
			return id, err
		}
	}
}

func (c *Cache) observe(hit bool) {
	if c.Observe != nil {
		c.Observe(hit)
	}
}

// Exists asks inner, never the cache. It returns ErrLookupUnsupported when
// inner cannot look users up.
func (c *Cache) Exists(ctx context.Context, username string) (bool, error) {
	l, ok := c.inner.(Lookup)
	if !ok {
		return false, ErrLookupUnsupported
	}
	return l.Exists(ctx, username)
}

// Version is inner's version, or 0 when inner is not Versioned.
func (c *Cache) Version() uint64 {
	if c.versioned == nil {
		return 0
	}
	return c.versioned.Version()
}

// keyFor is HMAC-SHA256(username || 0x00 || secret) under the cache's key.
func (c *Cache) keyFor(username string, secret Secret) cacheKey {
	h := c.macs.Get().(hash.Hash)
	defer c.macs.Put(h)
	h.Reset()
	buf := make([]byte, 0, len(username)+1+len(secret))
	buf = append(append(append(buf, username...), 0), secret...)
	h.Write(buf)
	clear(buf)
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// start returns the cached identity (f == nil), a flight to wait for, or a
// new flight that the caller must run (leader).
func (c *Cache) start(fk flightKey) (id Identity, f *flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.getLocked(fk); ok {
		return id, nil, false
	}
	if f, ok := c.flights[fk]; ok {
		f.waiters++
		return Identity{}, f, false
	}
	f = &flight{done: make(chan struct{}), err: errAbandoned}
	c.flights[fk] = f
	return Identity{}, f, true
}

// run calls inner for a flight and lands it, even if inner panics.
func (c *Cache) run(ctx context.Context, fk flightKey, f *flight, username string, secret Secret) (Identity, error) {
	defer c.land(fk, f)
	f.id, f.err = c.inner.Authenticate(ctx, username, secret)
	return f.id, f.err
}

// land caches a successful flight and releases its waiters.
func (c *Cache) land(fk flightKey, f *flight) {
	c.mu.Lock()
	delete(c.flights, fk)
	if f.err == nil {
		c.putLocked(fk, f.id)
	}
	c.mu.Unlock()
	close(f.done)
}

// wait blocks until the flight lands or ctx ends. retry reports that the
// leader's own context ended while ours has not: the caller should try again
// rather than fail for someone else's cancellation.
func (f *flight) wait(ctx context.Context) (id Identity, retry bool, err error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return Identity{}, false, ctx.Err()
	}
	if isContextErr(f.err) && ctx.Err() == nil {
		return Identity{}, true, nil
	}
	return f.id, false, f.err
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// getLocked returns a live entry for fk, dropping it if it is stale.
func (c *Cache) getLocked(fk flightKey) (Identity, bool) {
	el, ok := c.entries[fk.key]
	if !ok {
		return Identity{}, false
	}
	e := el.Value.(*entry)
	if e.version != fk.version || !c.now().Before(e.expires) {
		c.removeLocked(el)
		return Identity{}, false
	}
	return e.id, true
}

// putLocked adds an entry, first making room: expired entries go first and,
// if the cache is still full, the oldest ones.
func (c *Cache) putLocked(fk flightKey, id Identity) {
	if el, ok := c.entries[fk.key]; ok {
		c.removeLocked(el)
	}
	now := c.now()
	c.evictLocked(now)
	e := &entry{key: fk.key, id: id, expires: now.Add(c.ttl), version: fk.version}
	c.entries[fk.key] = c.order.PushBack(e)
}

// evictLocked drops entries from the old end while they are expired or the
// cache is full. Entries are in insertion order and share one ttl, so the
// oldest entry is also the first to expire: each entry is dropped once, which
// makes eviction O(1) amortised.
func (c *Cache) evictLocked(now time.Time) {
	for el := c.order.Front(); el != nil; el = c.order.Front() {
		e := el.Value.(*entry)
		if c.order.Len() < c.max && now.Before(e.expires) {
			return
		}
		c.removeLocked(el)
	}
}

func (c *Cache) removeLocked(el *list.Element) {
	delete(c.entries, el.Value.(*entry).key)
	c.order.Remove(el)
}
