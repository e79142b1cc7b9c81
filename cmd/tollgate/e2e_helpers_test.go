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
	"net/http/httptest"
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

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/keys"
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

// e2eEnv is a running Tollgate and a real distribution registry that trusts
// it, both on loopback and both addressed as localhost:PORT (ggcr accepts a
// loopback realm only by host name; INTEROP.md).
type e2eEnv struct {
	tokenHost    string // localhost:TPORT
	realm        string // http://localhost:TPORT/oauth2/token
	registryHost string // localhost:RPORT
	certPath     string // the registry's rootcertbundle
	configPath   string // Tollgate's YAML, for the operator commands (runCLI --config)
	dials        *dialLog
	transport    *http.Transport // loopback-only; every client here uses it
	client       *http.Client
}

// newE2E starts Tollgate through serve (stopped gracefully at cleanup, which
// asserts serve returned nil) and the registry.
func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	clearTollgateEnv(t)
	captureRegistryLogs(t)
	dials := &dialLog{}
	tr := loopbackTransport(dials)
	t.Cleanup(tr.CloseIdleConnections)
	env := &e2eEnv{dials: dials, transport: tr, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}

	dir := t.TempDir()
	env.certPath = filepath.Join(dir, "keys", "signing.crt")
	if _, err := keys.WriteDev(filepath.Join(dir, "keys", "signing.pem"), env.certPath, keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatalf("WriteDev: %v", err)
	}
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), e2eUsers)
	cfg := loadE2EConfig(t, dir)
	env.configPath = filepath.Join(dir, "tollgate.yaml")

	env.tokenHost = startTollgate(t, cfg)
	env.realm = "http://" + env.tokenHost + "/oauth2/token"
	env.registryHost = startRegistry(t, env.realm, env.certPath)
	env.waitReady(t)
	return env
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

// captureRegistryLogs sends distribution's logrus output (one line per
// request) to a buffer shown only when the test fails.
func captureRegistryLogs(t *testing.T) {
	t.Helper()
	logs := &logtest.Buffer{}
	std := logrus.StandardLogger()
	out, level := std.Out, std.GetLevel()
	std.SetOutput(logs)
	std.SetLevel(logrus.InfoLevel)
	t.Cleanup(func() {
		std.SetOutput(out)
		std.SetLevel(level)
		if t.Failed() {
			t.Logf("registry log:\n%s", logs.String())
		}
	})
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

// startRegistry serves distribution's App with in-memory storage and token
// auth trusting Tollgate's certificate; it returns localhost:PORT.
func startRegistry(t *testing.T, realm, certPath string) string {
	t.Helper()
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory": configuration.Parameters{},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
		Auth: configuration.Auth{
			"token": configuration.Parameters{
				"realm":          realm,
				"service":        e2eService,
				"issuer":         e2eIssuer,
				"rootcertbundle": certPath,
			},
		},
		Catalog: configuration.Catalog{MaxEntries: 1000}, // ggcr asks for n=1000
	}
	cfg.Log.Level = "warn"
	cfg.HTTP.Headers = http.Header{"X-Content-Type-Options": []string{"nosniff"}}
	ctx, cancel := context.WithCancel(context.Background())
	app := handlers.NewApp(ctx, cfg)
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		if err := app.Shutdown(); err != nil {
			t.Errorf("registry shutdown: %v", err)
		}
		cancel()
	})
	return net.JoinHostPort("localhost", portOf(t, srv.Listener.Addr()))
}

func portOf(t *testing.T, addr net.Addr) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// waitReady polls both servers until they answer (serve builds the app
// after the listener exists, so the first connections may queue).
func (e *e2eEnv) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, u := range []string{
		e.realm + "?service=" + e2eService,
		"http://" + e.registryHost + "/v2/",
	} {
		for {
			resp, err := e.client.Get(u)
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready: %v", u, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// ref names a repository:tag on the registry.
func (e *e2eEnv) ref(t *testing.T, repoTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(e.registryHost + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (e *e2eEnv) opts(ctx context.Context, a authn.Authenticator) []remote.Option {
	return []remote.Option{remote.WithAuth(a), remote.WithTransport(e.transport), remote.WithContext(ctx)}
}

func basic(user string) authn.Authenticator {
	return &authn.Basic{Username: user, Password: e2eUsers[user]}
}

// push writes a small random image and returns its digest.
func (e *e2eEnv) push(ctx context.Context, repoTag string, a authn.Authenticator) (v1.Hash, error) {
	img, err := random.Image(256, 1)
	if err != nil {
		return v1.Hash{}, err
	}
	ref, err := name.ParseReference(e.registryHost + "/" + repoTag)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(ref, img, e.opts(ctx, a)...); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

func (e *e2eEnv) mustPush(t *testing.T, ctx context.Context, repoTag string, a authn.Authenticator) v1.Hash {
	t.Helper()
	d, err := e.push(ctx, repoTag, a)
	if err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	return d
}

// pull fetches the image and returns the digest the registry served; it
// also reads every layer so blob access is exercised, not just manifests.
func (e *e2eEnv) pull(ctx context.Context, repoTag string, a authn.Authenticator) (v1.Hash, error) {
	ref, err := name.ParseReference(e.registryHost + "/" + repoTag)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := remote.Image(ref, e.opts(ctx, a)...)
	if err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
	}
	return img.Digest()
}

// wantTransportError asserts err is a ggcr *transport.Error with the status
// and the failing request's method, host and path (a prefix), carrying
// exactly one diagnostic with code, or none when code is "" (HEAD responses
// have no body), and returns it.
func wantTransportError(t *testing.T, err error, status int, code transport.ErrorCode, method, host, path string) *transport.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d %s from %s %s%s", status, code, method, host, path)
	}
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("error %T %v is not a *transport.Error", err, err)
	}
	if terr.StatusCode != status {
		t.Errorf("status %d, want %d (%v)", terr.StatusCode, status, err)
	}
	switch {
	case code == "" && len(terr.Errors) != 0:
		t.Errorf("diagnostics %+v, want none (%v)", terr.Errors, err)
	case code != "" && (len(terr.Errors) != 1 || terr.Errors[0].Code != code):
		t.Errorf("diagnostics %+v, want exactly one %s (%v)", terr.Errors, code, err)
	}
	if terr.Request == nil {
		t.Fatalf("transport.Error has no request (%v)", err)
	}
	if u := terr.Request.URL; terr.Request.Method != method || u.Host != host || !strings.HasPrefix(u.Path, path) {
		t.Errorf("failed request %s %s, want %s %s%s…", terr.Request.Method, u, method, host, path)
	}
	return terr
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
