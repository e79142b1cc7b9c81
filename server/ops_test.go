package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/metrics"
	"github.com/tollgate/tollgate/pkg/ratelimit"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/server"
)

// opsEnv is a tokenEnv wired as cmd/tollgate wires it for production: with
// metrics (bcrypt and credential-cache hooks, an instrumented store) and
// readiness checks.
type opsEnv struct {
	*tokenEnv
	metrics *metrics.Metrics
	st      store.Store // the instrumented store
}

type opsOptions struct {
	ready        func(st store.Store) []server.ReadyCheck // default: the store's Ping
	readyTimeout time.Duration
	limits       server.Limits
	noMetrics    bool
	logSink      io.Writer // default: the env's buffer, checked for secrets at cleanup
}

func newOpsEnv(tb testing.TB, o opsOptions) *opsEnv {
	tb.Helper()
	e := newEnvWith(tb, envOptions{logSink: o.logSink}) // its store, key, log buffer and log check
	sink := o.logSink
	if sink == nil {
		sink = e.logs
	}
	logger := debugLogger(sink)

	var m *metrics.Metrics
	if !o.noMetrics {
		m = metrics.New(metrics.NewRegistry())
		m.SetSigningKey(e.key.ID(), e.key.Algorithm(), time.Now().Add(-time.Hour))
	}
	users := writeUsers(tb, filepath.Join(tb.TempDir(), "htpasswd"), logger)
	users.OnCompare = m.BcryptVerified
	e.auth = authn.NewCache(users, time.Minute, 100)
	e.auth.Observe = m.CredentialCache
	st := m.InstrumentStore(e.store)

	tokens := &apitoken.Tokens{Store: st, Logger: logger}
	e.accounts = &accounts.Service{Store: st, Users: users, Admins: []string{"admin"}, Logger: logger,
		CacheTTL: accounts.DefaultCacheTTL} // as serve configures it
	svc := e.grantService(exampleACL(tb))
	svc.Refresh = &refresh.Tokens{Store: st, TTL: time.Hour}
	ready := []server.ReadyCheck{{Name: "store", Check: st.Ping}}
	if o.ready != nil {
		ready = o.ready(st)
	}
	opts := server.Options{
		Grant: svc, Authn: e.accounts.Authenticator(authn.Chain{tokens, e.auth}), Logger: logger, Realm: issuer,
		APITokens: tokens, Passwords: e.accounts.Authenticator(e.auth),
		Limits: o.limits, Ready: ready, ReadyTimeout: o.readyTimeout,
	}
	if m != nil {
		opts.Metrics, opts.RateLimited = m, m.RateLimited
	}
	e.serve(tb, server.New(opts))
	return &opsEnv{tokenEnv: &tokenEnv{env: e, tokens: tokens}, metrics: m, st: st}
}

// path sends GET path (no credentials).
func (e *opsEnv) path(t testing.TB, path string) response {
	t.Helper()
	return e.request(t, http.MethodGet, path, "", "", nil)
}

// scrape reads /metrics into series ("name{labels}", labels as exposed)
// → value, and the set of families declared by # TYPE lines.
func (e *opsEnv) scrape(t testing.TB) (series map[string]string, families map[string]bool) {
	t.Helper()
	r := e.path(t, "/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: status %d, body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type = %q, want the Prometheus text format", ct)
	}
	series, families = map[string]string{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ := strings.Cut(rest, " ")
			families[name] = true
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		series[line[:i]] = line[i+1:]
	}
	return series, families
}

