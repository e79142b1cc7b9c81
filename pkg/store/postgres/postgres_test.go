package postgres

import (
	"context"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/postgres/pgtest"
	"github.com/tollgate/tollgate/pkg/store/storetest"
)

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestPostgresConformance(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.FreshSchema(t, dsn))
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
	dsn := pgtest.FreshSchema(t, pgtest.DSN(t))
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
	dsn := pgtest.FreshSchema(t, pgtest.DSN(t))
	s := open(t, dsn)
	tok := store.APIToken{Hash: "keep", Owner: "alice", Role: "read", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateAPIToken(ctx, tok, 0); err != nil {
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

// TestPostgresMigrationAdoptsLegacyCredentials: a schema of the version
// before accounts gets an account for each credential's subject.
func TestPostgresMigrationAdoptsLegacyCredentials(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t, pgtest.DSN(t))
	old, err := openUpTo(ctx, dsn, "0004_engine_refresh_tokens")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.LegacyRows {
		if _, err := old.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	s := open(t, dsn)
	defer s.Close()
	storetest.CheckAdopted(t, s)
}

// TestPostgresMigrationAddsRefreshBinding: the refresh tokens of a schema
// of the version before bindings are accounts' tokens, which no workload
// revocation touches.
func TestPostgresMigrationAddsRefreshBinding(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t, pgtest.DSN(t))
	old, err := openUpTo(ctx, dsn, "0005_accounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.PreBindingRows {
		if _, err := old.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	s := open(t, dsn)
	defer s.Close()
	storetest.CheckPreBinding(t, s)
}

// TestPostgresMigrationAddsSessions: a schema of the version before
// sessions keeps its tokens and gains the sessions table.
func TestPostgresMigrationAddsSessions(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t, pgtest.DSN(t))
	old, err := openUpTo(ctx, dsn, "0006_refresh_binding")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.PreBindingRows {
		if _, err := old.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	s := open(t, dsn)
	defer s.Close()
	storetest.CheckPreBinding(t, s)
	storetest.CheckSessions(t, s)
}

// TestPostgresMigrationAddsAccountSource: the accounts of a schema of the
// version before account sources read back of no known source ("").
func TestPostgresMigrationAddsAccountSource(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t, pgtest.DSN(t))
	old, err := openUpTo(ctx, dsn, "0007_sessions")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.PreSourceRows {
		if _, err := old.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	s := open(t, dsn)
	defer s.Close()
	storetest.CheckPreSource(t, s)
}
