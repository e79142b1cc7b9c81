package main

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/pkg/store/postgres/pgtest"
)

// errNoPostgres: the PostgreSQL scenarios need pgtest.DSNEnv.
var errNoPostgres = errors.New(pgtest.DSNEnv + " not set")

func errorsIsNoPostgres(err error) bool { return errors.Is(err, errNoPostgres) }

// freshSchema creates a schema of its own in the server pgtest.DSNEnv
// names and returns a DSN selecting it, and a function dropping it.
func freshSchema(ctx context.Context) (string, func(), error) {
	dsn := os.Getenv(pgtest.DSNEnv)
	if dsn == "" {
		return "", func() {}, errNoPostgres
	}
	schema := "tollgate_bench_" + strings.ToLower(rand.Text()[:12])
	if err := execPostgres(ctx, dsn, "CREATE SCHEMA "+schema); err != nil {
		return "", func() {}, err
	}
	drop := func() { execPostgres(context.Background(), dsn, "DROP SCHEMA "+schema+" CASCADE") }
	return pgtest.WithSearchPath(dsn, schema), drop, nil
}

func execPostgres(ctx context.Context, dsn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