func checkSeries(t testing.TB, series map[string]string, want map[string]string) {
	t.Helper()
	for s, v := range want {
		got, ok := series[s]
		switch {
		case !ok:
			t.Errorf("no series %s", s)
		case got != v:
			t.Errorf("%s = %s, want %s", s, got, v)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newOpsEnv(t, opsOptions{ready: func(store.Store) []server.ReadyCheck {
		return []server.ReadyCheck{{Name: "store", Check: func(context.Context) error { return errors.New("down") }}}
	}})
	r := e.path(t, "/health")
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200 even while not ready", r.status, r.body)
	}
	var body map[string]any
	decodeStrict(t, r.body, &body)
	if len(body) != 1 || body["status"] != "ok" {
		t.Errorf(`body %s, want {"status":"ok"}`, r.body)
	}
	checkNoStore(t, r)
}

// readyBody decodes a /ready answer strictly.
func readyBody(t testing.TB, r response) (status string, checks map[string]string) {
	t.Helper()
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	decodeStrict(t, r.body, &body)
	return body.Status, body.Checks
}

func TestReady(t *testing.T) {
	// A failing check's error may quote a DSN; none of it may be sent.
	const dsn = "postgres://tollgate:S3cret-pw@db.internal:5432/tollgate"
	ok := func(context.Context) error { return nil }
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	tests := []struct {
		name       string
		checks     []server.ReadyCheck
		wantStatus int
		want       map[string]string // check → answer, or its prefix for errors
	}{
		{"all pass", []server.ReadyCheck{{"store", ok}, {"signing_key", ok}, {"htpasswd", ok}},
			http.StatusOK, map[string]string{"store": "ok", "signing_key": "ok", "htpasswd": "ok"}},
		{"no checks", nil, http.StatusOK, map[string]string{}},
		{"store fails", []server.ReadyCheck{
			{"store", func(context.Context) error { return fmt.Errorf("failed to connect to %s: connection refused", dsn) }},
			{"signing_key", ok}},
			http.StatusServiceUnavailable, map[string]string{"store": "error: check failed", "signing_key": "ok"}},
		{"store times out", []server.ReadyCheck{
			{"store", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}, {"htpasswd", ok}},
			http.StatusServiceUnavailable, map[string]string{"store": "error: timed out", "htpasswd": "ok"}},
		{"check ignores its deadline", []server.ReadyCheck{
			{"store", func(context.Context) error { <-never; return nil }}, {"htpasswd", ok}},
			http.StatusServiceUnavailable, map[string]string{"store": "error: timed out", "htpasswd": "ok"}},
		{"check panics", []server.ReadyCheck{{"signing_key", func(context.Context) error { panic(dsn) }}},
			http.StatusServiceUnavailable, map[string]string{"signing_key": "error: check failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOpsEnv(t, opsOptions{readyTimeout: 100 * time.Millisecond,
				ready: func(store.Store) []server.ReadyCheck { return tt.checks }})
			start := time.Now()
			r := e.path(t, "/ready")
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("/ready took %v with a 100ms deadline", d)
			}
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			status, checks := readyBody(t, r)
			wantStatus := "ready"
			if tt.wantStatus != http.StatusOK {
				wantStatus = "unavailable"
			}
			if status != wantStatus {
				t.Errorf("status %q, want %q", status, wantStatus)
			}
			if len(checks) != len(tt.want) {
				t.Errorf("checks %v, want %v", checks, tt.want)
			}
			for name, want := range tt.want {
				if got := checks[name]; !strings.HasPrefix(got, want) {
					t.Errorf("check %s = %q, want %q…", name, got, want)
				}
			}
			for _, leak := range []string{"S3cret", "db.internal", "postgres://", "tollgate:"} {
				if bytes.Contains(r.body, []byte(leak)) {
					t.Errorf("/ready body %s leaks %q", r.body, leak)
				}
			}
			checkNoStore(t, r)
			if tt.wantStatus != http.StatusOK && !strings.Contains(e.logs.String(), `"msg":"readiness check failed"`) {
				t.Error("the failed check was not logged")
			}
		})
	}
}

// TestReadyRealStore checks the store's own Ping: ready while it is open,
// 503 naming "store" once it is closed.
func TestReadyRealStore(t *testing.T) {
	e := newOpsEnv(t, opsOptions{})
	if r := e.path(t, "/ready"); r.status != http.StatusOK {
		t.Fatalf("open store: status %d, body %s", r.status, r.body)
	}
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.path(t, "/ready")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("closed store: status %d, body %s; want 503", r.status, r.body)
	}
	if status, checks := readyBody(t, r); status != "unavailable" || !strings.HasPrefix(checks["store"], "error: ") {
		t.Errorf("body %s, want unavailable naming store", r.body)
	}
	if bytes.Contains(r.body, []byte("sql")) || bytes.Contains(r.body, []byte("closed")) {
		t.Errorf("/ready body %s shows the store's error", r.body)
	}
	series, _ := e.scrape(t)
	checkSeries(t, series, map[string]string{`tollgate_store_errors_total{operation="ping"}`: "1"})
}

