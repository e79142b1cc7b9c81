package htpasswd

import (
	"context"
	"testing"
)

func BenchmarkHtpasswdCost5(b *testing.B) {
	f := mustLoad(b, writeFile(b, b.TempDir(), "alice:"+hashOf(b, "alice-pw", 5)+"\n"), nil)
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.Authenticate(ctx, "alice", "alice-pw"); err != nil {
			b.Fatal(err)
		}
	}
}
