package keys

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// VerifyLeeway is how long after a token's exp a registry still accepts it:
// distribution v3.1 registry/auth/token (Leeway). A retired key stays
// published this long after the longest-lived token it signed has expired.
const VerifyLeeway = 60 * time.Second

// ErrNoRing is returned by [Holder.Sign] before a ring is stored.
var ErrNoRing = errors.New("keys: no key ring loaded")

// State is where a key is in its life in a [Ring].
type State string

// The states of a key in a ring. A key goes Pending → Active → Retired and
// is then dropped.
const (
	// Pending keys are published (JWKS) but do not sign yet, so that
	// verifiers that cache the JWKS learn them before the first token.
	Pending State = "pending"
	// Active is the one key that signs.
	Active State = "active"
	// Retired keys no longer sign but stay published until every token they
	// signed has expired (DropAt).
	Retired State = "retired"
)

// Entry is one key of a ring and its schedule.
type Entry struct {
	Key   *Key
	State State
	// CreatedAt is when the key was added to the ring.
	CreatedAt time.Time
	// ActivatesAt is, for a pending key, the earliest time [Ring.Advance]
	// makes it active; for an active or retired key, when it became active.
	ActivatesAt time.Time
	// RetiredAt is when the key stopped signing; zero unless Retired.
	RetiredAt time.Time
	// DropAt is when a retired key leaves the ring: RetiredAt + the
	// maximum token lifetime + [VerifyLeeway]; zero unless Retired.
	DropAt time.Time
}

// Policy says when keys rotate.
type Policy struct {
	// Interval is how long a key signs before the next scheduled rotation
	// is due (see [Ring.Due]); a key then signs for about Interval +
	// Prepublish. Zero: no scheduled rotation.
	Interval time.Duration
	// Prepublish is how long a new key is published before it signs: at
	// least how long verifiers cache the JWKS. Zero activates a rotation
	// at the next [Ring.Advance], which is right when verifiers trust the
	// key through its certificate (CA mode), not through the JWKS.
	Prepublish time.Duration
	// MaxTokenLifetime is the longest lifetime of any token the ring signs;
	// retired keys are kept this long plus [VerifyLeeway]. Must be positive.
	MaxTokenLifetime time.Duration
	// Algorithm of new keys, as in [Options]; empty means ES256.
	Algorithm string
	// X5C is when the ring's keys send their certificate chain, as in
	// [Options]; empty means X5CAlways. Under X5CAuto, keys certified by
	// the ring's CA send it.
	X5C string
}

// Validate reports what is wrong with the policy, if anything.
func (p Policy) Validate() error {
	_, err := p.resolve()
	return err
}

func (p Policy) resolve() (Policy, error) {
	var problems []error
	if p.Interval < 0 {
		problems = append(problems, fmt.Errorf("rotation interval %s is negative", p.Interval))
	}
	if p.Prepublish < 0 {
		problems = append(problems, fmt.Errorf("pre-publication %s is negative", p.Prepublish))
	}
	if p.MaxTokenLifetime <= 0 {
		problems = append(problems, fmt.Errorf("maximum token lifetime %s is not positive", p.MaxTokenLifetime))
	}
	opts, err := Options{Algorithm: p.Algorithm, X5C: p.X5C}.resolve()
	if err != nil {
		problems = append(problems, err)
	}
	p.Algorithm, p.X5C = opts.Algorithm, opts.X5C
	if len(problems) > 0 {
		return p, fmt.Errorf("keys: rotation policy: %w", errors.Join(problems...))
	}
	return p, nil
}

// Ring is an immutable set of signing keys: exactly one active key, keys
// published ahead of activation and retired keys kept for verification. The
// state transitions ([Ring.Rotate], [Ring.Advance]) return new rings and take
// the time as an argument. A Ring is safe for concurrent use; a server keeps
// the current one in a [Holder].
type Ring struct {
	entries []Entry // by CreatedAt
	active  *Key
	byKid   map[string]*Key
	jwks    []byte
	ca      *CA
}

// NewRing makes a ring with one new active key of policy.Algorithm. With a
// CA, the key gets a certificate from it ([CA.Issue]) and the ring keeps
// the CA to certify the keys of later rotations.
func NewRing(now time.Time, policy Policy, ca *CA) (*Ring, error) {
	policy, err := policy.resolve()
	if err != nil {
		return nil, err
	}
	k, err := generateFor(ca, now, policy)
	if err != nil {
		return nil, err
	}
	return NewRingWithKey(k, now, ca)
}