// TestMetricsAfterTraffic runs each kind of request once or a few times and
// checks the exact value of the series each one moves.
func TestMetricsAfterTraffic(t *testing.T) {
	e := newOpsEnv(t, opsOptions{})
	unknownToken := apitoken.Generate() // well-formed, never stored

	// GET /oauth2/token (distribution token.md).
	q := "service=registry.local&scope="
	e.checkGetOK(t, e.get(t, q+"repository:alice/app:pull,push", basic("alice"))) // granted; cache miss, bcrypt
	e.checkGetOK(t, e.get(t, q+"repository:alice/app:pull,push", basic("alice"))) // granted; cache hit
	e.checkGetOK(t, e.get(t, q+"repository:shared/x:pull,push", basic("alice")))  // partially: pull only
	e.checkGetOK(t, e.get(t, q+"repository:bob/x:pull", basic("alice")))          // nothing of a non-empty request
	e.checkGetOK(t, e.get(t, "service=registry.local", nil))                      // anonymous, no scope: granted
	checkDockerError(t, e.get(t, q, basicWith("alice", passwords["bob"])), http.StatusUnauthorized, "UNAUTHORIZED", false)
	checkDockerError(t, e.get(t, q, basicWith("carol", "carol-Secret-0d1e")), http.StatusUnauthorized, "UNAUTHORIZED", false)
	checkDockerError(t, e.get(t, q, header("Basic !!!")), http.StatusUnauthorized, "UNAUTHORIZED", false)
	checkDockerError(t, e.get(t, q, basicWith(apitoken.Username, unknownToken)), http.StatusUnauthorized, "UNAUTHORIZED", false)

	// POST /oauth2/token (distribution oauth.md).
	e.checkPostOK(t, e.post(t, passwordForm("alice", "docker", "repository:alice/app:pull")))
	bad := passwordForm("alice", "docker", "")
	bad.Set("password", passwords["bob"])
	checkOAuthError(t, e.post(t, bad), http.StatusBadRequest, "invalid_grant")
	rt := e.offlineToken(t, "bob", "docker", service)
	e.checkPostOK(t, e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {"oras-go"}, "service": {service}, "scope": {"repository:bob/x:pull"}}))
	checkOAuthError(t, e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh.Prefix + "not-a-real-one"},
		"client_id": {"oras-go"}, "service": {service}}), http.StatusBadRequest, "invalid_grant")

	// /api/tokens.
	created := e.create(t, "alice", "read", 0)
	if r := e.api(t, "/api/tokens", jsonOf(t, map[string]any{"username": "alice", "password": passwords["bob"]}), nil); r.status != http.StatusUnauthorized {
		t.Fatalf("create with a wrong password: status %d", r.status)
	}
	if r := e.api(t, "/api/tokens/list", "", bearer(unknownToken)); r.status != http.StatusUnauthorized {
		t.Fatalf("list with an unknown token: status %d", r.status)
	}
	if r := e.api(t, "/api/tokens/list", "", bearer(created.Token)); r.status != http.StatusOK {
		t.Fatalf("list with a token: status %d, body %s", r.status, r.body)
	}
	if r := e.api(t, "/api/tokens/revoke", jsonOf(t, map[string]any{"username": "alice", "password": passwords["alice"],
		"hash_prefix": "0123456789abcdef"}), nil); r.status != http.StatusNotFound {
		t.Fatalf("revoke an unknown prefix: status %d, body %s", r.status, r.body)
	}
	e.checkGetOK(t, e.get(t, q+"repository:alice/app:pull", basicWith(apitoken.Username, created.Token))) // granted

	// Elsewhere.
	if r := e.path(t, "/no/such/endpoint?password=x"); r.status != http.StatusNotFound {
		t.Fatalf("unknown path: status %d", r.status)
	}
	if r := e.path(t, "/health"); r.status != http.StatusOK {
		t.Fatalf("/health: status %d", r.status)
	}

	series, families := e.scrape(t)
	checkSeries(t, series, map[string]string{
		// Token outcomes.
		`tollgate_tokens_issued_total{grant_type="get",result="granted"}`:                     "4",
		`tollgate_tokens_issued_total{grant_type="get",result="partially_granted"}`:           "1",
		`tollgate_tokens_issued_total{grant_type="get",result="denied"}`:                      "5",
		`tollgate_tokens_issued_total{grant_type="password",result="granted"}`:                "2",
		`tollgate_tokens_issued_total{grant_type="password",result="partially_granted"}`:      "0",
		`tollgate_tokens_issued_total{grant_type="password",result="denied"}`:                 "1",
		`tollgate_tokens_issued_total{grant_type="refresh_token",result="granted"}`:           "1",
		`tollgate_tokens_issued_total{grant_type="refresh_token",result="denied"}`:            "1",
		`tollgate_tokens_issued_total{grant_type="refresh_token",result="partially_granted"}`: "0",
		// Authentication failures.
		// A wrong password and an unknown user are one reason: /metrics
		// must not tell anonymous scrapers which user names exist.
		`tollgate_authentication_failures_total{reason="bad_credentials"}`:       "4",
		`tollgate_authentication_failures_total{reason="malformed"}`:             "1",
		`tollgate_authentication_failures_total{reason="api_token_invalid"}`:     "2",
		`tollgate_authentication_failures_total{reason="refresh_token_invalid"}`: "1",
		// API token operations.
		`tollgate_api_token_operations_total{operation="create",result="ok"}`:           "1",
		`tollgate_api_token_operations_total{operation="create",result="unauthorized"}`: "1",
		`tollgate_api_token_operations_total{operation="list",result="unauthorized"}`:   "1",
		`tollgate_api_token_operations_total{operation="list",result="ok"}`:             "1",
		`tollgate_api_token_operations_total{operation="revoke",result="not_found"}`:    "1",
		`tollgate_api_token_operations_total{operation="revoke",result="ok"}`:           "0",
		// bcrypt and the credential cache: the six misses each cost one
		// comparison (the unknown user's against the dummy hash); API
		// tokens and refresh tokens never reach either.
		`tollgate_bcrypt_verifications_total`:                     "6",
		`tollgate_credential_cache_requests_total{result="hit"}`:  "6",
		`tollgate_credential_cache_requests_total{result="miss"}`: "6",
		// Signing key.
		fmt.Sprintf(`tollgate_signing_key_info{alg="ES256",kid=%q}`, e.key.ID()): "1",
		// Requests by route template, method and status; latency per route.
		`tollgate_http_requests_total{method="GET",route="/oauth2/token",status="200"}`:       "6",
		`tollgate_http_requests_total{method="GET",route="/oauth2/token",status="401"}`:       "4",
		`tollgate_http_requests_total{method="POST",route="/oauth2/token",status="200"}`:      "3",
		`tollgate_http_requests_total{method="POST",route="/oauth2/token",status="400"}`:      "2",
		`tollgate_http_requests_total{method="POST",route="/api/tokens",status="200"}`:        "1",
		`tollgate_http_requests_total{method="POST",route="/api/tokens",status="401"}`:        "1",
		`tollgate_http_requests_total{method="POST",route="/api/tokens/list",status="401"}`:   "1",
		`tollgate_http_requests_total{method="POST",route="/api/tokens/revoke",status="404"}`: "1",
		`tollgate_http_requests_total{method="GET",route="unmatched",status="404"}`:           "1",
		`tollgate_http_requests_total{method="GET",route="/health",status="200"}`:             "1",
		`tollgate_http_request_duration_seconds_count{method="GET",route="/oauth2/token"}`:    "10",
		`tollgate_http_request_duration_seconds_count{method="POST",route="/oauth2/token"}`:   "5",
	})
	for _, f := range []string{
		"tollgate_http_requests_total", "tollgate_http_request_duration_seconds", "tollgate_tokens_issued_total",
		"tollgate_authentication_failures_total", "tollgate_api_token_operations_total",
		"tollgate_bcrypt_verifications_total", "tollgate_credential_cache_requests_total",
		"tollgate_signing_key_info", "tollgate_signing_key_created_timestamp_seconds", "tollgate_signing_key_age_seconds",
		"tollgate_store_errors_total", "go_goroutines", "process_start_time_seconds",
	} {
		if !families[f] {
			t.Errorf("family %s is not exposed", f)
		}
	}
	for s := range series {
		if strings.Contains(s, "unknown_user") {
			t.Errorf("series %s tells user names apart", s)
		}
	}
	// Routes are labelled by template: no raw path, query or token.
	for s := range series {
		if strings.Contains(s, "/no/such") || strings.Contains(s, "password=") || strings.Contains(s, "?") ||
			strings.Contains(s, "tg_") || strings.Contains(s, "tgr_") {
			t.Errorf("series %s holds request data", s)
		}
	}

	// The store fails: its errors are counted by operation.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"docker"}, "service": {service}})
	checkOAuthError(t, r, http.StatusInternalServerError, "server_error")
	series, _ = e.scrape(t)
	checkSeries(t, series, map[string]string{
		`tollgate_store_errors_total{operation="get_refresh_token"}`: "1",
		`tollgate_store_errors_total{operation="ping"}`:              "0",
		// A 500 is neither granted nor denied.
		`tollgate_tokens_issued_total{grant_type="refresh_token",result="denied"}`: "1",
	})
}

