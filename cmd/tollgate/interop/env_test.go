package interop_test

// The end-to-end environment: a `tollgate serve` child process on a
// generated configuration, a real distribution registry in-process that
// trusts its certificate, and loopback-only HTTP clients.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/distribution/distribution/v3/registry/auth"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
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

// apiTokenUser is the Basic user name that says "the password is an API
// token" (docker login -u token -p tg_…).
const apiTokenUser = "token"

// The event kinds of `tollgate audit tail --json` the tests look for.
const (
	auditAPITokenCreated = "apitoken.created"
	auditTokenIssued     = "token.issued"
)

// e2eEnv is a running Tollgate and, for newE2E, a real distribution
// registry that trusts it, both on loopback and both addressed as
// localhost:PORT (ggcr accepts a loopback realm only by host name;
// INTEROP.md).
type e2eEnv struct {
	tokenHost    string // localhost:TPORT
	realm        string // http://localhost:TPORT/oauth2/token
	registryHost string // localhost:RPORT
	certPath     string // the registry's rootcertbundle
	configPath   string // Tollgate's YAML, for the operator commands (runCLI --config)
	server       *serverProcess
	dials        *dialLog
	transport    *http.Transport // loopback-only; every client here uses it
	client       *http.Client
}

// newE2E starts Tollgate (stopped with SIGTERM at cleanup, which asserts a
// graceful exit) and the registry.
func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	clearTollgateEnv(t)
	captureRegistryLogs(t)
	dir, _ := tollgateDir(t)
	env := startTollgate(t, filepath.Join(dir, "tollgate.yaml"))
	env.certPath = filepath.Join(dir, "keys", "signing.crt")
	env.registryHost = startRegistry(t, env.realm, env.certPath)
	env.waitReady(t)
	return env
}

// clearTollgateEnv unsets every TOLLGATE_* variable of this shell for the
// test (an empty one would be an explicit empty value) and restores them
// after it; the server and the commands, children of this process,
// inherit the result. The TOLLGATE_TEST_* variables stay: config.Load
// ignores them, and they lead the tests to their resources.
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

// usePostgresStore points the configuration at dsn the way an operator of
// replicas would, with environment overrides of the YAML's store section;
// `tollgate serve` and `tollgate audit` honour them. Call it after
// clearTollgateEnv.
func usePostgresStore(t *testing.T, dsn string) {
	t.Helper()
	t.Setenv(config.EnvPrefix+"_STORE_TYPE", "postgres")
	t.Setenv(config.EnvPrefix+"_STORE_DSN", dsn)
}

// captureRegistryLogs sends distribution's logrus output (one line per
// request) to a buffer shown only when the test fails.
func captureRegistryLogs(t *testing.T) {
	t.Helper()
	logs := &logBuffer{}
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

// loadE2EConfig writes the YAML the way an operator would and loads it
// through config.Load and Validate, as `tollgate serve` will.
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

// startTollgate runs `tollgate serve --config configPath` on a free
// loopback port and returns a client for it once it answers. At cleanup
// the server gets SIGTERM and must exit 0 (graceful shutdown); its log is
// shown only when the test fails.
func startTollgate(t *testing.T, configPath string) *e2eEnv {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p := startServerProcess(t, configPath, freeAddr(t))
		env := tokenClient(t, p.addr)
		env.server, env.configPath = p, configPath
		if env.answers(15*time.Second, p.done) {
			t.Cleanup(func() { p.stopGracefully(t) })
			return env
		}
		// Another process may have taken the port between freeAddr and
		// the server's listen: try another.
		if attempt == 3 || !strings.Contains(p.logs.String(), "address already in use") {
			t.Fatalf("tollgate serve on %s did not answer: %v\n%s", p.addr, p.err, p.logs.String())
		}
	}
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

// tokenClient is a loopback-only client for one Tollgate at 127.0.0.1:PORT,
// which it addresses as localhost:PORT, with no registry.
func tokenClient(t *testing.T, addr string) *e2eEnv {
	t.Helper()
	dials := &dialLog{}
	tr := loopbackTransport(dials)
	t.Cleanup(tr.CloseIdleConnections)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	host := net.JoinHostPort("localhost", port)
	return &e2eEnv{
		tokenHost: host,
		realm:     "http://" + host + "/oauth2/token",
		dials:     dials,
		transport: tr,
		client:    &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
}

// base is the server's root URL.
func (e *e2eEnv) base() string { return "http://" + e.tokenHost }

// answers polls the token endpoint until the server answers with any HTTP
// response (true), or the timeout passes or gone reports that the server
// stopped (false).
func (e *e2eEnv) answers(timeout time.Duration, gone <-chan struct{}) bool {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := e.client.Get(e.realm + "?service=" + e2eService)
		if err == nil {
			resp.Body.Close()
			return true
		}
		select {
		case <-gone:
			return false
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAnswering is answers that fails the test.
func (e *e2eEnv) waitAnswering(t *testing.T, timeout time.Duration, gone <-chan struct{}) {
	t.Helper()
	if !e.answers(timeout, gone) {
		t.Fatalf("%s not answering within %s, or stopped", e.tokenHost, timeout)
	}
}

// stopGracefully is stop for a cleanup: it reports, never stops the test.
func (p *serverProcess) stopGracefully(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGTERM: %v", err)
		return
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("tollgate serve after SIGTERM: %v, want exit status 0 (graceful shutdown)", p.err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("tollgate serve did not exit within 15s of SIGTERM")
	}
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

// waitReady polls both servers until they answer.
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

// waitServing polls /health until the server answers 200.
func (e *e2eEnv) waitServing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := e.client.Get("http://" + e.tokenHost + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tollgate does not answer /health after 15s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// apiTokenCall POSTs a JSON body to an /api/tokens endpoint of baseURL.
func apiTokenCall(t *testing.T, client *http.Client, baseURL, path string, body map[string]any, bearer string) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, baseURL+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: status %d, body is not a JSON object: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// createAPIToken mints a token for user with role, or fails the test. It
// returns the token and the hash prefix the server names it by.
func createAPIToken(t *testing.T, client *http.Client, baseURL, user, role string) (tok, hashPrefix string) {
	t.Helper()
	status, m := apiTokenCall(t, client, baseURL, "/api/tokens",
		map[string]any{"username": user, "password": e2eUsers[user], "role": role, "description": "e2e"}, "")
	tok, _ = m["token"].(string)
	hashPrefix, _ = m["hash_prefix"].(string)
	if status != http.StatusOK || !strings.HasPrefix(tok, "tg_") || hashPrefix == "" {
		t.Fatalf("create %s token for %s: status %d, body %v", role, user, status, m)
	}
	return tok, hashPrefix
}

// accessController is distribution's token verifier trusting the
// certificate bundle at certPath, as a registry configured for Tollgate
// would be.
func accessController(t *testing.T, certPath, realm string) auth.AccessController {
	t.Helper()
	ac, err := auth.GetAccessController("token", map[string]any{
		"realm":          realm,
		"issuer":         e2eIssuer,
		"service":        e2eService,
		"rootcertbundle": certPath,
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

func bearerRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://registry.local/v2/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
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
