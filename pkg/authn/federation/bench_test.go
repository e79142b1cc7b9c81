package federation_test

import (
	"context"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn"
)

// BenchmarkAuthenticate is a docker login -u oidc against a warm key set:
// the cost an identity token adds to a token request.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b, githubPolicy)
	raw := authn.Secret(f.github(b, nil))
	ctx := context.Background()
	if _, err := f.fed.Authenticate(ctx, "oidc", raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.fed.Authenticate(ctx, "oidc", raw); err != nil {
			b.Fatal(err)
		}
	}
}
