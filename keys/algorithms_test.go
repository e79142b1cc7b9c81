package keys_test

import (
	"context"
	"crypto"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	tgverify "github.com/tollgate/tollgate/pkg/verify"
)

// Every algorithm Tollgate signs with is one that pkg/verify accepts by
// default: a token signed with a generated key of each passes a Verifier
// given only that key, no Algorithms. pkg/verify keeps its own list (it
// imports nothing of ours), so this test is what keeps the two from
// drifting apart.
func TestSigningAlgorithmsPassVerify(t *testing.T) {
	algs := keys.SigningAlgorithms()
	if len(algs) == 0 || algs[0] != "ES256" {
		t.Fatalf("SigningAlgorithms() = %q, want the default ES256 first", algs)
	}
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			k, err := keys.Generate(keys.Options{Algorithm: alg})
			if err != nil {
				t.Fatalf("Generate(%s): %v", alg, err)
			}
			now := time.Now()
			raw, err := k.Sign(jwt.RegisteredClaims{Issuer: testIssuer, Audience: jwt.ClaimStrings{testService},
				Subject: "alice", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))})
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			opts := tgverify.Options{Issuer: testIssuer, Audience: testService}
			if secret, ok := k.VerificationKey().([]byte); ok {
				opts.HMACSecret = secret
			} else {
				opts.PublicKeys = map[string]crypto.PublicKey{k.ID(): k.Public()}
			}
			v, err := tgverify.New(opts)
			if err != nil {
				t.Fatalf("verify.New: %v", err)
			}
			if _, err := v.Verify(context.Background(), raw); err != nil {
				t.Errorf("pkg/verify refuses a %s token Tollgate signed: %v", alg, err)
			}
		})
	}
}

// Generate takes exactly the listed algorithms, and the lists are copies.
func TestSigningAlgorithmsAreTheOptions(t *testing.T) {
	for _, alg := range []string{"PS256", "RS384", "ES512", "none", "es256"} {
		if _, err := keys.Generate(keys.Options{Algorithm: alg}); err == nil || slices.Contains(keys.SigningAlgorithms(), alg) {
			t.Errorf("Generate(%q) = %v; listed %v", alg, err, slices.Contains(keys.SigningAlgorithms(), alg))
		}
	}
	keys.SigningAlgorithms()[0] = "none"
	if got := keys.VerifyingAlgorithms(); got[0] != "ES256" || !slices.Equal(got, keys.SigningAlgorithms()) {
		t.Errorf("VerifyingAlgorithms() = %q after a caller wrote to a returned list; want the signing list", got)
	}
}
