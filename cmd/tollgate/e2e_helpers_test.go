package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// The end-to-end environment (e2etest, shared with the interop module)
// under the names this package's tests use.
const (
	e2eService = e2etest.Service
	e2eACL     = e2etest.ACL
)

var (
	e2eUsers         = e2etest.Users
	clearTollgateEnv = e2etest.ClearEnv
	usePostgresStore = e2etest.UsePostgresStore
	writeHtpasswd    = e2etest.WriteHtpasswd
	loadE2EConfig    = e2etest.LoadConfig
	tollgateDir      = e2etest.Dir
	freeAddr         = e2etest.FreeAddr
	createAPIToken   = e2etest.CreateAPIToken
)

// e2eEnv is a client of a running Tollgate on loopback. The tests with a
// real registry and real clients are in the interop module (./interop).
type e2eEnv struct {
	*e2etest.Client
	realm  string       // Client.Realm
	client *http.Client // Client.HTTP
}

// tokenClient is a loopback-only client for the Tollgate at hostPort,
// addressed as given.
func tokenClient(t *testing.T, hostPort string) *e2eEnv {
	t.Helper()
	c := e2etest.NewClient(t, hostPort, 10*time.Second)
	return &e2eEnv{Client: c, realm: c.Realm, client: c.HTTP}
}

func (e *e2eEnv) base() string { return e.Base() }

func (e *e2eEnv) getToken(t *testing.T, user, password string, scopes ...string) (int, map[string]any) {
	t.Helper()
	return e.GetToken(t, user, password, scopes...)
}

func (e *e2eEnv) mustGetToken(t *testing.T, user string, scopes ...string) string {
	t.Helper()
	return e.MustGetToken(t, user, scopes...)
}

func (e *e2eEnv) postToken(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	return e.PostToken(t, form)
}

func (e *e2eEnv) identityToken(t *testing.T, user, password string) string {
	t.Helper()
	return e.IdentityToken(t, user, password)
}

func (e *e2eEnv) waitAnswering(t *testing.T, timeout time.Duration, gone <-chan struct{}) {
	t.Helper()
	e.WaitAnswering(t, timeout, gone)
}

// startTollgate runs serve on a loopback listener and returns localhost:PORT.
// Its log is shown only when the test fails.
func startTollgate(t *testing.T, cfg *config.Config) string {
	t.Helper()
	logs := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tollgate log:\n%s", logs.String())
		}
	})
	addr, _ := serveOnLoopback(t, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	_, port, _ := net.SplitHostPort(addr)
	return net.JoinHostPort("localhost", port)
}

// serveOnLoopback runs serve with logger on a 127.0.0.1 listener and
// returns its address and stop, which cancels serve and asserts that it
// returns nil (graceful shutdown) within 10s. stop runs at cleanup too; a
// second call does nothing.
func serveOnLoopback(t *testing.T, cfg *config.Config, logger *slog.Logger) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logger, ln) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after cancel, want nil (graceful shutdown)", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("serve did not return within 10s of cancel")
		}
	})
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}