func TestMetricsRateLimited(t *testing.T) {
	e := newOpsEnv(t, opsOptions{limits: server.Limits{PerUser: ratelimit.Budget{PerMinute: 1, Burst: 1}, MaxTracked: 100}})
	q := "service=registry.local"
	checkDockerError(t, e.get(t, q, basicWith("alice", passwords["bob"])), http.StatusUnauthorized, "UNAUTHORIZED", false)
	if r := e.get(t, q, basicWith("alice", passwords["bob"])); r.status != http.StatusTooManyRequests {
		t.Fatalf("second failure: status %d, want 429", r.status)
	}
	series, _ := e.scrape(t)
	checkSeries(t, series, map[string]string{
		`tollgate_rate_limited_requests_total{endpoint="/oauth2/token"}`:                "1",
		`tollgate_http_requests_total{method="GET",route="/oauth2/token",status="429"}`: "1",
		// The refused request never reached a password check.
		`tollgate_authentication_failures_total{reason="bad_credentials"}`: "1",
		`tollgate_bcrypt_verifications_total`:                              "1",
	})
}

// TestMetricsNotServedWithoutMetrics: /metrics exists only when wired.
func TestMetricsNotServedWithoutMetrics(t *testing.T) {
	e := newOpsEnv(t, opsOptions{noMetrics: true})
	if r := e.path(t, "/metrics"); r.status != http.StatusNotFound {
		t.Errorf("/metrics without Metrics: status %d, want 404", r.status)
	}
	e.checkGetOK(t, e.get(t, "service=registry.local&scope=repository:alice/app:pull", basic("alice")))
}

