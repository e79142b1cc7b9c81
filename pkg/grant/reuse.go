package grant

import (
	"container/list"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/token"
)

// Reuse keeps the registry tokens minted within a window (token.reuse_window)
// so that an identical grant — the same identity (subject, account, role,
// credential, password epoch, revoke-tokens time, groups, labels), audience,
// granted access and signing key — gets the token already minted instead
// of a new signature. The request is authenticated and authorized afresh
// every time: only the signature is saved. Its memory is bounded (LRU of
// Size tokens); Clear empties it at once (a reload, a key rotation, a
// change of users or accounts).
type Reuse struct {
	window time.Duration
	size   int

	mu      sync.Mutex
	entries map[string]*list.Element // Value is *reused
	order   *list.List               // least recently used first
}

type reused struct {
	key    string
	tok    token.Token
	minted time.Time
}

// NewReuse returns a reuse cache of at most size tokens, each reused for
// window after it was minted; nil when window is 0 (off).
func NewReuse(window time.Duration, size int) *Reuse {
	if window <= 0 || size < 1 {
		return nil
	}
	return &Reuse{window: window, size: size, entries: map[string]*list.Element{}, order: list.New()}
}

// get returns the token kept under key if it was minted within the window
// before now.
func (r *Reuse) get(key string, now time.Time) (token.Token, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.entries[key]
	if !ok {
		return token.Token{}, false
	}
	e := el.Value.(*reused)
	if now.Sub(e.minted) >= r.window || !now.Before(e.tok.ExpiresAt) {
		r.removeLocked(el)
		return token.Token{}, false
	}
	r.order.MoveToBack(el)
	return e.tok, true
}

// put keeps tok, minted at now, under key, evicting the least recently
// used token beyond the size.
func (r *Reuse) put(key string, tok token.Token, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.entries[key]; ok {
		r.removeLocked(el)
	}
	r.entries[key] = r.order.PushBack(&reused{key: key, tok: tok, minted: now})
	for r.order.Len() > r.size {
		r.removeLocked(r.order.Front())
	}
}

// Clear forgets every token.
func (r *Reuse) Clear() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.entries)
	r.order.Init()
}

// Len is the number of tokens kept.
func (r *Reuse) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.order.Len()
}

func (r *Reuse) removeLocked(el *list.Element) {
	delete(r.entries, el.Value.(*reused).key)
	r.order.Remove(el)
}

// keyIdentifier is a signer that names the key it signs with (keys.Key,
// keys.Holder: the ring's active key).
type keyIdentifier interface{ ID() string }

// reuseKey is what makes two grants identical: everything the token says,
// the password epoch it was proved with, and the signing key. Fields are
// separated by a byte no name, scope or ID holds.
func reuseKey(req Request, granted []scope.Scope, kid string) string {
	id := req.Identity
	var b strings.Builder
	b.Grow(128 + 32*len(granted))
	for _, f := range [...]string{kid, req.Service, id.Kind, id.Name, id.AccountID, id.Role, id.Source, id.TokenID, id.Epoch} {
		b.WriteString(f)
		b.WriteByte(0)
	}
	b.WriteString(strconv.FormatInt(id.NotBefore.Unix(), 10))
	b.WriteByte(0)
	for _, g := range id.Groups() {
		b.WriteString(g)
		b.WriteByte(1)
	}
	b.WriteByte(0)
	writeMap(&b, id.Labels())
	if id.Attrs != nil {
		b.WriteByte(0)
		b.WriteString(id.Attrs.Policy)
		b.WriteByte(0)
		writeMap(&b, id.Attrs.Claims)
	}
	for _, s := range granted {
		b.WriteByte(0)
		s.WriteResource(&b)
		for _, a := range s.Actions {
			b.WriteByte(1)
			b.WriteString(a)
		}
	}
	return b.String()
}

// writeMap writes m's entries in key order, each "key 2 value 1".
func writeMap(b *strings.Builder, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k)
		b.WriteByte(2)
		b.WriteString(m[k])
		b.WriteByte(1)
	}
}
