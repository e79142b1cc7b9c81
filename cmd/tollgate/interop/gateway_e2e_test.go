package interop_test

// The forward-auth gateway with real peers: nginx (nginxtest) serving the
// shipped deploy/gateway/nginx.conf in front of the real registry, which
// runs without auth; `tollgate serve` with gateway.enabled as nginx's
// auth_request target, trusting nginx's address (127.0.0.1) for
// X-Original-Method and X-Original-URI; go-containerregistry, regclient
// and oras-go as the clients. The clients send their credentials (a
// password or an API token as HTTP Basic, an API token or a Tollgate token
// as Bearer) with every request to the registry: no token endpoint is
// involved.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ggcrauthn "github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/regclient/regclient/types/errs"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/gateway/nginxtest"
)

// gatewayNginxConf is the shipped nginx configuration the tests serve.
const gatewayNginxConf = deployDir + "/gateway/nginx.conf"

// The settings of TestEndToEndGateway's Tollgate.
const (
	gatewayCacheTTL     = 5 * time.Second
	gatewayFailureBurst = 3 // bob's failed logins before 429
)

// The audit event kinds of the gateway's decisions (pkg/gateway).
const (
	auditForwardAllowed = "forward.allowed"
	auditForwardDenied  = "forward.denied"
)

// loopbackProxy is server.trusted_proxies of a Tollgate behind nginx.
var loopbackProxy = []string{"127.0.0.1/32"}

// gatewayOptions are what gateway Tollgates differ in.
type gatewayOptions struct {
	cacheTTL     time.Duration // gateway.cache_ttl
	trusted      []string      // server.trusted_proxies: whose X-Original-* headers are believed
	failureBurst int           // limits.failure_burst, refilled at 1 a minute; 0: the defaults
}

// gatewayEnv is a gateway Tollgate and nginx in front of a registry
// without auth. registryHost is nginx's localhost:PORT, so that the
// e2eEnv's push and pull go through nginx.
type gatewayEnv struct {
	*e2eEnv
	nginx *nginxtest.Server
}

// writeGatewayConfig turns e2etest's configuration at path into a
// gateway's: gateway.enabled with o's cache, o's trusted proxies, admin in
// users.admins (for admin API tokens), o's failure budget; it checks that
// the result loads and validates as `tollgate serve` will load it.
func writeGatewayConfig(t testing.TB, path string, o gatewayOptions) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(b)
	if !strings.HasPrefix(yaml, "server:\n") || strings.Count(yaml, "\nusers:\n") != 1 {
		t.Fatalf("%s: no single server and users section to extend:\n%s", path, yaml)
	}
	proxies, err := json.Marshal(append([]string{}, o.trusted...)) // a JSON list is a YAML flow sequence
	if err != nil {
		t.Fatal(err)
	}
	yaml = "server:\n  trusted_proxies: " + string(proxies) + "\n" + strings.TrimPrefix(yaml, "server:\n")
	yaml = strings.Replace(yaml, "\nusers:\n", "\nusers:\n  admins: [admin]\n", 1)
	yaml += fmt.Sprintf("gateway:\n  enabled: true\n  cache_ttl: %s\n", o.cacheTTL)
	if o.failureBurst > 0 {
		yaml += fmt.Sprintf("limits:\n  failures_per_minute: 1\n  failure_burst: %d\n", o.failureBurst)
	}
	cfg := writeConfig(t, path, yaml)
	if !cfg.Gateway.Enabled || cfg.Gateway.CacheTTL != o.cacheTTL || len(cfg.Server.TrustedProxies) != len(o.trusted) {
		t.Fatalf("gateway %+v, trusted_proxies %q from\n%s", cfg.Gateway, cfg.Server.TrustedProxies, yaml)
	}
}

// startGatewayTollgate starts a Tollgate on e2etest's environment (its
// users and ACL) with the gateway on, as o says.
func startGatewayTollgate(t testing.TB, o gatewayOptions) *e2eEnv {
	t.Helper()
	dir, _ := e2etest.Dir(t)
	path := filepath.Join(dir, "tollgate.yaml")
	writeGatewayConfig(t, path, o)
	return startTollgate(t, path)
}

