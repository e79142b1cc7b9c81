package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/storetest"
)

// dsnEnv names a PostgreSQL server the tests may create schemas in, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const dsnEnv = "TOLLGATE_TEST_POSTGRES_DSN"

func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip(dsnEnv + " not set")
	}
	return dsn
}

// freshSchema creates a randomly named schema, dropped when the test ends,
// and returns a DSN whose search_path selects it.
func freshSchema(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "tollgate_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("connect for cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(dsn, schema)
}

// withSearchPath adds search_path to a URL or key=value DSN.
func withSearchPath(dsn, schema string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&search_path=" + schema
	}
	return dsn + "?search_path=" + schema
}

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestPostgresConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, freshSchema(t, dsn))
	})
}

// migrationVersions lists the embedded migrations, in order.
func migrationVersions(t *testing.T) []string {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, n := range names {
		versions = append(versions, strings.TrimSuffix(path.Base(n), ".sql"))
	}
	slices.Sort(versions)
	return versions
}

func appliedVersions(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return versions
}

// TestPostgresConcurrentMigrations starts several replicas at once on an
// empty schema: every one must open, and each migration be applied once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	dsn := freshSchema(t, testDSN(t))
	const replicas = 8
	var (
		wg     sync.WaitGroup
		stores = make([]*Store, replicas)
		errs   = make([]error, replicas)
		start  = make(chan struct{})
	)
	for i := range replicas {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(context.Background(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: open: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	if got, want := appliedVersions(t, stores[0]), migrationVersions(t); !slices.Equal(got, want) {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
	// Every replica works on the one schema.
	ctx := context.Background()
	for i, s := range stores {
		tok := store.RefreshToken{Hash: "r" + string(rune('a'+i)), Subject: "alice",
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.CreateRefreshToken(ctx, tok); err != nil {
			t.Fatalf("replica %d: create: %v", i, err)
		}
		if _, err := stores[(i+1)%replicas].RefreshToken(ctx, tok.Hash); err != nil {
			t.Errorf("replica %d's token not seen by replica %d: %v", i, (i+1)%replicas, err)
		}
	}
}

func TestPostgresReopenKeepsDataAndSkipsApplied(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t, testDSN(t))
	s := open(t, dsn)
	tok := store.APIToken{Hash: "keep", Owner: "alice", Role: "read", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, []store.AuditEvent{{Time: time.Now(), Kind: "apitoken.created"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dsn)
	defer s.Close()
	if got, err := s.APIToken(ctx, "keep"); err != nil || got.Owner != "alice" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if got, err := s.ListAudit(ctx, 0, time.Time{}, 10); err != nil || len(got) != 1 {
		t.Fatalf("audit after reopen: %+v, %v", got, err)
	}
	if got, want := appliedVersions(t, s), migrationVersions(t); !slices.Equal(got, want) {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
}

// TestOpenErrorsHideDSN needs no server: the DSN may hold a password, and
// no error Open returns may quote it.
func TestOpenErrorsHideDSN(t *testing.T) {
	const secret = "s3cret-Pa55"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://tollgate:" + secret + "@127.0.0.1:1/tollgate?sslmode=disable&connect_timeout=2", // refused
		"host=127.0.0.1 port=1 user=tollgate password=" + secret + " dbname=tollgate sslmode=disable connect_timeout=2",
		"postgres://tollgate:" + secret + "@127.0.0.1:notaport/tollgate", // unparseable
		"host=127.0.0.1 password='" + secret,                             // unparseable
	} {
		s, err := Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open succeeded for %q", dsn)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "tollgate:") {
			t.Errorf("error quotes the DSN: %v", err)
		}
	}
}