// accessLines returns the access log's lines.
func accessLines(t testing.TB, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	return lines
}

func TestAccessLogRouteAndSubject(t *testing.T) {
	e := newOpsEnv(t, opsOptions{})
	e.checkGetOK(t, e.get(t, "service=registry.local&scope=repository:alice/app:pull", basic("alice")))
	checkDockerError(t, e.get(t, "service=registry.local", basicWith("alice", passwords["bob"])), http.StatusUnauthorized, "UNAUTHORIZED", false)
	rt := e.offlineToken(t, "bob", "docker", service)
	e.checkPostOK(t, e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"docker"}, "service": {service}}))
	created := e.create(t, "admin", "read", 0)
	e.checkGetOK(t, e.get(t, "service=registry.local", basicWith(apitoken.Username, created.Token)))
	e.path(t, "/health")
	e.path(t, "/nowhere")

	want := []struct{ method, route, subject, level string }{
		{"GET", "/oauth2/token", "alice", "INFO"},
		{"GET", "/oauth2/token", "", "INFO"}, // a failed login has no subject
		{"POST", "/oauth2/token", "bob", "INFO"},
		{"POST", "/oauth2/token", "bob", "INFO"}, // the refresh grant's subject
		{"POST", "/api/tokens", "admin", "INFO"},
		{"GET", "/oauth2/token", "admin", "INFO"}, // an API token acts as its owner
		{"GET", "/health", "", "DEBUG"},           // probes are quiet
		{"GET", "", "", "INFO"},                   // no route matched
	}
	lines := accessLines(t, e.logs.String())
	if len(lines) != len(want) {
		t.Fatalf("%d access log lines, want %d:\n%s", len(lines), len(want), e.logs.String())
	}
	for i, w := range want {
		l := lines[i]
		if l["method"] != w.method || l["route"] != w.route || l["subject"] != w.subject || l["level"] != w.level {
			t.Errorf("line %d: method %v route %v subject %v level %v; want %s %q %q %s",
				i, l["method"], l["route"], l["subject"], l["level"], w.method, w.route, w.subject, w.level)
		}
	}
}

// BenchmarkGetTokenInstrumented and BenchmarkGetTokenUninstrumented
// measure one cached GET /oauth2/token through the whole handler, with and
// without metrics; the difference is what instrumentation costs.
func BenchmarkGetTokenInstrumented(b *testing.B) {
	e := newOpsEnv(b, opsOptions{logSink: io.Discard})
	benchGet(b, e.env, "service=registry.local&scope=repository:alice/app:push", basic("alice"))
}

func BenchmarkGetTokenUninstrumented(b *testing.B) {
	e := newOpsEnv(b, opsOptions{logSink: io.Discard, noMetrics: true})
	benchGet(b, e.env, "service=registry.local&scope=repository:alice/app:push", basic("alice"))
}

// benchHealth measures GET /health through the whole handler: the cheapest
// request, where the middleware's own cost shows most.
func benchHealth(b *testing.B, e *opsEnv) {
	benchOK(b, e.handler, httptest.NewRequest(http.MethodGet, "/health", nil))
}

func BenchmarkHealthInstrumented(b *testing.B) {
	benchHealth(b, newOpsEnv(b, opsOptions{logSink: io.Discard}))
}

func BenchmarkHealthUninstrumented(b *testing.B) {
	benchHealth(b, newOpsEnv(b, opsOptions{logSink: io.Discard, noMetrics: true}))
}
