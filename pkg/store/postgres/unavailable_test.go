package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/postgres/pgtest"
)

// unconnected is a store whose pool has never connected (pgxpool connects
// on first use), for classify's Pool.Reset.
func unconnected(t *testing.T) *Store {
	cfg, err := poolConfig("postgres://tollgate@127.0.0.1:1/tollgate")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return newStore(pool)
}

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("get api token: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name string
		err  error
		want bool // wraps store.ErrUnavailable
	}{
		{"connection failure (08006)", pg("08006"), true},
		{"connection does not exist (08003)", pg("08003"), true},
		{"admin shutdown (57P01)", pg(adminShutdown), true},
		{"crash shutdown (57P02)", pg(crashShutdown), true},
		{"cannot connect now (57P03)", pg(cannotConnect), true},
		{"too many connections (53300)", pg(tooManyConns), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", fmt.Errorf("receive message failed: %w", io.ErrUnexpectedEOF), true},
		{"closed connection", fmt.Errorf("begin: %w", pgconn.ErrConnClosed), true},
		{"deadline inside the store", fmt.Errorf("list audit: %w", context.DeadlineExceeded), true},
		{"caller canceled", fmt.Errorf("list audit: %w", context.Canceled), false},
		{"unique violation (23505)", pg(uniqueViolation), false},
		{"syntax error (42601)", pg("42601"), false},
		{"no rows", pgx.ErrNoRows, false},
		{"not found", fmt.Errorf("api token: %w", store.ErrNotFound), false},
		{"conflict", fmt.Errorf("api token: %w", store.ErrConflict), false},
		{"limit", fmt.Errorf("api token: %w", store.ErrLimit), false},
		{"nil", nil, false},
	}
	s := unconnected(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.classify(tt.err)
			if errors.Is(got, store.ErrUnavailable) != tt.want {
				t.Errorf("classify(%v) = %v; ErrUnavailable: %v, want %v", tt.err, got, !tt.want, tt.want)
			}
			if tt.err != nil && !errors.Is(got, tt.err) {
				t.Errorf("classify(%v) = %v lost the cause", tt.err, got)
			}
		})
	}
}

// TestPoolConfigBoundsConnecting: a DSN without connect_timeout gets the
// default bound; one that names it keeps its own.
func TestPoolConfigBoundsConnecting(t *testing.T) {
	for dsn, want := range map[string]time.Duration{
		"postgres://tollgate@db:5432/tollgate":                   defaultConnectTimeout,
		"postgres://tollgate@db:5432/tollgate?connect_timeout=9": 9 * time.Second,
		"host=db user=tollgate connect_timeout=3":                3 * time.Second,
	} {
		cfg, err := poolConfig(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if got := cfg.ConnConfig.ConnectTimeout; got != want {
			t.Errorf("%s: connect timeout %s, want %s", dsn, got, want)
		}
		if cfg.PingTimeout != pingTimeout {
			t.Errorf("%s: ping timeout %s, want %s", dsn, cfg.PingTimeout, pingTimeout)
		}
	}
}

// TestPostgresUnreachableIsUnavailable cuts the store off its database
// (a proxy between them closes every connection and refuses new ones):
// a read, a write and Ping fail at once with store.ErrUnavailable. When
// the database is reachable again the very next calls succeed: the first
// failure reset the pool, so no call meets a connection the cut closed.
func TestPostgresUnreachableIsUnavailable(t *testing.T) {
	ctx := context.Background()
	proxy, dsn := pgtest.NewProxy(t, pgtest.FreshSchema(t, pgtest.DSN(t)))
	s := open(t, dsn)
	defer s.Close()
	fillPool(t, s)
	tok := store.RefreshToken{Hash: "before", Subject: "alice", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateRefreshToken(ctx, tok); err != nil {
		t.Fatal(err)
	}

	proxy.Stop()
	start := time.Now()
	if _, err := s.RefreshToken(ctx, tok.Hash); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("read = %v, want ErrUnavailable", err)
	}
	tok.Hash = "during"
	if err := s.CreateRefreshToken(ctx, tok); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("write = %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("three calls to an unreachable database took %s; want them to fail fast", took)
	}

	proxy.Start(t)
	start = time.Now()
	for i := range 2 * int(s.pool.Config().MaxConns) {
		tok.Hash = fmt.Sprintf("after-%d", i)
		if err := s.CreateRefreshToken(ctx, tok); err != nil {
			t.Fatalf("write %d after the database came back: %v", i, err)
		}
		if _, err := s.RefreshToken(ctx, "before"); err != nil {
			t.Fatalf("read %d after the database came back: %v", i, err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("serving again took %s, want under a second", took)
	}
}

// fillPool opens as many connections as the pool holds and returns them
// to it idle.
func fillPool(t *testing.T, s *Store) {
	t.Helper()
	var conns []*pgxpool.Conn
	for range s.pool.Config().MaxConns {
		c, err := s.pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}
