package apitoken_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// BenchmarkAuthenticateAPIToken is the token endpoint's cost of an API
// token: checksum, SHA-256, one indexed SQLite read, the owner lookup and
// the in-memory last-used note (no write).
func BenchmarkAuthenticateAPIToken(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	tokens := &apitoken.Tokens{Store: st}
	raw, _, err := tokens.Create(ctx, owner("alice"), "write", 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	secret := authn.Secret(raw)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.Authenticate(ctx, "token", secret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLooksLike is what every password pays in front of htpasswd.
func BenchmarkLooksLike(b *testing.B) {
	raw := apitoken.Generate()
	b.ReportAllocs()
	for b.Loop() {
		if !apitoken.LooksLike(raw) {
			b.Fatal("rejected")
		}
	}
}
