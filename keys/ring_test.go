package keys_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/token"
)

var (
	_ token.Signer = (*keys.Ring)(nil)
	_ token.Signer = (*keys.Holder)(nil)
)

// t0 is an arbitrary fixed start time for state-machine tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// states returns kid → state of every entry.
func states(r *keys.Ring) map[string]keys.State {
	out := map[string]keys.State{}
	for _, e := range r.Entries() {
		out[e.Key.ID()] = e.State
	}
	return out
}

func entry(t *testing.T, r *keys.Ring, kid string) keys.Entry {
	t.Helper()
	for _, e := range r.Entries() {
		if e.Key.ID() == kid {
			return e
		}
	}
	t.Fatalf("no entry %s in ring", kid)
	return keys.Entry{}
}

type jwkSet struct {
	Keys []map[string]any `json:"keys"`
}

func parseJWKS(t *testing.T, r *keys.Ring) jwkSet {
	t.Helper()
	var set jwkSet
	if err := json.Unmarshal(r.JWKS(), &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	return set
}

func jwksKids(t *testing.T, r *keys.Ring) []string {
	t.Helper()
	var kids []string
	for _, k := range parseJWKS(t, r).Keys {
		kids = append(kids, k["kid"].(string))
	}
	slices.Sort(kids)
	return kids
}

func sortedKids(ks ...*keys.Key) []string {
	var kids []string
	for _, k := range ks {
		kids = append(kids, k.ID())
	}
	slices.Sort(kids)
	return kids
}

func TestRingLifecycle(t *testing.T) {
	p := testPolicy
	r0 := newRing(t, t0, p, nil)
	old := r0.Active()
	if got := r0.Entries(); len(got) != 1 || got[0].State != keys.Active || !got[0].CreatedAt.Equal(t0) || !got[0].ActivatesAt.Equal(t0) {
		t.Fatalf("new ring entries %+v", got)
	}

	// Rotate: a pending key is published, the active key still signs.
	tRot := t0.Add(time.Hour)
	r1 := rotate(t, r0, tRot, p)
	if r1 == r0 {
		t.Fatal("Rotate returned the same ring")
	}
	if r1.Active() != old {
		t.Fatal("Rotate changed the active key")
	}
	if len(r0.Entries()) != 1 {
		t.Fatal("Rotate changed the old ring")
	}
	var pending *keys.Key
	for _, e := range r1.Entries() {
		if e.State == keys.Pending {
			pending = e.Key
			if !e.CreatedAt.Equal(tRot) || !e.ActivatesAt.Equal(tRot.Add(p.Prepublish)) {
				t.Fatalf("pending entry times %+v", e)
			}
		}
	}
	if pending == nil {
		t.Fatalf("no pending key: %v", states(r1))
	}
	if got, want := jwksKids(t, r1), sortedKids(old, pending); !slices.Equal(got, want) {
		t.Fatalf("JWKS kids %v, want %v", got, want)
	}
	if k, ok := r1.Lookup(pending.ID()); !ok || k != pending {
		t.Fatal("Lookup misses the pending key")
	}
	checkSignsWith(t, r1, old)

	// Rotating again while a key is pending changes nothing.
	if again, err := r1.Rotate(tRot.Add(time.Minute), p, nil); err != nil || again != r1 {
		t.Fatalf("second Rotate = %p, %v; want the same ring", again, err)
	}

	// Advance before ActivatesAt changes nothing.
	if r := r1.Advance(tRot.Add(p.Prepublish-time.Nanosecond), p); r != r1 {
		t.Fatal("Advance before ActivatesAt changed the ring")
	}

	// Advance after: the new key signs, the old one is retired but published.
	tAct := tRot.Add(p.Prepublish + time.Minute)
	r2 := r1.Advance(tAct, p)
	if r2.Active() != pending {
		t.Fatalf("active after Advance is %v, want %v", r2.Active(), pending)
	}
	want := map[string]keys.State{old.ID(): keys.Retired, pending.ID(): keys.Active}
	if got := states(r2); !mapsEqual(got, want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	ret := entry(t, r2, old.ID())
	wantDrop := tAct.Add(p.MaxTokenLifetime + keys.VerifyLeeway)
	if !ret.RetiredAt.Equal(tAct) || !ret.DropAt.Equal(wantDrop) {
		t.Fatalf("retired entry %+v, want RetiredAt %s DropAt %s", ret, tAct, wantDrop)
	}
	if act := entry(t, r2, pending.ID()); !act.ActivatesAt.Equal(tAct) {
		t.Fatalf("activated entry ActivatesAt %s, want %s", act.ActivatesAt, tAct)
	}
	if got, want := jwksKids(t, r2), sortedKids(old, pending); !slices.Equal(got, want) {
		t.Fatalf("JWKS kids after activation %v, want %v", got, want)
	}
	if k, ok := r2.Lookup(old.ID()); !ok || k != old {
		t.Fatal("Lookup misses the retired key")
	}
	checkSignsWith(t, r2, pending)
	if states(r1)[pending.ID()] != keys.Pending {
		t.Fatal("Advance changed the old ring")
	}

	// Just before DropAt the retired key stays; at DropAt it is dropped.
	if r := r2.Advance(wantDrop.Add(-time.Nanosecond), p); r != r2 {
		t.Fatal("Advance before DropAt changed the ring")
	}
	r3 := r2.Advance(wantDrop, p)
	if got := states(r3); !mapsEqual(got, map[string]keys.State{pending.ID(): keys.Active}) {
		t.Fatalf("states after DropAt %v", got)
	}
	if _, ok := r3.Lookup(old.ID()); ok {
		t.Fatal("Lookup finds a dropped key")
	}
	if got, want := jwksKids(t, r3), sortedKids(pending); !slices.Equal(got, want) {
		t.Fatalf("JWKS kids after drop %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]keys.State) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func checkSignsWith(t *testing.T, s interface {
	Sign(jwt.Claims) (string, error)
}, want *keys.Key) {
	t.Helper()
	raw, err := s.Sign(registryClaims(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	header := verifyWithJWT(t, raw, want)
	if header["kid"] != want.ID() {
		t.Fatalf("kid %v, want %s", header["kid"], want.ID())
	}
}

// With Prepublish 0, a rotation activates at the next Advance at the same time.
func TestRingRotateWithoutPrepublish(t *testing.T) {
	p := testPolicy
	p.Prepublish = 0
	r0 := newRing(t, t0, p, nil)
	r1 := rotate(t, r0, t0.Add(time.Hour), p)
	r2 := r1.Advance(t0.Add(time.Hour), p)
	if r2 == r1 || r2.Active() == r0.Active() {
		t.Fatal("Advance at the rotation time did not activate the new key")
	}
}

func TestRingRotateGenerator(t *testing.T) {
	r0 := newRing(t, t0, testPolicy, nil)
	boom := errors.New("boom")
	if _, err := r0.Rotate(t0, testPolicy, func() (*keys.Key, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Rotate with failing generator: %v, want boom", err)
	}
	if _, err := r0.Rotate(t0, testPolicy, func() (*keys.Key, error) { return r0.Active(), nil }); err == nil {
		t.Fatal("Rotate accepted a key that is already in the ring")
	}
	hmac, err := keys.Generate(keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := r0.Rotate(t0, testPolicy, func() (*keys.Key, error) { return hmac, nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r1.Lookup(hmac.ID()); !ok {
		t.Fatal("generated key not in ring")
	}
	if _, err := r0.Rotate(t0, keys.Policy{}, nil); err == nil {
		t.Fatal("Rotate accepted a policy without MaxTokenLifetime")
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    keys.Policy
		ok   bool
	}{
		{"default", testPolicy, true},
		{"no algorithm means ES256", keys.Policy{MaxTokenLifetime: time.Minute}, true},
		{"no lifetime", keys.Policy{Interval: time.Hour}, false},
		{"negative interval", keys.Policy{Interval: -1, MaxTokenLifetime: time.Minute}, false},
		{"negative prepublish", keys.Policy{Prepublish: -1, MaxTokenLifetime: time.Minute}, false},
		{"bad algorithm", keys.Policy{MaxTokenLifetime: time.Minute, Algorithm: "none"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestRingDue(t *testing.T) {
	p := testPolicy
	r0 := newRing(t, t0, p, nil)
	if r0.Due(t0.Add(p.Interval-time.Nanosecond), p) {
		t.Fatal("due before Interval")
	}
	if !r0.Due(t0.Add(p.Interval), p) {
		t.Fatal("not due at Interval")
	}
	if got := r0.NextChange(p); !got.Equal(t0.Add(p.Interval)) {
		t.Fatalf("NextChange %s, want %s", got, t0.Add(p.Interval))
	}
	tRot := t0.Add(p.Interval)
	r1 := rotate(t, r0, tRot, p)
	if r1.Due(tRot.Add(365*24*time.Hour), p) {
		t.Fatal("due while a key is pending")
	}
	if got := r1.NextChange(p); !got.Equal(tRot.Add(p.Prepublish)) {
		t.Fatalf("NextChange %s, want the pending key's ActivatesAt %s", got, tRot.Add(p.Prepublish))
	}
	tAct := tRot.Add(p.Prepublish)
	r2 := r1.Advance(tAct, p)
	// The new key's age counts from its activation.
	if r2.Due(tAct.Add(p.Interval-time.Nanosecond), p) || !r2.Due(tAct.Add(p.Interval), p) {
		t.Fatal("Due does not count from activation")
	}
	if got, want := r2.NextChange(p), tAct.Add(p.MaxTokenLifetime+keys.VerifyLeeway); !got.Equal(want) {
		t.Fatalf("NextChange %s, want the retired key's DropAt %s", got, want)
	}

	never := p
	never.Interval = 0
	if r0.Due(t0.Add(100*365*24*time.Hour), never) {
		t.Fatal("due with Interval 0 and no CA")
	}
	if got := r0.NextChange(never); !got.IsZero() {
		t.Fatalf("NextChange %s with nothing scheduled", got)
	}
}

// In CA mode a rotation is due before the active key's certificate runs
// out, even without a scheduled interval.
func TestRingDueBeforeCertificateExpires(t *testing.T) {
	p := testPolicy
	p.Interval = 0
	ca, err := keys.NewCA(t0)
	if err != nil {
		t.Fatal(err)
	}
	r := newRing(t, t0, p, ca)
	notAfter := r.Active().Chain()[0].NotAfter
	if r.Due(t0.Add(time.Hour), p) {
		t.Fatal("due right away")
	}
	due := r.NextChange(p)
	if due.IsZero() || !r.Due(due, p) || r.Due(due.Add(-time.Nanosecond), p) {
		t.Fatalf("NextChange %s is not when Due turns true", due)
	}
	// Rotating then leaves time to pre-publish and for old tokens to expire.
	if slack := notAfter.Sub(due); slack < p.Prepublish+p.MaxTokenLifetime+keys.VerifyLeeway {
		t.Fatalf("due only %s before the certificate expires", slack)
	}
}

func TestJWKSContent(t *testing.T) {
	for _, alg := range asymmetricAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			p := testPolicy
			p.Algorithm = alg
			r := newRing(t, t0, p, nil)
			raw := string(r.JWKS())
			set := parseJWKS(t, r)
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS %s", raw)
			}
			k := set.Keys[0]
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := k[private]; ok {
					t.Fatalf("JWKS has private member %q: %s", private, raw)
				}
			}
			if k["kid"] != r.Active().ID() || k["alg"] != alg || k["use"] != "sig" {
				t.Fatalf("JWK %v", k)
			}
			if _, ok := k["x5c"]; ok {
				t.Fatal("x5c without a certificate")
			}
			switch alg {
			case "ES256", "ES384":
				size := map[string]int{"ES256": 32, "ES384": 48}[alg]
				if k["kty"] != "EC" || k["crv"] != map[string]string{"ES256": "P-256", "ES384": "P-384"}[alg] {
					t.Fatalf("JWK %v", k)
				}
				for _, c := range []string{"x", "y"} {
					b, err := base64.RawURLEncoding.DecodeString(k[c].(string))
					if err != nil || len(b) != size {
						t.Fatalf("%s is %d bytes (%v), want %d", c, len(b), err, size)
					}
				}
			case "RS256":
				if k["kty"] != "RSA" || k["n"] == nil || k["e"] != "AQAB" {
					t.Fatalf("JWK %v", k)
				}
			case "EdDSA":
				if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["x"] == nil {
					t.Fatalf("JWK %v", k)
				}
			}
		})
	}
}

func TestJWKSNeverPublishesHMAC(t *testing.T) {
	p := testPolicy
	p.Algorithm = "HS256"
	r := newRing(t, t0, p, nil)
	if got := string(r.JWKS()); got != `{"keys":[]}` {
		t.Fatalf("JWKS of an HMAC ring: %s", got)
	}
	p.Algorithm = "ES256"
	r = rotate(t, r, t0, p)
	if kids := jwksKids(t, r); len(kids) != 1 || kids[0] == r.Active().ID() {
		t.Fatalf("JWKS kids %v: want only the ES256 key", kids)
	}
	// The returned JWKS is a copy.
	b := r.JWKS()
	b[0] = 'x'
	if r.JWKS()[0] != '{' {
		t.Fatal("JWKS returns the ring's own bytes")
	}
}

func TestJWKSWithCertificates(t *testing.T) {
	ca, err := keys.NewCA(t0)
	if err != nil {
		t.Fatal(err)
	}
	r := newRing(t, t0, testPolicy, ca)
	set := parseJWKS(t, r)
	x5c, ok := set.Keys[0]["x5c"].([]any)
	if !ok || len(x5c) != 2 {
		t.Fatalf("x5c %v, want [leaf, CA]", set.Keys[0]["x5c"])
	}
	caDER, err := base64.StdEncoding.DecodeString(x5c[1].(string))
	if err != nil || string(caDER) != string(ca.Certificate().Raw) {
		t.Fatal("second x5c certificate is not the CA's")
	}
}

func TestNewRingWithKey(t *testing.T) {
	k, err := keys.Generate(keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := keys.NewRingWithKey(k, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Active() != k || r.CA() != nil {
		t.Fatal("ring does not hold the key")
	}
	if _, err := keys.NewRingWithKey(nil, t0, nil); err == nil {
		t.Fatal("NewRingWithKey(nil) succeeded")
	}
}

func TestHolder(t *testing.T) {
	var h keys.Holder
	if _, err := h.Sign(registryClaims(time.Now())); !errors.Is(err, keys.ErrNoRing) {
		t.Fatalf("Sign on an empty holder: %v, want ErrNoRing", err)
	}
	p := testPolicy
	p.Prepublish = 0
	r := newRing(t, t0, p, nil)
	h.Store(r)

	// Signers run while rings are swapped; every token verifies with a key
	// of some ring that was stored.
	const signers, perSigner, swaps = 4, 50, 10
	rings := []*keys.Ring{r}
	done := make(chan struct{})
	var wg sync.WaitGroup
	tokens := make(chan string, signers*perSigner)
	for range signers {
		wg.Go(func() {
			for range perSigner {
				raw, err := h.Sign(registryClaims(time.Now()))
				if err != nil {
					t.Error(err)
					return
				}
				tokens <- raw
			}
		})
	}
	go func() {
		defer close(done)
		for i := range swaps {
			now := t0.Add(time.Duration(i+1) * time.Hour)
			next, err := h.Load().Rotate(now, p, nil)
			if err != nil {
				t.Error(err)
				return
			}
			next = next.Advance(now, p)
			rings = append(rings, next)
			h.Store(next)
		}
	}()
	wg.Wait()
	<-done
	close(tokens)
	byKid := map[string]*keys.Key{}
	for _, r := range rings {
		byKid[r.Active().ID()] = r.Active()
	}
	if len(byKid) != swaps+1 {
		t.Fatalf("%d distinct active keys, want %d", len(byKid), swaps+1)
	}
	n := 0
	for raw := range tokens {
		parsed, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		k := byKid[parsed.Header["kid"].(string)]
		if k == nil {
			t.Fatalf("token signed by unknown kid %v", parsed.Header["kid"])
		}
		verifyWithJWT(t, raw, k)
		n++
	}
	if n != signers*perSigner {
		t.Fatalf("%d tokens, want %d", n, signers*perSigner)
	}
}

func BenchmarkHolderSign(b *testing.B) {
	r := newRing(b, time.Now(), testPolicy, nil)
	claims := registryClaims(time.Now())
	var h keys.Holder
	h.Store(r)
	b.Run("Key", func(b *testing.B) {
		k := r.Active()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Sign(claims); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Holder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.Sign(claims); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("HolderParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
