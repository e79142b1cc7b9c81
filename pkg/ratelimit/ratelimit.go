package ratelimit

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Budget is a bucket of Burst failures that refills at PerMinute failures a
// minute. The zero Budget is disabled: it never refuses.
type Budget struct {
	PerMinute float64
	Burst     int
}

// Enabled reports whether the budget limits anything.
func (b Budget) Enabled() bool { return b.PerMinute > 0 && b.Burst > 0 }

func (b Budget) limit() rate.Limit { return rate.Limit(b.PerMinute / 60) }

// sweepEvery is how often Fail drops the buckets that have refilled.
const sweepEvery = time.Minute

// Keyed is a failure budget per key. It remembers a key only while its
// bucket is not full (a full bucket is what a new key gets anyway), so
// forgetting refilled keys loses nothing; and it remembers at most max keys,
// forgetting the least recently failed one first when a new key fails, so
// a caller rotating through names or addresses cannot grow it without
// bound. A Keyed is safe for concurrent use.
//
// A burst of concurrent attempts is all allowed while the bucket holds a
// token, and every one of them that fails is charged: the bucket goes into
// debt and stays shut until time has paid it back, so over any stretch of
// time the failures a key can cause stay within the budget plus one such
// burst.
type Keyed struct {
	budget Budget
	max    int
	now    func() time.Time

	mu        sync.Mutex
	buckets   map[string]*list.Element // Value is *bucket
	order     *list.List               // least recently failed at the back
	lastSweep time.Time
}

type bucket struct {
	key string
	lim *rate.Limiter
}

// New returns a Keyed budget remembering at most maxKeys keys (at least 1).
// now is the clock; nil means time.Now. A disabled budget allows everything
// and remembers nothing.
func New(b Budget, maxKeys int, now func() time.Time) *Keyed {
	if now == nil {
		now = time.Now
	}
	return &Keyed{budget: b, max: max(maxKeys, 1), now: now, buckets: map[string]*list.Element{}, order: list.New()}
}

// Allow reports whether key's bucket holds a token; when it does not, it
// also returns how long until it will. It spends nothing.
func (k *Keyed) Allow(key string) (ok bool, retryAfter time.Duration) {
	if !k.budget.Enabled() {
		return true, 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	el, found := k.buckets[key]
	if !found {
		return true, 0 // a full bucket
	}
	tokens := el.Value.(*bucket).lim.TokensAt(k.now())
	if tokens >= 1 {
		return true, 0
	}
	seconds := (1 - tokens) / float64(k.budget.limit())
	return false, time.Duration(math.Ceil(seconds * float64(time.Second)))
}

// Fail spends one token of key's bucket, going into debt when it is empty.
func (k *Keyed) Fail(key string) {
	if !k.budget.Enabled() {
		return
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.lastSweep) >= sweepEvery {
		k.sweep(now)
	}
	el, found := k.buckets[key]
	if found {
		k.order.MoveToFront(el)
	} else {
		for len(k.buckets) >= k.max {
			k.remove(k.order.Back())
		}
		el = k.order.PushFront(&bucket{key: key, lim: rate.NewLimiter(k.budget.limit(), k.budget.Burst)})
		k.buckets[key] = el
	}
	// Never refused (maxFutureReserve is unbounded, n ≤ burst): the
	// reservation is the debt.
	el.Value.(*bucket).lim.ReserveN(now, 1)
}

// Len is how many keys are remembered.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// sweep forgets every key whose bucket has refilled. k.mu is held.
func (k *Keyed) sweep(now time.Time) {
	k.lastSweep = now
	burst := float64(k.budget.Burst)
	for el := k.order.Back(); el != nil; {
		prev := el.Prev()
		if el.Value.(*bucket).lim.TokensAt(now) >= burst {
			k.remove(el)
		}
		el = prev
	}
}

func (k *Keyed) remove(el *list.Element) {
	delete(k.buckets, el.Value.(*bucket).key)
	k.order.Remove(el)
}

// AddrKey is the key of a client address: the address itself for IPv4,
// and its /64 for IPv6, since one IPv6 host usually holds a whole /64 and
// could otherwise spend a fresh budget per address. An unknown (zero)
// address has a key of its own.
func AddrKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is6():
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
