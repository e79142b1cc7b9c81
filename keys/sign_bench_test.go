package keys_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
)

// BenchmarkSign is Key.Sign, the hot path of every token request, per
// algorithm, with and without a certificate chain (x5c).
//
//	go test -run '^$' -bench '^BenchmarkSign$' -benchmem -count 6 ./keys/
func BenchmarkSign(b *testing.B) {
	cases := []struct {
		name    string
		alg     string
		withX5C bool
	}{
		{"ES256", "ES256", false},
		{"ES256+x5c", "ES256", true},
		{"ES384", "ES384", false},
		{"RS256", "RS256", false},
		{"RS256+x5c", "RS256", true},
		{"EdDSA", "EdDSA", false},
		{"EdDSA+x5c", "EdDSA", true},
		{"HS256", "HS256", false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			certPath := ""
			if c.withX5C {
				certPath = filepath.Join(dir, "c.pem")
			}
			k, err := keys.WriteDev(filepath.Join(dir, "k.pem"), certPath, keys.Options{Algorithm: c.alg})
			if err != nil {
				b.Fatal(err)
			}
			claims := registryClaims(time.Now())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
