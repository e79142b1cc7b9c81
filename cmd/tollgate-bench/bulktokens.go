package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", as pkg/store/sqlite uses

	"github.com/tollgate/tollgate/pkg/authn/apitoken"
)

// apiTokenColumns are the api_tokens columns the bulk insert fills; the
// others (last use, revocation; PostgreSQL's seq) keep their defaults.
var apiTokenColumns = []string{"hash", "owner", "account_id", "role", "description", "created_at", "expires_at"}

// account is a row of the accounts table: tokens belong to one.
type account struct{ id, name string }

// bulkToken is the i-th of the filler tokens: the hash of a random token
// (hex SHA-256, as the store keeps every token), owned by one of accounts
// in turn, created i seconds ago, live for 30 days.
func bulkToken(i int, accounts []account, now time.Time) []any {
	a := accounts[i%len(accounts)]
	created := now.Add(-time.Duration(i) * time.Second)
	return []any{apitoken.Hash(rand.Text()), a.name, a.id, "read", "bench filler",
		created.UnixNano(), now.Add(30 * 24 * time.Hour).UnixNano()}
}

// fillSQLite adds n filler API tokens to a SQLite store no server has
// open, in one transaction.
func fillSQLite(ctx context.Context, path string, n int) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := sqlAccounts(ctx, db)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(apiTokenColumns)), ", ")
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO api_tokens ("+strings.Join(apiTokenColumns, ", ")+") VALUES ("+marks+")")
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range n {
		if _, err := stmt.ExecContext(ctx, bulkToken(i, accounts, now)...); err != nil {
			return fmt.Errorf("insert filler token %d: %w", i, err)
		}
	}
	return tx.Commit()
}

func sqlAccounts(ctx context.Context, db *sql.DB) ([]account, error) {
	rs, err := db.QueryContext(ctx, `SELECT id, name FROM accounts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []account
	for rs.Next() {
		var a account
		if err := rs.Scan(&a.id, &a.name); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no accounts in the store to own the filler tokens")
	}
	return out, rs.Err()
}

// fillPostgres adds n filler API tokens with COPY.
func fillPostgres(ctx context.Context, dsn string, n int) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	accounts, err := pgAccounts(ctx, conn)
	if err != nil {
		return err
	}
	now := time.Now()
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"api_tokens"}, apiTokenColumns,
		pgx.CopyFromFunc(func() ([]any, error) {
			if n == 0 {
				return nil, nil
			}
			n--
			return bulkToken(n, accounts, now), nil
		}))
	if err != nil {
		return fmt.Errorf("copy filler tokens: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE api_tokens")
	return err
}

func pgAccounts(ctx context.Context, conn *pgx.Conn) ([]account, error) {
	rs, err := conn.Query(ctx, `SELECT id, name FROM accounts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (account, error) {
		var a account
		return a, r.Scan(&a.id, &a.name)
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("no accounts in the store to own the filler tokens")
	}
	return out, err
}
