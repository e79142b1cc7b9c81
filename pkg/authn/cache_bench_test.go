package authn_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
)

// BenchmarkCacheHit is the token endpoint's common case: the same client
// pulling again, against a cost-10 htpasswd file.
func BenchmarkCacheHit(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), 10)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "htpasswd")
	if err := os.WriteFile(path, append([]byte("alice:"), hash...), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := htpasswd.Load(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := authn.NewCache(f, time.Minute, 1000)
	ctx := context.Background()
	if _, err := c.Authenticate(ctx, "alice", "alice-pw"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Authenticate(ctx, "alice", "alice-pw"); err != nil {
			b.Fatal(err)
		}
	}
}