// startNginxGateway serves deploy/gateway/nginx.conf with nginx, asking
// tollgate about the requests for registryHost (localhost:PORT).
func startNginxGateway(t testing.TB, tollgate *e2eEnv, registryHost string) *nginxtest.Server {
	t.Helper()
	site, err := os.ReadFile(gatewayNginxConf)
	if err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(registryHost)
	if err != nil {
		t.Fatal(err)
	}
	// Addresses, not localhost: nginx would try ::1 first, where nothing listens.
	return nginxtest.Start(t, string(site), map[string]string{
		"TOLLGATE": tollgate.server.addr,
		"REGISTRY": net.JoinHostPort("127.0.0.1", port),
	})
}

// newGateway starts a gateway Tollgate and nginx in front of the registry
// at registryHost.
func newGateway(t testing.TB, registryHost string, o gatewayOptions) *gatewayEnv {
	t.Helper()
	env := startGatewayTollgate(t, o)
	g := &gatewayEnv{e2eEnv: env, nginx: startNginxGateway(t, env, registryHost)}
	g.registryHost = g.nginx.Host()
	g.waitReady(t)
	return g
}

// url is path on nginx.
func (g *gatewayEnv) url(path string) string { return g.nginx.URL() + path }

// gatewayFixture is what TestEndToEndGateway pushes before its subtests.
type gatewayFixture struct {
	sharedApp, aliceApp v1.Hash
	sharedLayer         v1.Hash // a layer of shared/app:v1, which alice may pull
	bobLayer            v1.Hash // a layer of bob/secret:v1, which she may not
}

