package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// The registry's view of Tollgate: its auth.token options.
const (
	e2eService = "registry.local"
	e2eIssuer  = "tollgate"
)

// e2eUsers are the htpasswd accounts of the end-to-end environment.
var e2eUsers = map[string]string{
	"admin": "admin-secret",
	"alice": "alice-secret",
	"bob":   "bob-secret",
}

// e2eACL is configs/tollgate.yaml's example policy.
const e2eACL = `acl:
  - {account: admin, actions: ["*"]}
  - {account: "*", type: repository, name: "${account}/*", actions: [pull, push]}
  - {account: "*", type: repository, name: "shared/*", actions: [pull]}
  - {account: "", type: repository, name: "public/*", actions: [pull]}
`

// e2eEnv is a client of a running Tollgate on loopback, addressed as
// localhost:PORT. The tests with a real registry and real clients are in
// the interop module (./interop).
type e2eEnv struct {
	tokenHost string // localhost:TPORT
	realm     string // http://localhost:TPORT/oauth2/token
	dials     *dialLog
	transport *http.Transport // loopback-only; every client here uses it
	client    *http.Client
}

// clearTollgateEnv unsets every TOLLGATE_* variable of this shell for the
// test (an empty one would be an explicit empty value) and restores them
// after it. The TOLLGATE_TEST_* variables stay: config.Load ignores them,
// and they lead the tests to their resources (pgtest.DSNEnv).
func clearTollgateEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, config.EnvPrefix+"_") && !strings.HasPrefix(k, config.TestEnvPrefix) {
			t.Setenv(k, "") // records the value, restored after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func writeHtpasswd(t *testing.T, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(users)) {
		hash, err := bcrypt.GenerateFromPassword([]byte(users[name]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", name, hash)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// loadE2EConfig writes the YAML the way an operator would and loads it
// through config.Load and Validate.
func loadE2EConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`server:
  addr: "127.0.0.1:0"
token:
  issuer: %q
  expiration: 5m
  services: [%q]
  refresh_expiration: 1h
keys:
  algorithm: ES256
  private_key: %q
  certificate: %q
  kid_format: thumbprint
users:
  htpasswd: %q
  cache_ttl: 5m
store:
  type: sqlite
  path: %q
log:
  level: debug
  format: json
`, e2eIssuer, e2eService,
		filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"),
		filepath.Join(dir, "htpasswd"), filepath.Join(dir, "tollgate.db")) + e2eACL
	path := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return cfg
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logger, ln) }()
	t.Cleanup(func() {
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
	return net.JoinHostPort("localhost", portOf(t, ln.Addr()))
}

func portOf(t *testing.T, addr net.Addr) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// getToken calls GET /oauth2/token the way crane does (HTTP Basic).
func (e *e2eEnv) getToken(t *testing.T, user, password string, scopes ...string) (int, map[string]any) {
	t.Helper()
	q := url.Values{"service": {e2eService}, "scope": scopes}
	req, err := http.NewRequest(http.MethodGet, e.realm+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return e.do(t, req)
}

// mustGetToken asks GET /oauth2/token with the user's Basic credentials.
func (e *e2eEnv) mustGetToken(t *testing.T, user string, scopes ...string) string {
	t.Helper()
	status, body := e.getToken(t, user, e2eUsers[user], scopes...)
	tok, _ := body["token"].(string)
	if status != http.StatusOK || tok == "" || body["access_token"] != tok {
		t.Fatalf("GET token for %s %q = %d %v, want 200 with token == access_token", user, scopes, status, body)
	}
	return tok
}

// identityToken is what `docker login` stores: a refresh token from the
// password grant with access_type=offline.
func (e *e2eEnv) identityToken(t *testing.T, user, password string) string {
	t.Helper()
	status, body := e.postToken(t, url.Values{
		"grant_type":  {"password"},
		"username":    {user},
		"password":    {password},
		"client_id":   {"docker"},
		"access_type": {"offline"},
		"service":     {e2eService},
	})
	rt, _ := body["refresh_token"].(string)
	if status != http.StatusOK || rt == "" {
		t.Fatalf("password grant for %s = %d %v, want 200 with a refresh_token", user, status, body)
	}
	return rt
}

// waitServing polls /health until the server answers.
func (e *e2eEnv) waitServing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := e.client.Get("http://" + e.tokenHost + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tollgate does not answer /health after 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// postToken calls POST /oauth2/token with a form (distribution oauth.md).
func (e *e2eEnv) postToken(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.realm, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(t, req)
}

func (e *e2eEnv) do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not a JSON object: %v", req.Method, req.URL.Path, resp.StatusCode, body, err)
	}
	return resp.StatusCode, m
}

// dialLog records the address of every connection attempt.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialLog) add(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = append(d.addrs, addr)
}

func (d *dialLog) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.addrs)
}

var errNotLoopback = errors.New("e2e: refusing to dial a non-loopback address")

// loopbackTransport dials only loopback addresses (checked after name
// resolution, on the socket's actual peer) and ignores proxy settings.
func loopbackTransport(log *dialLog) *http.Transport {
	d := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			log.add(address)
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !ap.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("%w: %s", errNotLoopback, address)
			}
			return nil
		},
	}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
}
