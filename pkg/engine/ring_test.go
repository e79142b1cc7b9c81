package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/engine"
)

// TestTokensSignedByARotatingRing: with engine.signing keys and the key
// ring, a token minted before a rotation still verifies (its key is
// retired, not gone) and new tokens use the new key; a key from another
// ring is refused.
func TestTokensSignedByARotatingRing(t *testing.T) {
	now := time.Now()
	policy := keys.Policy{Interval: time.Hour, MaxTokenLifetime: time.Hour, Algorithm: "ES256"}
	ring, err := keys.NewRing(now, policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	holder := &keys.Holder{}
	holder.Store(ring)
	tokens := &engine.Tokens{Issuer: "tollgate-engine", TTL: time.Hour, Key: holder, Now: func() time.Time { return now }}
	alice := authn.Identity{Name: "alice", Source: "htpasswd", AccountID: "acct-alice"}

	before, err := tokens.Mint(alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := ring.Rotate(now, policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	holder.Store(rotated.Advance(now, policy))
	if holder.Load().Active().ID() == ring.Active().ID() {
		t.Fatal("rotation did not change the active key")
	}
	after, err := tokens.Mint(alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]engine.Token{"before the rotation": before, "after it": after} {
		if v, err := tokens.Verify(tok.Raw); err != nil || v.Identity.Name != "alice" {
			t.Errorf("token minted %s: %v, %v; want alice", name, v, err)
		}
	}

	stranger, err := keys.NewRing(now, policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := &keys.Holder{}
	other.Store(stranger)
	foreign, err := (&engine.Tokens{Issuer: "tollgate-engine", TTL: time.Hour, Key: other, Now: func() time.Time { return now }}).Mint(alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(foreign.Raw); !errors.Is(err, engine.ErrInvalidToken) {
		t.Errorf("a token of another ring: err = %v, want ErrInvalidToken", err)
	}
}
