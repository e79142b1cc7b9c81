// Package pgtest gives tests a real PostgreSQL to work in: the server named
// by TOLLGATE_TEST_POSTGRES_DSN (CI sets it; without it the tests skip,
// never pass), and a fresh schema per test.
package pgtest

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DSNEnv names a PostgreSQL server the tests may create schemas in, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const DSNEnv = "TOLLGATE_TEST_POSTGRES_DSN"

// DSN returns the server's DSN, or skips the test.
func DSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(DSNEnv)
	if dsn == "" {
		t.Skip(DSNEnv + " not set")
	}
	return dsn
}

// FreshSchema creates a randomly named schema, dropped with everything in
// it when the test ends, and returns a DSN whose search_path selects it.
// Call it before starting servers on it, so they stop (cleanups run
// last-in first-out) before the schema goes.
func FreshSchema(t *testing.T, dsn string) string {
	t.Helper()
	schema := "tollgate_test_" + strings.ToLower(rand.Text()[:12])
	exec(t, dsn, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, dsn, "DROP SCHEMA "+schema+" CASCADE") })
	return WithSearchPath(dsn, schema)
}

func exec(t *testing.T, dsn, sql string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("connect to %s: %v", DSNEnv, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Errorf("%s: %v", sql, err)
	}
}

// WithSearchPath adds search_path (a run-time parameter pgx passes on) to a
// URL or key=value DSN.
func WithSearchPath(dsn, schema string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&search_path=" + schema
	}
	return dsn + "?search_path=" + schema
}