// NewRingWithKey makes a ring whose only key, k, is active since now: for a
// key loaded from files ([Load]). ca may be nil; when set, later rotations
// certify their keys with it.
func NewRingWithKey(k *Key, now time.Time, ca *CA) (*Ring, error) {
	if k == nil {
		return nil, errors.New("keys: NewRingWithKey: no key")
	}
	now = normalize(now)
	return newRing([]Entry{{Key: k, State: Active, CreatedAt: now, ActivatesAt: now}}, ca)
}

// newRing checks entries and assembles a ring.
func newRing(entries []Entry, ca *CA) (*Ring, error) {
	active := 0
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e.Key == nil {
			return nil, errors.New("keys: ring entry without a key")
		}
		if seen[e.Key.ID()] {
			return nil, fmt.Errorf("keys: ring holds key %s twice", e.Key.ID())
		}
		seen[e.Key.ID()] = true
		switch e.State {
		case Active:
			active++
		case Pending:
		case Retired:
			if e.DropAt.IsZero() {
				return nil, fmt.Errorf("keys: retired key %s has no drop time", e.Key.ID())
			}
		default:
			return nil, fmt.Errorf("keys: key %s has unknown state %q", e.Key.ID(), e.State)
		}
	}
	if active != 1 {
		return nil, fmt.Errorf("keys: a ring needs exactly one active key, found %d", active)
	}
	return assemble(entries, ca), nil
}

// assemble builds a ring from entries that are known to be valid.
func assemble(entries []Entry, ca *CA) *Ring {
	entries = slices.Clone(entries)
	slices.SortStableFunc(entries, func(a, b Entry) int { return a.CreatedAt.Compare(b.CreatedAt) })
	r := &Ring{entries: entries, byKid: make(map[string]*Key, len(entries)), ca: ca}
	for _, e := range entries {
		r.byKid[e.Key.ID()] = e.Key
		if e.State == Active {
			r.active = e.Key
		}
	}
	r.jwks = buildJWKS(entries)
	return r
}

// Active returns the key that signs.
func (r *Ring) Active() *Key { return r.active }

// CA returns the ring's certificate authority, or nil when keys have no
// certificates.
func (r *Ring) CA() *CA { return r.ca }

// Entries returns every key of the ring with its state, oldest first.
func (r *Ring) Entries() []Entry { return slices.Clone(r.entries) }

// Lookup returns the key with that kid, whatever its state: for verifying
// tokens locally.
func (r *Ring) Lookup(kid string) (*Key, bool) {
	k, ok := r.byKid[kid]
	return k, ok
}

// JWKS returns the ring's public keys as an RFC 7517 JWK Set: pending,
// active and retired keys, never an HMAC secret.
func (r *Ring) JWKS() []byte { return slices.Clone(r.jwks) }

// Sign signs claims with the active key (see [Key.Sign]).
func (r *Ring) Sign(claims jwt.Claims) (string, error) { return r.active.Sign(claims) }

func (r *Ring) pending() (Entry, bool) {
	for _, e := range r.entries {
		if e.State == Pending {
			return e, true
		}
	}
	return Entry{}, false
}

func (r *Ring) activeEntry() Entry {
	for _, e := range r.entries {
		if e.State == Active {
			return e
		}
	}
	panic("keys: ring without an active key")
}

// Rotate returns a new ring with a new pending key that activates at now +
// policy.Prepublish (at the first [Ring.Advance] from then on). If a key is
// already pending, it returns r itself and nothing changes. gen makes the
// key; nil means a new key of policy.Algorithm, certified by the ring's CA
// if it has one.
func (r *Ring) Rotate(now time.Time, policy Policy, gen func() (*Key, error)) (*Ring, error) {
	policy, err := policy.resolve()
	if err != nil {
		return nil, err
	}
	if _, ok := r.pending(); ok {
		return r, nil
	}
	now = normalize(now)
	if gen == nil {
		gen = func() (*Key, error) { return generateFor(r.ca, now, policy) }
	}
	k, err := gen()
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, errors.New("keys: rotate: the generator returned no key")
	}
	if _, dup := r.byKid[k.ID()]; dup {
		return nil, fmt.Errorf("keys: rotate: key %s is already in the ring", k.ID())
	}
	entries := append(r.Entries(), Entry{
		Key:         k,
		State:       Pending,
		CreatedAt:   now,
		ActivatesAt: now.Add(policy.Prepublish),
	})
	return newRing(entries, r.ca)
}

