package interop_test

// The end-to-end environment: a `tollgate serve` child process on a
// generated configuration, a real distribution registry in-process that
// trusts its certificate, and loopback-only HTTP clients.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/auth"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/sirupsen/logrus"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
)

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
	*e2etest.Client        // of Tollgate at localhost:TPORT
	registryHost    string // localhost:RPORT
	certPath        string // the registry's rootcertbundle
	configPath      string // Tollgate's YAML, for the operator commands (runCLI --config)
	server          *serverProcess
}

// newE2E starts Tollgate (stopped with SIGTERM at cleanup, which asserts a
// graceful exit) and the registry.
func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	return newE2EWithEnv(t, nil)
}

// newE2EWithEnv is newE2E with these TOLLGATE_ overrides, and no others.
func newE2EWithEnv(t *testing.T, vars map[string]string) *e2eEnv {
	t.Helper()
	e2etest.OnlyEnv(t, vars)
	captureRegistryLogs(t)
	dir, _ := e2etest.Dir(t)
	env := startTollgate(t, filepath.Join(dir, "tollgate.yaml"))
	env.certPath = filepath.Join(dir, "keys", "signing.crt")
	env.registryHost = startRegistry(t, env.Realm, env.certPath)
	env.waitReady(t)
	return env
}

// captureRegistryLogs sends distribution's logrus output (one line per
// request) to a buffer shown only when the test fails.
func captureRegistryLogs(t testing.TB) {
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

// startTollgate runs `tollgate serve --config configPath` on a free
// loopback port and returns a client for it once it answers. At cleanup
// the server gets SIGTERM and must exit 0 (graceful shutdown); its log is
// shown only when the test fails.
func startTollgate(t testing.TB, configPath string) *e2eEnv {
	t.Helper()
	return startTollgateWith(t, configPath, nil)
}

// startTollgateWith is startTollgate calling prepare (unless nil) with the
// address before each start, to write a configuration that names it
// (server.public_url).
func startTollgateWith(t testing.TB, configPath string, prepare func(addr string)) *e2eEnv {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := e2etest.FreeAddr(t)
		if prepare != nil {
			prepare(addr)
		}
		p := startServerProcess(t, configPath, addr)
		env := tokenClient(t, p.addr)
		env.server, env.configPath = p, configPath
		if env.Answer(15*time.Second, p.done) == nil {
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

// tokenClient is a loopback-only client for one Tollgate at 127.0.0.1:PORT,
// which it addresses as localhost:PORT, with no registry.
func tokenClient(t testing.TB, addr string) *e2eEnv {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return &e2eEnv{Client: e2etest.NewClient(t, net.JoinHostPort("localhost", port), 30*time.Second)}
}

// stopGracefully is stop for a cleanup: it reports, never stops the test.
func (p *serverProcess) stopGracefully(t testing.TB) {
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
	return serveRegistry(t, configuration.Auth{
		"token": configuration.Parameters{
			"realm":          realm,
			"service":        e2etest.Service,
			"issuer":         e2etest.Issuer,
			"rootcertbundle": certPath,
		},
	})
}

// startOpenRegistry is startRegistry without auth, as a registry behind a
// forward-auth gateway runs (REGISTRY_AUTH unset): it answers whoever
// reaches it, and only the proxy in front of it may.
func startOpenRegistry(t testing.TB) string {
	t.Helper()
	return serveRegistry(t, nil)
}

// serveRegistry serves distribution's App with in-memory storage and the
// auth section a (nil: none) until the test ends; it returns
// localhost:PORT.
func serveRegistry(t testing.TB, a configuration.Auth) string {
	t.Helper()
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory": configuration.Parameters{},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
		Auth:    a,
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
	return net.JoinHostPort("localhost", e2etest.PortOf(t, srv.Listener.Addr()))
}

// waitReady polls both servers until they answer.
func (e *e2eEnv) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, u := range []string{
		e.Realm + "?service=" + e2etest.Service,
		"http://" + e.registryHost + "/v2/",
	} {
		for {
			resp, err := e.HTTP.Get(u)
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

// accessController is distribution's token verifier trusting the
// certificate bundle at certPath, as a registry configured for Tollgate
// would be.
func accessController(t *testing.T, certPath, realm string) auth.AccessController {
	t.Helper()
	ac, err := auth.GetAccessController("token", map[string]any{
		"realm":          realm,
		"issuer":         e2etest.Issuer,
		"service":        e2etest.Service,
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

// writeConfig writes yaml to path and returns it loaded and validated, as
// serve would read it.
func writeConfig(t testing.TB, path, yaml string) *config.Config {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load: %v\n%s", err, yaml)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v\n%s", err, yaml)
	}
	return cfg
}
