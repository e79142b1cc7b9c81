package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tollgate.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReopenKeepsDataAndSkipsApplied(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tollgate.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, store.RefreshToken{Hash: "keep", Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got, err := s.RefreshToken(ctx, "keep"); err != nil || got.Subject != "alice" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

// TestMigrationAdoptsLegacyCredentials: a database of the version before
// accounts gets an account for each credential's subject.
func TestMigrationAdoptsLegacyCredentials(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tollgate.db")
	old, err := sqlite.OpenUpTo(ctx, path, "0004_engine_refresh_tokens")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.LegacyRows {
		if err := old.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckAdopted(t, s)
}
