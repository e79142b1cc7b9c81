package main

// Helpers for the tests that run Tollgate on a shared or surviving store:
// several replicas on one PostgreSQL schema (replicas_test.go) and a server
// killed with SIGKILL and restarted (crash_test.go).

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
)

// postgresDSNEnv names a PostgreSQL server the tests may create schemas in,
// e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable (as in
// pkg/store/postgres).
const postgresDSNEnv = "TOLLGATE_TEST_POSTGRES_DSN"

// testPostgresDSN returns the server's DSN or skips the test. Read it before
// clearTollgateEnv, which blanks every TOLLGATE_ variable for the test.
func testPostgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		t.Skip(postgresDSNEnv + " not set")
	}
	return dsn
}

// freshSchema creates a randomly named schema, dropped with everything in
// it when the test ends, and returns a DSN whose search_path selects it.
// Register it before starting servers on it, so they stop (cleanups run
// last-in first-out) before the schema goes.
func freshSchema(t *testing.T, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	schema := "tollgate_cmd_test_" + strings.ToLower(rand.Text()[:12])
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", postgresDSNEnv, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("connect for cleanup: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(dsn, schema)
}

// withSearchPath adds search_path (a run-time parameter pgx passes on) to a
// URL or key=value DSN.
func withSearchPath(dsn, schema string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&search_path=" + schema
	}
	return dsn + "?search_path=" + schema
}

// usePostgresStore points the configuration at dsn the way an operator of
// replicas would, with environment overrides of the YAML's store section;
// config.Load, `tollgate serve` and `tollgate audit` all honour them, and
// child processes inherit them. Call it after clearTollgateEnv.
func usePostgresStore(t *testing.T, dsn string) {
	t.Helper()
	t.Setenv(config.EnvPrefix+"_STORE_TYPE", "postgres")
	t.Setenv(config.EnvPrefix+"_STORE_DSN", dsn)
}

// tollgateDir writes a development key and certificate and the e2e htpasswd
// file into a fresh directory, then the configuration through
// loadE2EConfig (with whatever TOLLGATE_ overrides are set). It returns the
// directory and the loaded configuration; the file is dir/tollgate.yaml.
func tollgateDir(t *testing.T) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	if _, err := keys.WriteDev(filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"),
		keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatalf("WriteDev: %v", err)
	}
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), e2eUsers)
	return dir, loadE2EConfig(t, dir)
}

// freeAddr returns 127.0.0.1:PORT for a port that was free a moment ago,
// for a server in another process to listen on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// tokenClient is a loopback-only client for one Tollgate at host:port,
// reusing the e2e helpers (getToken, postToken) through an e2eEnv that has
// no registry.
func tokenClient(t *testing.T, hostPort string) *e2eEnv {
	t.Helper()
	tr := loopbackTransport(&dialLog{})
	t.Cleanup(tr.CloseIdleConnections)
	return &e2eEnv{
		tokenHost: hostPort,
		realm:     "http://" + hostPort + "/oauth2/token",
		transport: tr,
		client:    &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
}

// base is the server's root URL.
func (e *e2eEnv) base() string { return "http://" + e.tokenHost }

// waitAnswering polls the token endpoint until the server answers with any
// HTTP response, failing at the deadline or as soon as gone reports that
// the server stopped (nil: never).
func (e *e2eEnv) waitAnswering(t *testing.T, timeout time.Duration, gone <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := e.client.Get(e.realm + "?service=" + e2eService)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-gone:
			t.Fatalf("%s stopped before answering: %v", e.tokenHost, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not answering after %s: %v", e.tokenHost, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// accessController is distribution's token verifier trusting the
// certificate in dir, as a registry configured for Tollgate would be.
func accessController(t *testing.T, dir, realm string) auth.AccessController {
	t.Helper()
	ac, err := auth.GetAccessController("token", map[string]any{
		"realm":          realm,
		"issuer":         e2eIssuer,
		"service":        e2eService,
		"rootcertbundle": filepath.Join(dir, "keys", "signing.crt"),
	})
	if err != nil {
		t.Fatalf("GetAccessController: %v", err)
	}
	return ac
}

// wantAuthorized asserts the registry would accept jwt for every access on
// repo, on behalf of user.
func wantAuthorized(t *testing.T, ac auth.AccessController, jwt, user, repo string, actions ...string) {
	t.Helper()
	res := auth.Resource{Type: "repository", Name: repo}
	var access []auth.Access
	for _, a := range actions {
		access = append(access, auth.Access{Resource: res, Action: a})
	}
	grant, err := ac.Authorized(bearerRequest(jwt), access...)
	if err != nil {
		t.Fatalf("registry refuses the token for %s %v: %v", repo, actions, err)
	}
	if grant.User.Name != user {
		t.Errorf("token is for %q, want %q", grant.User.Name, user)
	}
}
