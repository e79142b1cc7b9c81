package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/store/storetest"
)

// tempPath returns the path of a database file in a fresh directory.
func tempPath(t *testing.T) string { return filepath.Join(t.TempDir(), "tollgate.db") }

// open opens the database at path, failing the test on an error, and
// closes it when the test ends.
func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, tempPath(t)) })
}

func TestReopenKeepsDataAndSkipsApplied(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	s := open(t, path)
	if err := s.CreateRefreshToken(ctx, store.RefreshToken{Hash: "keep", Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	if got, err := s.RefreshToken(ctx, "keep"); err != nil || got.Subject != "alice" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

// TestMigrationAdoptsLegacyCredentials: a database of the version before
// accounts gets an account for each credential's subject.
func TestMigrationAdoptsLegacyCredentials(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
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
	storetest.CheckAdopted(t, open(t, path))
}

// overwriteHeader writes garbage over the first bytes of the file, as a
// disk fault or a stray write would.
func overwriteHeader(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("this is no longer a database file"), 0); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptFileIsUnavailable: once the file is not a database, a read,
// a write and Ping fail with store.ErrUnavailable (503), not as a plain
// failure (500).
func TestCorruptFileIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	s := open(t, path)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping of a sound file: %v", err)
	}
	if _, err := s.RefreshToken(ctx, "none"); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("read of a missing token = %v, want ErrNotFound and not ErrUnavailable", err)
	}
	s.CloseIdle() // the last connection checkpoints the WAL into the file
	overwriteHeader(t, path)
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping = %v, want ErrUnavailable", err)
	}
	if _, err := s.RefreshToken(ctx, "none"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("read = %v, want ErrUnavailable", err)
	}
	err := s.CreateRefreshToken(ctx, store.RefreshToken{Hash: "new", Subject: "alice", CreatedAt: time.Now()})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("write = %v, want ErrUnavailable", err)
	}
}

// TestLockedPastDeadlineIsUnavailable: a write that waits for another
// writer's lock until its context ends fails with store.ErrUnavailable.
func TestLockedPastDeadlineIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	s := open(t, path)
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = s.CreateRefreshToken(short, store.RefreshToken{Hash: "new", Subject: "alice", CreatedAt: time.Now()})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("write while another holds the lock = %v, want ErrUnavailable", err)
	}
}

// TestMigrationAddsRefreshBinding: the refresh tokens of a database of the
// version before bindings are accounts' tokens, which no workload
// revocation touches.
func TestMigrationAddsRefreshBinding(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	old, err := sqlite.OpenUpTo(ctx, path, "0005_accounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.PreBindingRows {
		if err := old.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	storetest.CheckPreBinding(t, open(t, path))
}

// TestMigrationAddsSessions: a database of the version before sessions
// keeps its tokens and gains the sessions table.
func TestMigrationAddsSessions(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	old, err := sqlite.OpenUpTo(ctx, path, "0006_refresh_binding")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.PreBindingRows {
		if err := old.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	s := open(t, path)
	storetest.CheckPreBinding(t, s)
	storetest.CheckSessions(t, s)
}

// TestMigrationAddsAccountSource: the accounts of a database of the version
// before account sources read back of no known source ("").
func TestMigrationAddsAccountSource(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	old, err := sqlite.OpenUpTo(ctx, path, "0007_sessions")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.PreSourceRows {
		if err := old.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	storetest.CheckPreSource(t, open(t, path))
}