// Advance returns the ring as it is at now: a pending key whose ActivatesAt
// has come becomes active (ActivatesAt = now) and the active key retires
// (RetiredAt = now, DropAt = now + policy.MaxTokenLifetime + VerifyLeeway);
// retired keys whose DropAt has come are dropped. If nothing changes, it
// returns r itself, so a caller can skip storing it.
func (r *Ring) Advance(now time.Time, policy Policy) *Ring {
	now = normalize(now)
	entries := r.Entries()
	changed := false
	if p, ok := r.pending(); ok && !p.ActivatesAt.After(now) {
		for i := range entries {
			switch entries[i].State {
			case Active:
				entries[i].State = Retired
				entries[i].RetiredAt = now
				entries[i].DropAt = now.Add(max(policy.MaxTokenLifetime, 0) + VerifyLeeway)
			case Pending:
				entries[i].State = Active
				entries[i].ActivatesAt = now
			}
		}
		changed = true
	}
	kept := entries[:0]
	for _, e := range entries {
		if e.State == Retired && !e.DropAt.After(now) {
			changed = true
			continue
		}
		kept = append(kept, e)
	}
	if !changed {
		return r
	}
	return assemble(kept, r.ca)
}

// Due reports whether a scheduled rotation is due at now: no key is pending
// and the active key has signed for policy.Interval or more, or (CA mode)
// its certificate would expire before a rotation started now completes,
// with a margin.
func (r *Ring) Due(now time.Time, policy Policy) bool {
	if _, ok := r.pending(); ok {
		return false
	}
	deadline, ok := r.dueAt(policy)
	return ok && !now.Before(deadline)
}

// dueAt is when the next scheduled rotation is due, if ever.
func (r *Ring) dueAt(policy Policy) (time.Time, bool) {
	active := r.activeEntry()
	var due time.Time
	if policy.Interval > 0 {
		due = active.ActivatesAt.Add(policy.Interval)
	}
	if r.ca != nil && len(active.Key.chain) > 0 {
		need := max(policy.Prepublish, 0) + max(policy.MaxTokenLifetime, 0) + VerifyLeeway + certMargin(policy)/2
		certDue := active.Key.chain[0].NotAfter.Add(-need)
		if due.IsZero() || certDue.Before(due) {
			due = certDue
		}
	}
	return due, !due.IsZero()
}

// NextChange returns the earliest time after which [Ring.Advance] or
// [Ring.Due] give another answer than now: a pending key's ActivatesAt, a
// retired key's DropAt or when a rotation becomes due. Zero means never. A
// server can sleep until then.
func (r *Ring) NextChange(policy Policy) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, e := range r.entries {
		switch e.State {
		case Pending:
			consider(e.ActivatesAt)
		case Retired:
			consider(e.DropAt)
		}
	}
	if _, ok := r.pending(); !ok {
		if due, ok := r.dueAt(policy); ok {
			consider(due)
		}
	}
	return next
}

// generateFor makes a key for policy: certified by ca when set.
func generateFor(ca *CA, now time.Time, policy Policy) (*Key, error) {
	if ca != nil {
		return ca.Issue(now, policy)
	}
	return Generate(Options{Algorithm: policy.Algorithm})
}

// normalize drops the monotonic clock reading and the zone, so that times
// compare and serialize the same after a round trip through storage.
func normalize(t time.Time) time.Time { return t.Round(0).UTC() }

// Holder holds the current ring for lock-free signing: the server stores a
// new ring after each rotation while requests keep signing.
type Holder struct {
	atomic.Pointer[Ring]
}

// Sign signs claims with the active key of the current ring; ErrNoRing if
// none is stored.
func (h *Holder) Sign(claims jwt.Claims) (string, error) {
	r := h.Load()
	if r == nil {
		return "", ErrNoRing
	}
	return r.Sign(claims)
}

// ID is the kid of the active key ("" without a ring): what a token
// signed now names.
func (h *Holder) ID() string {
	if r := h.Load(); r != nil {
		return r.Active().ID()
	}
	return ""
}

// Algorithm is the algorithm of the active key (every key of a ring uses
// the policy's algorithm), so a Holder can stand where one key is expected.
func (h *Holder) Algorithm() string {
	if r := h.Load(); r != nil {
		return r.Active().Algorithm()
	}
	return ""
}

// VerificationKey is the active key's; prefer VerificationKeyFor, which
// also finds pending and retired keys.
func (h *Holder) VerificationKey() any {
	if r := h.Load(); r != nil {
		return r.Active().VerificationKey()
	}
	return nil
}

// VerificationKeyFor returns the verification key of the ring's key kid
// (pending, active or retired), or ErrNoRing / an unknown-key error.
func (h *Holder) VerificationKeyFor(kid string) (any, error) {
	r := h.Load()
	if r == nil {
		return nil, ErrNoRing
	}
	k, ok := r.Lookup(kid)
	if !ok {
		return nil, fmt.Errorf("keys: no key %q in the ring", kid)
	}
	return k.VerificationKey(), nil
}
