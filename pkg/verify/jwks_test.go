package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/verify"
)

func TestJWKSVerifiesEveryKeyType(t *testing.T) {
	c := newClock()
	var ks []map[string]any
	var signers = map[string]string{}
	for _, alg := range []string{"ES256", "ES384", "RS256", "EdDSA"} {
		k := generate(t, alg)
		ks = append(ks, jwkOf(t, k.ID(), k.Public()))
		signers[alg] = sign(t, k, claimsAt(c.Now()))
	}
	srv := newJWKSServer(t, ks...)
	v := newVerifier(t, jwksOptions(srv, c))
	for alg, raw := range signers {
		got, err := v.Verify(context.Background(), raw)
		if err != nil || got.Algorithm != alg {
			t.Errorf("%s: Verify = %+v, %v", alg, got, err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1", n)
	}
}

func TestJWKSUnknownKidTriggersOneRefresh(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	srv := newJWKSServer(t, jwkOf(t, k.ID(), k.Public()))
	v := newVerifier(t, jwksOptions(srv, c))
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, k, claimsAt(c.Now()))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	stranger := sign(t, generate(t, "ES256"), claimsAt(c.Now()))

	// Within 30 s of the last fetch an unknown kid does not fetch.
	c.Advance(29 * time.Second)
	if _, err := v.Verify(ctx, stranger); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("Verify = %v, want ErrUnknownKey", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches after unknown kid within 30 s = %d, want 1", n)
	}
	// After it, one fetch, and the kid is still unknown.
	c.Advance(2 * time.Second)
	for range 3 {
		if _, err := v.Verify(ctx, stranger); !errors.Is(err, verify.ErrUnknownKey) {
			t.Fatalf("Verify = %v, want ErrUnknownKey", err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
}

func TestJWKSFloodOfUnknownKids(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	srv := newJWKSServer(t, jwkOf(t, k.ID(), k.Public()))
	srv.set(func(s *jwksServer) { s.delay = 20 * time.Millisecond }) // let the flood overlap the fetch
	v := newVerifier(t, jwksOptions(srv, c))
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, k, claimsAt(c.Now()))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	c.Advance(31 * time.Second)
	bogus := sign(t, generate(t, "ES256"), claimsAt(c.Now()))
	parts := strings.SplitN(bogus, ".", 2)

	var wg sync.WaitGroup
	errs := make([]error, 100)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each token names its own made-up kid (the header changes, so
			// the signature would not match either).
			hdr := fmt.Sprintf(`{"alg":"ES256","typ":"JWT","kid":"bogus-%d"}`, i)
			raw := b64url(hdr) + "." + parts[1]
			_, errs[i] = v.Verify(ctx, raw)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, verify.ErrUnknownKey) {
			t.Fatalf("token %d: Verify = %v, want ErrUnknownKey", i, err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (the first and at most one refresh)", n)
	}
}

func TestJWKSConcurrentFirstUseSharesOneFetch(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	srv := newJWKSServer(t, jwkOf(t, k.ID(), k.Public()))
	srv.set(func(s *jwksServer) { s.delay = 20 * time.Millisecond })
	v := newVerifier(t, jwksOptions(srv, c))
	raw := sign(t, k, claimsAt(c.Now()))
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(context.Background(), raw); err != nil {
				t.Errorf("Verify: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
}

func TestJWKSKeyRotation(t *testing.T) {
	c := newClock()
	oldKey, newKey := generate(t, "ES256"), generate(t, "EdDSA")
	srv := newJWKSServer(t, jwkOf(t, oldKey.ID(), oldKey.Public()))
	v := newVerifier(t, jwksOptions(srv, c))
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, oldKey, claimsAt(c.Now()))); err != nil {
		t.Fatalf("old key: %v", err)
	}
	// The server publishes the new key and starts signing with it.
	srv.set(func(s *jwksServer) { s.keys = append(s.keys, jwkOf(t, newKey.ID(), newKey.Public())) })
	c.Advance(31 * time.Second)
	if _, err := v.Verify(ctx, sign(t, newKey, claimsAt(c.Now()))); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	if _, err := v.Verify(ctx, sign(t, oldKey, claimsAt(c.Now()))); err != nil {
		t.Fatalf("old key after rotation: %v", err)
	}
	// The old key is retired: after the next periodic refresh it is gone.
	srv.set(func(s *jwksServer) { s.keys = s.keys[1:] })
	c.Advance(16 * time.Minute)
	if _, err := v.Verify(ctx, sign(t, oldKey, claimsAt(c.Now()))); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("retired key: %v, want ErrUnknownKey", err)
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
}

func TestJWKSPeriodicRefreshHonoursMaxAge(t *testing.T) {
	tests := []struct {
		cacheControl string
		period       time.Duration
	}{
		{"", 15 * time.Minute},
		{"public, max-age=120", 2 * time.Minute},
		{"max-age=1", time.Minute},                // raised to the lower bound
		{"max-age=9999999", 24 * time.Hour},       // lowered to the upper bound
		{"no-cache, max-age=x", 15 * time.Minute}, // unusable: the default
	}
	for _, tt := range tests {
		t.Run(tt.cacheControl, func(t *testing.T) {
			c := newClock()
			k := generate(t, "ES256")
			srv := newJWKSServer(t, jwkOf(t, k.ID(), k.Public()))
			srv.set(func(s *jwksServer) { s.cacheControl = tt.cacheControl })
			v := newVerifier(t, jwksOptions(srv, c))
			verifyAt := func() {
				t.Helper()
				if _, err := v.Verify(context.Background(), sign(t, k, claimsAt(c.Now()))); err != nil {
					t.Fatalf("Verify: %v", err)
				}
			}
			verifyAt()
			c.Advance(tt.period - time.Second)
			verifyAt()
			if n := srv.fetches.Load(); n != 1 {
				t.Fatalf("fetches before %v = %d, want 1", tt.period, n)
			}
			c.Advance(time.Second)
			verifyAt()
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("fetches at %v = %d, want 2", tt.period, n)
			}
		})
	}
}

func TestJWKSServerDownAfterFirstFetch(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	srv := newJWKSServer(t, jwkOf(t, k.ID(), k.Public()))
	v := newVerifier(t, jwksOptions(srv, c))
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, k, claimsAt(c.Now()))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	srv.set(func(s *jwksServer) { s.down = true })
	c.Advance(20 * time.Minute) // stale: a refresh is tried and fails
	for range 3 {
		if _, err := v.Verify(ctx, sign(t, k, claimsAt(c.Now()))); err != nil {
			t.Fatalf("Verify with the server down: %v", err)
		}
	}
	if _, err := v.Verify(ctx, sign(t, generate(t, "ES256"), claimsAt(c.Now()))); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("unknown kid with the server down: %v, want ErrUnknownKey", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (failed refreshes are rate-limited too)", n)
	}
	// Back up: the next refresh succeeds.
	srv.set(func(s *jwksServer) { s.down = false })
	c.Advance(31 * time.Second)
	if _, err := v.Verify(ctx, sign(t, k, claimsAt(c.Now()))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
}

func TestJWKSServerDownAtFirstUse(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	srv := newJWKSServer(t, jwkOf(t, k.ID(), k.Public()))
	srv.set(func(s *jwksServer) { s.down = true })
	v := newVerifier(t, jwksOptions(srv, c))
	ctx := context.Background()
	raw := sign(t, k, claimsAt(c.Now()))
	for range 3 {
		if _, err := v.Verify(ctx, raw); !errors.Is(err, verify.ErrKeysUnavailable) {
			t.Fatalf("Verify = %v, want ErrKeysUnavailable", err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	srv.set(func(s *jwksServer) { s.down = false })
	c.Advance(31 * time.Second)
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatalf("Verify once the server is back: %v", err)
	}
}

func TestJWKSUnusableResponses(t *testing.T) {
	k := generate(t, "ES256")
	good := jwkOf(t, k.ID(), k.Public())
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>") }},
		{"no keys member", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"kty":"EC"}`) }},
		{"larger than 1 MiB", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `{"keys":[%s],"pad":"%s"}`, mustJSON(t, good), strings.Repeat("x", 1<<20))
		}},
		{"status 500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			v := newVerifier(t, verify.Options{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, Now: c.Now})
			if _, err := v.Verify(context.Background(), sign(t, k, claimsAt(c.Now()))); !errors.Is(err, verify.ErrKeysUnavailable) {
				t.Fatalf("Verify = %v, want ErrKeysUnavailable", err)
			}
		})
	}
}

func TestJWKSKeySelection(t *testing.T) {
	es, rs := generate(t, "ES256"), generate(t, "RS256")
	hs := generate(t, "HS256")
	esJWK := jwkOf(t, es.ID(), es.Public())
	tests := []struct {
		name string
		keys []map[string]any
		raw  func(c *clock) string
		want error // nil: verifies
	}{
		{"oct key is never used", []map[string]any{{"kty": "oct", "kid": hs.ID(), "k": b64url(string(hs.VerificationKey().([]byte)))}},
			func(c *clock) string { return sign(t, hs, claimsAt(c.Now())) }, verify.ErrAlgorithm},
		{"oct key under an allowed alg", []map[string]any{{"kty": "oct", "kid": es.ID(), "k": "c2VjcmV0"}},
			func(c *clock) string { return sign(t, es, claimsAt(c.Now())) }, verify.ErrUnknownKey},
		{"use enc is skipped", []map[string]any{with(esJWK, "use", "enc")},
			func(c *clock) string { return sign(t, es, claimsAt(c.Now())) }, verify.ErrUnknownKey},
		{"unknown kty is skipped", []map[string]any{{"kty": "PQC", "kid": "x"}, esJWK},
			func(c *clock) string { return sign(t, es, claimsAt(c.Now())) }, nil},
		{"X25519 is skipped", []map[string]any{{"kty": "OKP", "crv": "X25519", "kid": "x", "x": b64url(strings.Repeat("a", 32))}, esJWK},
			func(c *clock) string { return sign(t, es, claimsAt(c.Now())) }, nil},
		{"alg of the JWK binds the key", []map[string]any{with(jwkOf(t, rs.ID(), rs.Public()), "alg", "RS256")},
			func(c *clock) string { return sign(t, rs, claimsAt(c.Now())) }, nil},
		{"point not on the curve", []map[string]any{with(esJWK, "y", esJWK["x"])},
			func(c *clock) string { return sign(t, es, claimsAt(c.Now())) }, verify.ErrKeysUnavailable},
		{"JWK alg that does not fit the key", []map[string]any{with(esJWK, "alg", "RS256")},
			func(c *clock) string { return sign(t, es, claimsAt(c.Now())) }, verify.ErrKeysUnavailable},
		{"unsupported curve", []map[string]any{with(esJWK, "crv", "P-521")},
			func(c *clock) string { return sign(t, es, claimsAt(c.Now())) }, verify.ErrKeysUnavailable},
		{"RSA exponent 1", []map[string]any{with(jwkOf(t, rs.ID(), rs.Public()), "e", "AQ")},
			func(c *clock) string { return sign(t, rs, claimsAt(c.Now())) }, verify.ErrKeysUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			srv := newJWKSServer(t, tt.keys...)
			_, err := newVerifier(t, jwksOptions(srv, c)).Verify(context.Background(), tt.raw(c))
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// with returns a copy of m with key set to value.
func with(m map[string]any, key string, value any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out[key] = value
	return out
}

// A JWK Set held in memory verifies its keys' tokens and refuses others,
// without any fetch; an unusable set is refused by New.
func TestStaticJWKS(t *testing.T) {
	c := newClock()
	k, other := generate(t, "RS256"), generate(t, "ES256")
	set := mustJSON(t, map[string]any{"keys": []any{jwkOf(t, k.ID(), k.Public())}})
	v := newVerifier(t, verify.Options{Issuer: testIssuer, Audience: testAudience, JWKS: []byte(set), Now: c.Now})
	if _, err := v.Verify(context.Background(), sign(t, k, claimsAt(c.Now()))); err != nil {
		t.Errorf("key of the set: %v", err)
	}
	if _, err := v.Verify(context.Background(), sign(t, other, claimsAt(c.Now()))); !errors.Is(err, verify.ErrUnknownKey) {
		t.Errorf("key not in the set: %v, want ErrUnknownKey", err)
	}
	for _, bad := range []string{`{}`, `not json`, `{"keys":[{"kty":"RSA","kid":"x","n":"","e":"AQAB"}]}`} {
		_, err := verify.New(verify.Options{Issuer: testIssuer, Audience: testAudience, JWKS: []byte(bad)})
		if !errors.Is(err, verify.ErrOptions) {
			t.Errorf("JWKS %s: New = %v, want ErrOptions", bad, err)
		}
	}
	_, err := verify.New(verify.Options{Issuer: testIssuer, Audience: testAudience, JWKS: []byte(set), JWKSURL: "https://x"})
	if !errors.Is(err, verify.ErrOptions) {
		t.Errorf("JWKS and JWKSURL both: New = %v, want ErrOptions", err)
	}
}