// TestEndToEndGateway: nginx (deploy/gateway/nginx.conf) → the real
// registry without auth, Tollgate answering nginx's auth_request. The
// subtests share one environment and run in order; the failed logins come
// last but for the measurement, so that no budget is spent before.
func TestEndToEndGateway(t *testing.T) {
	defaultUsed := forbidDefaultTransport(t)
	e2etest.OnlyEnv(t, nil)
	captureRegistryLogs(t)
	registry := startOpenRegistry(t)
	g := newGateway(t, registry, gatewayOptions{cacheTTL: gatewayCacheTTL, trusted: loopbackProxy,
		failureBurst: gatewayFailureBurst})
	ctx := t.Context()
	fx := gatewayFixture{
		sharedApp: g.mustPush(t, ctx, "shared/app:v1", basic("admin")),
		aliceApp:  g.mustPush(t, ctx, "alice/app:v1", basic("alice")),
	}
	g.mustPush(t, ctx, "bob/secret:v1", basic("bob"))
	g.mustPush(t, ctx, "alice/revoke:v1", basic("admin")) // only the revoked token reads it as alice
	fx.sharedLayer = g.firstLayer(t, "shared/app:v1", basic("alice"))
	fx.bobLayer = g.firstLayer(t, "bob/secret:v1", basic("bob"))
	adminPassword := basicAuthz("admin", e2etest.Users["admin"])
	alicePassword := basicAuthz("alice", e2etest.Users["alice"])

	t.Run("catalog: curl -u, an admin API token; no credentials: 401 Basic", func(t *testing.T) {
		for _, c := range []struct{ name, authz string }{
			{"Basic admin:password", adminPassword},
			{"Bearer admin API token", bearerAuthz(mustAPIToken(t, g.e2eEnv, "admin", "admin"))},
		} {
			status, h, body := gwDo(t, g.HTTP, http.MethodGet, g.url("/v2/_catalog"), c.authz, nil)
			var cat struct{ Repositories []string }
			if err := json.Unmarshal(body, &cat); status != http.StatusOK || err != nil {
				t.Fatalf("%s: GET /v2/_catalog = %d %q (%v), want 200 with the registry's JSON", c.name, status, body, err)
			}
			for _, want := range []string{"alice/app", "bob/secret", "shared/app"} {
				if !slices.Contains(cat.Repositories, want) {
					t.Errorf("%s: catalog %q lacks %s", c.name, cat.Repositories, want)
				}
			}
			if v := h.Values("Docker-Distribution-Api-Version"); !slices.Equal(v, []string{"registry/2.0"}) {
				t.Errorf("%s: Docker-Distribution-Api-Version %q, want the registry's alone", c.name, v)
			}
		}
		status, h, body := gwDo(t, g.HTTP, http.MethodGet, g.url("/v2/_catalog"), "", nil)
		if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic realm=") {
			t.Errorf("without credentials: %d, WWW-Authenticate %q; want 401 with a Basic challenge", status, h.Get("WWW-Authenticate"))
		}
		wantDockerCode(t, body, "UNAUTHORIZED")
		if v := h.Get("Docker-Distribution-Api-Version"); v != "registry/2.0" {
			t.Errorf("nginx's 401 has Docker-Distribution-Api-Version %q, want registry/2.0", v)
		}
		status, _, body = gwDo(t, g.HTTP, http.MethodGet, g.url("/v2/_catalog"), alicePassword, nil)
		if status != http.StatusForbidden {
			t.Errorf("alice's catalog: %d, want 403 (admin's only)", status)
		}
		wantDockerCode(t, body, "DENIED")
	})

	t.Run("Bearer Tollgate token: what it grants, not what the ACL would", func(t *testing.T) {
		tok := g.MustGetToken(t, "alice", "repository:alice/app:pull")
		status, h, _ := gwDo(t, g.HTTP, http.MethodHead, g.url("/v2/alice/app/manifests/v1"), bearerAuthz(tok), nil)
		if status != http.StatusOK || h.Get("Docker-Content-Digest") != fx.aliceApp.String() {
			t.Errorf("HEAD alice/app with her pull token: %d, digest %q; want 200, %s", status, h.Get("Docker-Content-Digest"), fx.aliceApp)
		}
		status, _, _ = gwDo(t, g.HTTP, http.MethodHead, g.url("/v2/shared/app/manifests/v1"), bearerAuthz(tok), nil)
		if status != http.StatusForbidden {
			t.Errorf("HEAD shared/app with a token for alice/app: %d, want 403", status)
		}
	})

	t.Run("ggcr, regclient and oras push and pull back", func(t *testing.T) {
		write := mustAPIToken(t, g.e2eEnv, "alice", "write")
		for _, c := range []struct{ name, tag, user, password string }{
			{"password", "pw", "alice", e2etest.Users["alice"]},
			{"token:<write token>", "tok", apiTokenUser, write},
		} {
			t.Run(c.name, func(t *testing.T) {
				login := &ggcrauthn.Basic{Username: c.user, Password: c.password}
				pushed := g.mustPush(t, ctx, "alice/ggcr:"+c.tag, login)
				if got, err := g.pull(ctx, "alice/ggcr:"+c.tag, login); err != nil || got != pushed {
					t.Errorf("ggcr pulled alice/ggcr:%s = %s, %v; pushed %s", c.tag, got, err, pushed)
				}

				rc := newRegclient(t, g.e2eEnv, g.registryHost, c.user, c.password)
				rcPushed, err := rcPush(ctx, rc, g.registryHost, "alice/rc:"+c.tag)
				if err != nil {
					t.Fatalf("regclient push alice/rc:%s: %v", c.tag, err)
				}
				if got, err := rcPull(ctx, rc, g.registryHost, "alice/rc:"+c.tag); err != nil || got != rcPushed {
					t.Errorf("regclient pulled alice/rc:%s = %s, %v; pushed %s", c.tag, got, err, rcPushed)
				}

				orasPushed, err := g.orasPush(ctx, g.registryHost, "alice/oras:"+c.tag, c.user, c.password, 64<<10)
				if err != nil {
					t.Fatalf("oras push alice/oras:%s: %v", c.tag, err)
				}
				if got, err := g.orasPull(ctx, g.registryHost, "alice/oras:"+c.tag, c.user, c.password); err != nil || got != orasPushed {
					t.Errorf("oras pulled alice/oras:%s = %s, %v; pushed %s", c.tag, got, err, orasPushed)
				}
			})
		}
	})

	t.Run("a 3 MiB layer streams through (client_max_body_size 0)", func(t *testing.T) {
		img, err := random.Image(3<<20, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(g.ref(t, "alice/big:v1"), img, g.opts(ctx, basic("alice"))...); err != nil {
			t.Fatalf("push alice/big:v1: %v", err)
		}
		want, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := g.pull(ctx, "alice/big:v1", basic("alice")); err != nil || got != want {
			t.Errorf("pulled alice/big:v1 = %s, %v; pushed %s", got, err, want)
		}
	})

	t.Run("shared/* is read-only for alice: pull, and 403 DENIED for the push", func(t *testing.T) {
		if got, err := g.pull(ctx, "shared/app:v1", basic("alice")); err != nil || got != fx.sharedApp {
			t.Fatalf("alice pulls shared/app = %s, %v; admin pushed %s", got, err, fx.sharedApp)
		}
		_, err := g.push(ctx, "shared/app:alice", basic("alice"))
		wantTransportError(t, err, http.StatusForbidden, transport.DeniedErrorCode, http.MethodPost, g.registryHost, "/v2/shared/app/blobs/uploads/")
		tags, err := remote.List(g.ref(t, "shared/app").Context(), g.opts(ctx, basic("admin"))...)
		if err != nil || !slices.Equal(tags, []string{"v1"}) {
			t.Errorf("tags of shared/app after the refused push = %q, %v; want [v1]", tags, err)
		}
	})

	t.Run("a read token is refused the push: 403 DENIED", func(t *testing.T) {
		read := mustAPIToken(t, g.e2eEnv, "alice", "read")
		asRead := &ggcrauthn.Basic{Username: apiTokenUser, Password: read}
		if got, err := g.pull(ctx, "alice/app:v1", asRead); err != nil || got != fx.aliceApp {
			t.Fatalf("pull alice/app with the read token = %s, %v", got, err)
		}
		_, err := g.push(ctx, "alice/ro:v1", asRead)
		wantTransportError(t, err, http.StatusForbidden, transport.DeniedErrorCode, http.MethodPost, g.registryHost, "/v2/alice/ro/blobs/uploads/")
		_, err = rcPush(ctx, newRegclient(t, g.e2eEnv, g.registryHost, apiTokenUser, read), g.registryHost, "alice/ro:rc")
		if !errors.Is(err, errs.ErrHTTPUnauthorized) || !strings.Contains(err.Error(), "[http 403]") {
			t.Errorf("regclient push with the read token: %v, want %v [http 403]", err, errs.ErrHTTPUnauthorized)
		}
	})

	t.Run("a revoked API token is refused at once, though its decision was cached", func(t *testing.T) {
		rev, revPrefix := e2etest.CreateAPIToken(t, g.HTTP, g.Base(), "alice", "write")
		manifest := g.url("/v2/alice/revoke/manifests/v1")
		first := time.Now()
		for i := range 5 {
			if status, _, _ := gwDo(t, g.HTTP, http.MethodHead, manifest, bearerAuthz(rev), nil); status != http.StatusOK {
				t.Fatalf("HEAD %d with the token before revocation: %d, want 200", i+1, status)
			}
		}
		// Decided afresh (another access), so audited after the five.
		if status, _, _ := gwDo(t, g.HTTP, http.MethodHead, g.url("/v2/bob/sentinel/manifests/v1"), bearerAuthz(rev), nil); status != http.StatusForbidden {
			t.Fatalf("HEAD bob/sentinel with alice's token: %d, want 403", status)
		}
		if status, m := e2etest.APITokenCall(t, g.HTTP, g.Base(), "/api/tokens/revoke", map[string]any{"hash_prefix": revPrefix}, rev); status != http.StatusOK {
			t.Fatalf("revoke: status %d, body %v", status, m)
		}
		status, h, _ := gwDo(t, g.HTTP, http.MethodHead, manifest, bearerAuthz(rev), nil)
		if elapsed := time.Since(first); elapsed >= gatewayCacheTTL {
			t.Fatalf("revocation checked %v after the decision was cached, past its %v TTL: the test proves nothing", elapsed, gatewayCacheTTL)
		}
		if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("HEAD with the revoked token: %d (WWW-Authenticate %q), want 401 at once", status, h.Get("WWW-Authenticate"))
		}
		if status, _, _ := gwDo(t, g.HTTP, http.MethodGet, manifest, basicAuthz(apiTokenUser, rev), nil); status != http.StatusUnauthorized {
			t.Errorf("GET with token:<revoked token>: %d, want 401", status)
		}
		_, err := g.pull(ctx, "alice/revoke:v1", &ggcrauthn.Basic{Username: apiTokenUser, Password: rev})
		wantTransportError(t, err, http.StatusUnauthorized, transport.UnauthorizedErrorCode, http.MethodGet, g.registryHost, "/v2/alice/revoke/manifests/v1")
		// The five HEADs were one decision: the cache held it.
		allowed := g.waitDecisions(t, "alice", "repository:bob/sentinel:pull")
		if n := allowed["repository:alice/revoke:pull"]; n != 1 {
			t.Errorf("%d %s events for the five HEADs of alice/revoke with one token, want 1 (the rest from the cache)", n, auditForwardAllowed)
		}
	})

	t.Run("a mount from a repository alice cannot pull is refused", func(t *testing.T) {
		mount := func(layer v1.Hash, from string) (int, http.Header, []byte) {
			return gwDo(t, g.HTTP, http.MethodPost, g.url("/v2/alice/mnt/blobs/uploads/?mount="+layer.String()+"&from="+from), alicePassword, nil)
		}
		status, _, body := mount(fx.bobLayer, "bob/secret")
		if status != http.StatusForbidden {
			t.Errorf("mount from bob/secret: %d %q, want 403", status, body)
		}
		wantDockerCode(t, body, "DENIED")
		status, h, body := mount(fx.sharedLayer, "shared/app")
		if status != http.StatusCreated || h.Get("Docker-Content-Digest") != fx.sharedLayer.String() {
			t.Errorf("mount from shared/app: %d %q (digest %q), want 201 with %s", status, body, h.Get("Docker-Content-Digest"), fx.sharedLayer)
		}
		for layer, want := range map[v1.Hash]int{fx.bobLayer: http.StatusNotFound, fx.sharedLayer: http.StatusOK} {
			if status, _, _ := gwDo(t, g.HTTP, http.MethodHead, g.url("/v2/alice/mnt/blobs/"+layer.String()), alicePassword, nil); status != want {
				t.Errorf("HEAD alice/mnt blob %s: %d, want %d", layer, status, want)
			}
		}
	})

	t.Run("X-Original-URI from an address that is no trusted proxy is ignored", func(t *testing.T) {
		untrusted := startGatewayTollgate(t, gatewayOptions{cacheTTL: gatewayCacheTTL}) // trusted_proxies: []
		ask := func(env *e2eEnv, path string, h http.Header) (int, http.Header) {
			status, hdr, _ := gwDo(t, env.HTTP, http.MethodGet, env.Base()+path, adminPassword, h)
			return status, hdr
		}
		for _, h := range []http.Header{
			{"X-Original-Method": {http.MethodGet}, "X-Original-Uri": {"/v2/_catalog"}},   // nginx
			{"X-Forwarded-Method": {http.MethodGet}, "X-Forwarded-Uri": {"/v2/_catalog"}}, // Traefik
		} {
			if status, _ := ask(untrusted, "/auth/forward", h); status != http.StatusForbidden {
				t.Errorf("admin asks /auth/forward with %v, not from a trusted proxy: %d, want 403 (/auth/forward is no registry request)", h, status)
			}
			if status, hdr := ask(g.e2eEnv, "/auth/forward", h); status != http.StatusOK || hdr.Get("X-Tollgate-Subject") != "admin" {
				t.Errorf("the same from a trusted proxy: %d, subject %q; want 200, admin", status, hdr.Get("X-Tollgate-Subject"))
			}
		}
		// Envoy's form carries the request in the path: no header to believe.
		if status, hdr := ask(untrusted, "/auth/forward/v2/_catalog", nil); status != http.StatusOK || hdr.Get("X-Tollgate-Subject") != "admin" {
			t.Errorf("GET /auth/forward/v2/_catalog as admin: %d, subject %q; want 200, admin", status, hdr.Get("X-Tollgate-Subject"))
		}
	})

	t.Run("failed logins through nginx end in 429 with Retry-After", func(t *testing.T) {
		wrong := basicAuthz("bob", "not-"+e2etest.Users["bob"])
		manifest := g.url("/v2/bob/secret/manifests/v1")
		var (
			status int
			h      http.Header
			body   []byte
		)
		attempt := 1
		for ; attempt <= gatewayFailureBurst+2; attempt++ {
			status, h, body = gwDo(t, g.HTTP, http.MethodGet, manifest, wrong, nil)
			if status != http.StatusUnauthorized {
				break
			}
		}
		if status != http.StatusTooManyRequests {
			t.Fatalf("attempt %d with a wrong password: %d %q, want 401 until the budget (burst %d) is spent, then 429",
				attempt, status, body, gatewayFailureBurst)
		}
		secs, err := strconv.Atoi(h.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 {
			t.Errorf("Retry-After %q, want whole seconds until the next failure is allowed (at most 60)", h.Get("Retry-After"))
		}
		wantDockerCode(t, body, "TOOMANYREQUESTS")
		t.Logf("attempt %d: 429, Retry-After %s", attempt, h.Get("Retry-After"))
		// The budget is spent before any password check: the right one waits too.
		if status, h, _ := gwDo(t, g.HTTP, http.MethodGet, manifest, basicAuthz("bob", e2etest.Users["bob"]), nil); status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Errorf("bob's right password after the budget: %d, Retry-After %q; want 429 with it", status, h.Get("Retry-After"))
		}
	})

	off := newGateway(t, registry, gatewayOptions{cacheTTL: 0, trusted: loopbackProxy})
	t.Run("HEAD manifest through nginx, decision cache on and off (measured)", func(t *testing.T) {
		const workers, span = 4, 2 * time.Second
		for _, c := range []struct {
			name string
			g    *gatewayEnv
		}{{"cache_ttl 5s", g}, {"cache_ttl 0", off}} {
			n, err := headLoad(ctx, c.g.HTTP, c.g.url("/v2/alice/app/manifests/v1"), alicePassword, workers, span)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			t.Logf("HEAD manifest through nginx with Basic alice, %s: %d in %v with %d workers = %.0f requests/s (race detector: %v)",
				c.name, n, span, workers, float64(n)/span.Seconds(), raceEnabled)
		}
	})

	t.Run("Tollgate down: nginx answers 503 and lets nothing through", func(t *testing.T) {
		off.server.stop(t)
		status, h, body := gwDo(t, off.HTTP, http.MethodGet, off.url("/v2/alice/app/manifests/v1"), alicePassword, nil)
		if status != http.StatusServiceUnavailable {
			t.Errorf("with Tollgate stopped: %d %q, want 503", status, body)
		}
		wantDockerCode(t, body, "UNAVAILABLE")
		if h.Get("Docker-Content-Digest") != "" {
			t.Errorf("the registry answered (Docker-Content-Digest %q)", h.Get("Docker-Content-Digest"))
		}
	})

	if n := defaultUsed.Load(); n != 0 {
		t.Errorf("http.DefaultTransport was used %d times; every request must use the loopback transport", n)
	}
}

