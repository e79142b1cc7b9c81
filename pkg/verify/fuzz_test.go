package verify_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/pkg/verify"
)

// FuzzVerify: no input panics, and every refusal wraps a sentinel.
func FuzzVerify(f *testing.F) {
	c := newClock()
	k := generate(f, "ES256")
	v := newVerifier(f, optionsFor(k, c))
	f.Add(sign(f, k, claimsAt(c.Now())))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Add("a.b.c.d")
	sentinels := []error{verify.ErrMalformed, verify.ErrSignature, verify.ErrAlgorithm, verify.ErrExpired,
		verify.ErrNotYetValid, verify.ErrIssuer, verify.ErrAudience, verify.ErrUnknownKey}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := v.Verify(context.Background(), raw)
		if err == nil {
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("Verify(%q) = %v: wraps no sentinel", raw, err)
	})
}
