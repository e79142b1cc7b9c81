// These tests run distribution's own verifier (registry/auth/token v3.1.2)
// against rings: configured once, a registry keeps accepting tokens across
// rotations.

package keysinterop_test

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/keys/keystest"
)

// registryFromFiles builds distribution's token access controller from a
// rootcertbundle and/or jwks file, as a registry's config does.
func registryFromFiles(t *testing.T, rootBundle, jwks string) auth.AccessController {
	t.Helper()
	options := map[string]any{
		"realm":   "https://auth.test/token",
		"issuer":  keystest.Issuer,
		"service": keystest.Service,
	}
	if rootBundle != "" {
		options["rootcertbundle"] = rootBundle
	}
	if jwks != "" {
		options["jwks"] = jwks
	}
	ac, err := auth.GetAccessController("token", options)
	if err != nil {
		t.Fatal(err)
	}
	return ac
}

// CA mode: the registry trusts only the CA bundle, written once; tokens of
// the first key and of three rotated keys all pass, before and after the
// rotations (retired keys' tokens stay valid).
func TestCARotationsVerifyWithBundleOnly(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			policy := keys.Policy{Interval: time.Hour, MaxTokenLifetime: 5 * time.Minute, Algorithm: alg}
			ca, err := keys.NewCA(now)
			if err != nil {
				t.Fatal(err)
			}
			bundle := keystest.WriteFile(t, t.TempDir(), "ca.pem", ca.BundlePEM(), 0o644)
			registry := registryFromFiles(t, bundle, "")
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(ca.BundlePEM()) {
				t.Fatal("BundlePEM is not PEM certificates")
			}

			r := keystest.NewRing(t, now, policy, ca)
			tokens := []string{mustSignRing(t, r)}
			kids := map[string]bool{r.Active().ID(): true}
			for i := 1; i <= 3; i++ {
				at := now.Add(time.Duration(i) * time.Minute)
				r = keystest.Rotate(t, r, at, policy).Advance(at, policy) // Prepublish 0: active at once
				if kids[r.Active().ID()] {
					t.Fatalf("rotation %d did not change the active key", i)
				}
				kids[r.Active().ID()] = true
				tokens = append(tokens, mustSignRing(t, r))
			}
			for i, raw := range tokens {
				if err := authorize(registry, raw); err != nil {
					t.Fatalf("registry with the CA bundle rejects token %d: %v", i, err)
				}
				verify(t, raw, token.VerifyOptions{Roots: roots})
			}

			// Negative control: another CA's keys are not trusted.
			other, err := keys.NewCA(now)
			if err != nil {
				t.Fatal(err)
			}
			stranger := keystest.NewRing(t, now, policy, other)
			if err := authorize(registry, mustSignRing(t, stranger)); err == nil {
				t.Fatal("registry accepts a key certified by another CA")
			}
		})
	}
}

// Without a CA, a registry configured with the ring's JWKS after a rotation
// was pre-published accepts tokens of both the old and the new key.
func TestJWKSVerifyWithoutCA(t *testing.T) {
	p := keystest.Policy
	now := time.Now()
	r0 := keystest.NewRing(t, now, p, nil)
	old := mustSignRing(t, r0)
	r1 := keystest.Rotate(t, r0, now, p)
	jwksPath := keystest.WriteFile(t, t.TempDir(), "jwks.json", r1.JWKS(), 0o644)
	registry := registryFromFiles(t, "", jwksPath)
	r2 := r1.Advance(now.Add(p.Prepublish), p)
	if r2.Active() == r0.Active() {
		t.Fatal("no activation")
	}
	current := mustSignRing(t, r2)

	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r2.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	trusted := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		trusted[k.KeyID] = k.Key
	}
	for name, raw := range map[string]string{"retired key": old, "active key": current} {
		if err := authorize(registry, raw); err != nil {
			t.Fatalf("registry with the JWKS rejects the %s's token: %v", name, err)
		}
		verify(t, raw, token.VerifyOptions{TrustedKeys: trusted})
	}
	// Negative control: a key that was never published.
	stranger := keystest.NewRing(t, now, p, nil)
	if err := authorize(registry, mustSignRing(t, stranger)); err == nil {
		t.Fatal("registry accepts an unpublished key")
	}
}

// CA mode with keys.x5c never: tokens carry no x5c, so a registry that
// trusts only the CA bundle rejects them, and one given the ring's JWKS as
// well accepts them by kid. Under auto the bundle alone is enough.
func TestCARingX5CModes(t *testing.T) {
	now := time.Now()
	ca, err := keys.NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundle := keystest.WriteFile(t, dir, "ca.pem", ca.BundlePEM(), 0o644)
	for _, tt := range []struct {
		mode     string
		withJWKS bool
		wantOK   bool
	}{
		{keys.X5CAuto, false, true},
		{keys.X5CNever, false, false},
		{keys.X5CNever, true, true},
	} {
		policy := keystest.Policy
		policy.X5C = tt.mode
		r := keystest.NewRing(t, now, policy, ca)
		jwks := ""
		if tt.withJWKS {
			jwks = keystest.WriteFile(t, dir, "jwks-"+r.Active().ID()+".json", r.JWKS(), 0o644)
		}
		err := authorize(registryFromFiles(t, bundle, jwks), mustSignRing(t, r))
		if (err == nil) != tt.wantOK {
			t.Errorf("x5c %s, jwks %v: registry says %v, want accepted %v", tt.mode, tt.withJWKS, err, tt.wantOK)
		}
	}
}

func mustSignRing(t *testing.T, r *keys.Ring) string {
	t.Helper()
	raw, err := r.Sign(keystest.RegistryClaims(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