// BenchmarkGatewayThroughNginx measures HEAD manifest requests through
// nginx (deploy/gateway/nginx.conf) with Basic credentials, Tollgate
// deciding each with its decision cache on (cache_ttl 5s) and off (0).
// ns/op is the time per request with 2×GOMAXPROCS clients at once. `make
// bench` runs it; alone:
//
//	cd cmd/tollgate/interop && go test -run '^$' -bench GatewayThroughNginx -benchtime 5s
func BenchmarkGatewayThroughNginx(b *testing.B) {
	e2etest.OnlyEnv(b, nil)
	captureRegistryLogs(b)
	registry := startOpenRegistry(b)
	for _, c := range []struct {
		name     string
		cacheTTL time.Duration
	}{{"cache-on", gatewayCacheTTL}, {"cache-off", 0}} {
		g := newGateway(b, registry, gatewayOptions{cacheTTL: c.cacheTTL, trusted: loopbackProxy})
		if _, err := g.push(b.Context(), "alice/bench:v1", basic("alice")); err != nil {
			b.Fatal(err)
		}
		manifest := g.url("/v2/alice/bench/manifests/v1")
		authz := basicAuthz("alice", e2etest.Users["alice"])
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if status, err := head(context.Background(), g.HTTP, manifest, authz); err != nil || status != http.StatusOK {
						b.Errorf("HEAD %s: %d, %v", manifest, status, err)
						return
					}
				}
			})
		})
	}
}

