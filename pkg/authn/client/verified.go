package client

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn"
)

// A client's secret is checked with bcrypt once, then remembered for a
// while: a service asking for a token every few seconds must not pay a
// bcrypt comparison (tens of ms) each time. What is remembered is an HMAC,
// under a key that never leaves the process, of the stored hash and the
// secret: never the secret, and a new secret (a new stored hash) or a
// removed client (no stored hash) is a miss at once.
const (
	verifiedTTL = 5 * time.Minute
	maxVerified = 4096
)

// verified remembers the secrets that matched their client's hash.
type verified struct {
	once sync.Once
	key  []byte

	mu   sync.Mutex
	seen map[[sha256.Size]byte]time.Time // expiry of each remembered match
}

// match reports whether secret matches hash, answering from memory when
// it matched within verifiedTTL before now.
func (v *verified) match(hash string, secret authn.Secret, now time.Time) bool {
	k := v.mac(hash, secret)
	v.mu.Lock()
	exp, ok := v.seen[k]
	v.mu.Unlock()
	if ok && now.Before(exp) {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) != nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil || len(v.seen) >= maxVerified {
		v.seen = make(map[[sha256.Size]byte]time.Time) // bounded: start again rather than grow
	}
	v.seen[k] = now.Add(verifiedTTL)
	return true
}

func (v *verified) mac(hash string, secret authn.Secret) [sha256.Size]byte {
	v.once.Do(func() {
		v.key = make([]byte, 32)
		_, _ = rand.Read(v.key)
	})
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}