// headLoad sends HEAD url with authz from workers clients at once for d
// and returns how many were answered 200. Any other answer ends the load
// and is the error.
func headLoad(ctx context.Context, client *http.Client, url, authz string, workers int, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		ok    atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, err := head(ctx, client, url, authz)
				if ctx.Err() != nil {
					return // the load's end, not the server's answer
				}
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("HEAD %s: %d, want 200", url, status)
				}
				if err != nil {
					once.Do(func() { first = err })
					cancel()
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return ok.Load(), first
}

// head sends HEAD url with authz and returns the status.
func head(ctx context.Context, client *http.Client, url, authz string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", authz)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// gwDo sends method url with the Authorization value authz ("" for none)
// and the headers h, as curl would, and returns the answer's status,
// headers and body.
func gwDo(t testing.TB, client *http.Client, method, url, authz string, h http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return e2etest.Fetch(t, client, req)
}

func basicAuthz(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func bearerAuthz(token string) string { return "Bearer " + token }

// mustAPIToken creates an API token of user's with role.
func mustAPIToken(t testing.TB, env *e2eEnv, user, role string) string {
	t.Helper()
	tok, _ := e2etest.CreateAPIToken(t, env.HTTP, env.Base(), user, role)
	return tok
}

// wantDockerCode checks that body is a Docker error of code (distribution
// spec: {"errors":[{"code":…}]}).
func wantDockerCode(t testing.TB, body []byte, code string) {
	t.Helper()
	var e struct{ Errors []struct{ Code string } }
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Code != code {
		t.Errorf("body %q (%v), want a Docker error %s", body, err, code)
	}
}

// firstLayer is the digest of repoTag's first layer.
func (g *gatewayEnv) firstLayer(t *testing.T, repoTag string, a ggcrauthn.Authenticator) v1.Hash {
	t.Helper()
	img, err := remote.Image(g.ref(t, repoTag), g.opts(t.Context(), a)...)
	if err != nil {
		t.Fatalf("read %s: %v", repoTag, err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers of %s: %d, %v", repoTag, len(layers), err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitDecisions reads the audit log (tollgate audit tail) until it holds
// the forward.denied event of subject for sentinel, and returns how many
// forward.allowed events of subject it holds per requested scope. The
// recorder writes events in the order they were recorded, so the
// sentinel's being there means every decision made before it is too.
func (g *gatewayEnv) waitDecisions(t *testing.T, subject, sentinel string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := runCLI(t, "", "audit", "tail", "--json", "--since", "1h", "--config", g.configPath)
		if err != nil {
			t.Fatalf("tollgate audit tail: %v\n%s", err, out)
		}
		allowed, seen := map[string]int{}, false
		for line := range strings.Lines(out) {
			var ev struct{ Kind, Subject, Requested string }
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("audit tail --json printed %q: %v", line, err)
			}
			switch {
			case ev.Subject != subject:
			case ev.Kind == auditForwardAllowed:
				allowed[ev.Requested]++
			case ev.Kind == auditForwardDenied && ev.Requested == sentinel:
				seen = true
			}
		}
		if seen {
			return allowed
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event of %s for %s in the audit log after 15s:\n%s", auditForwardDenied, subject, sentinel, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
