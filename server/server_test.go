package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/logtest"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/server"
)

const (
	issuer   = "tollgate"
	service  = "registry.local"
	mirror   = "mirror.local" // a second configured service
	ttl      = 5 * time.Minute
	endpoint = "/oauth2/token"
)

// passwords of the htpasswd users. They are distinctive so that a leak into
// the logs is found by a plain substring search.
var passwords = map[string]string{
	"admin": "admin-Secret-9f3a7c",
	"alice": "alice-Secret-41d2b8",
	"bob":   "bob-Secret-77e0c1",
}

// debugLogger logs JSON at debug level to w, as the tests' servers do.
func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// exampleACL compiles extra rules followed by exampleRules.
func exampleACL(tb testing.TB, extra ...authz.Rule) *authz.ACL {
	tb.Helper()
	acl, err := authz.Compile(append(extra, exampleRules(tb)...))
	if err != nil {
		tb.Fatal(err)
	}
	return acl
}

// loopbackProxies are the trusted proxies of the tests that send
// X-Forwarded-For (see from): the test server's loopback peers.
var loopbackProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// exampleRules are the ACL of configs/tollgate.yaml.
func exampleRules(tb testing.TB) []authz.Rule {
	tb.Helper()
	cfg, err := config.Load("../configs/tollgate.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.ACL
}

// env is one Tollgate over the real router, with its own key, htpasswd
// file, SQLite store and log buffer.
type env struct {
	handler  http.Handler
	srv      *httptest.Server
	key      *keys.Key
	store    *sqlite.Store
	auth     *authn.Cache
	users    *htpasswd.File
	htpath   string
	accounts *accounts.Service // admin is in users.admins
	logs     *logtest.Buffer

	mu      sync.Mutex
	secrets []string // every token and refresh token handed out
}

type envOptions struct {
	withCertificate bool
	logSink         io.Writer // default: a buffer checked for secrets at cleanup
}

func newEnv(tb testing.TB) *env { return newEnvWith(tb, envOptions{}) }

func newEnvWith(tb testing.TB, o envOptions) *env {
	tb.Helper()
	dir := tb.TempDir()
	e := &env{logs: &logtest.Buffer{}}
	sink := o.logSink
	if sink == nil {
		sink = e.logs
	}
	logger := debugLogger(sink)

	var err error
	if o.withCertificate {
		e.key, err = keys.WriteDev(filepath.Join(dir, "signing.pem"), filepath.Join(dir, "signing.crt"), keys.Options{Algorithm: "ES256"})
	} else {
		e.key, err = keys.Generate(keys.Options{Algorithm: "ES256"})
	}
	if err != nil {
		tb.Fatal(err)
	}

	e.htpath = filepath.Join(dir, "htpasswd")
	e.users = writeUsers(tb, e.htpath, logger)
	e.auth = authn.NewCache(e.users, time.Minute, 100)

	e.store, err = sqlite.Open(context.Background(), filepath.Join(dir, "tollgate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.store.Close() })
	e.accounts = &accounts.Service{Store: e.store, Users: e.users, Admins: []string{"admin"}, Audit: audit.NewRecorder(e.store, logger),
		Logger: logger, CacheTTL: accounts.DefaultCacheTTL}
	e.accounts.Start(context.Background(), e.users.Users(), time.Now()) // as the server starts

	e.serve(tb, server.New(server.Options{Grant: e.grantService(exampleACL(tb)), Authn: e.accounts.Authenticator(e.auth),
		Logger: logger, Realm: issuer}))
	// Cleanups run last-in first-out: the log check runs before srv.Close,
	// after every request of the test has completed.
	if o.logSink == nil {
		tb.Cleanup(func() { e.checkLogs(tb) })
	}
	return e
}

// writeUsers writes the htpasswd file of passwords to path and loads it.
func writeUsers(tb testing.TB, path string, logger *slog.Logger) *htpasswd.File {
	tb.Helper()
	var b strings.Builder
	for _, user := range []string{"admin", "alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(passwords[user]), bcrypt.MinCost)
		if err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", user, h)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	users, err := htpasswd.Load(path, logger)
	if err != nil {
		tb.Fatal(err)
	}
	return users
}

// serve makes h the env's handler, served by a test server closed at
// cleanup.
func (e *env) serve(tb testing.TB, h http.Handler) {
	e.handler = h
	e.srv = httptest.NewServer(h)
	tb.Cleanup(e.srv.Close)
}

// grantService is the token service over the env's store and accounts,
// as cmd/tollgate wires it.
func (e *env) grantService(acl *authz.ACL) *grant.Service {
	return &grant.Service{
		Authz:    acl,
		Minter:   &token.Minter{Issuer: issuer, TTL: ttl, Signer: e.key},
		Refresh:  &refresh.Tokens{Store: e.store, TTL: time.Hour},
		Accounts: e.accounts,
		Services: []string{service, mirror},
	}
}

// remember records a secret that must never reach the logs.
func (e *env) remember(s string) {
	if s == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

// checkLogs fails if any password, token or refresh token is in the logs.
func (e *env) checkLogs(tb testing.TB) {
	tb.Helper()
	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		tb.Errorf("no access log line was written; logs:\n%s", logs)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for user, pw := range passwords {
		if strings.Contains(logs, pw) {
			tb.Errorf("%s's password is in the logs", user)
		}
		if strings.Contains(logs, base64.StdEncoding.EncodeToString([]byte(user+":"+pw))) {
			tb.Errorf("%s's Basic credentials are in the logs", user)
		}
	}
	for _, s := range e.secrets {
		if strings.Contains(logs, s) {
			tb.Errorf("a token or refresh token (%.12s...) is in the logs", s)
		}
		// The signature alone is enough to be a leak of a JWT.
		if i := strings.LastIndexByte(s, '.'); i > 0 && strings.Contains(logs, s[i+1:]) {
			tb.Errorf("a JWT signature (%.12s...) is in the logs", s[i+1:])
		}
	}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// request sends method path with body, as contentType unless it is
// empty, with auth applied unless it is nil.
func (e *env) request(t testing.TB, method, path, contentType, body string, auth func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != nil {
		auth(req)
	}
	return e.do(t, req)
}

// get sends GET /oauth2/token?query, with auth applied unless it is nil.
func (e *env) get(t testing.TB, query string, auth func(*http.Request)) response {
	t.Helper()
	return e.request(t, http.MethodGet, endpoint+"?"+query, "", "", auth)
}

// post sends a form to /oauth2/token.
func (e *env) post(t testing.TB, form url.Values) response {
	t.Helper()
	return e.postForm(t, endpoint, form, nil)
}

// postForm sends a form to path, with auth applied unless it is nil.
func (e *env) postForm(t testing.TB, path string, form url.Values, auth func(*http.Request)) response {
	t.Helper()
	return e.request(t, http.MethodPost, path, "application/x-www-form-urlencoded", form.Encode(), auth)
}

func (e *env) postRaw(t testing.TB, contentType, body string) response {
	t.Helper()
	return e.request(t, http.MethodPost, endpoint, contentType, body, nil)
}

// checkStatus stops the test unless r has the status want.
func checkStatus(t testing.TB, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body %s", r.status, want, r.body)
	}
}

// checkNoStore checks that r forbids caching (RFC 6749 §5.1).
func checkNoStore(t testing.TB, r response) {
	t.Helper()
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

func basic(user string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, passwords[user]) }
}

func basicWith(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

func header(value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", value) }
}

// getResponse is the GET body (distribution token.md).
type getResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token"`
}

// postResponse is the POST body (distribution oauth.md).
type postResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
}

// decodeStrict decodes a JSON body into v, refusing unknown fields.
func decodeStrict(t testing.TB, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// checkedToken is a verified token.
type checkedToken struct {
	claims    token.Claims
	rawAccess string // the "access" claim as it is in the payload
}

// verify checks the signature and every claim but access, and returns the
// claims for the caller to check the access list.
func (e *env) verify(t testing.TB, raw, wantSub, wantAud string) checkedToken {
	t.Helper()
	e.remember(raw)
	var c token.Claims
	parsed, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return e.key.VerificationKey(), nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(issuer), jwt.WithAudience(wantAud),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if kid, _ := parsed.Header["kid"].(string); kid == "" || kid != e.key.ID() {
		t.Errorf("kid = %v, want %s", parsed.Header["kid"], e.key.ID())
	}
	x5c, hasX5C := parsed.Header["x5c"]
	if chain := e.key.Chain(); len(chain) == 0 {
		if hasX5C {
			t.Errorf("x5c = %v for a key without certificate", x5c)
		}
	} else {
		want := []any{base64.StdEncoding.EncodeToString(chain[0].Raw)}
		if !reflect.DeepEqual(x5c, want) {
			t.Errorf("x5c = %v, want the certificate", x5c)
		}
	}
	if c.Subject != wantSub {
		t.Errorf("sub = %q, want %q", c.Subject, wantSub)
	}
	if !reflect.DeepEqual([]string(c.Audience), []string{wantAud}) {
		t.Errorf("aud = %v, want [%s]", c.Audience, wantAud)
	}
	if c.IssuedAt == nil || c.NotBefore == nil || c.ExpiresAt == nil {
		t.Fatalf("iat, nbf, exp = %v, %v, %v: all required", c.IssuedAt, c.NotBefore, c.ExpiresAt)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt.Time); d != ttl {
		t.Errorf("exp - iat = %v, want %v", d, ttl)
	}
	if !c.NotBefore.Equal(c.IssuedAt.Time) {
		t.Errorf("nbf = %v, want iat %v", c.NotBefore, c.IssuedAt)
	}
	if skew := time.Since(c.IssuedAt.Time); skew < -time.Second || skew > time.Minute {
		t.Errorf("iat %v is not now", c.IssuedAt)
	}
	if c.ID == "" {
		t.Error("jti is empty")
	}
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		t.Fatal(err)
	}
	return checkedToken{claims: c, rawAccess: string(fields["access"])}
}

func checkAccess(t testing.TB, got checkedToken, want []token.Access) {
	t.Helper()
	if len(want) == 0 {
		if got.rawAccess != "[]" {
			t.Errorf(`access claim = %s, want []`, got.rawAccess)
		}
		return
	}
	if !reflect.DeepEqual(got.claims.Access, want) {
		t.Errorf("access = %+v, want %+v", got.claims.Access, want)
	}
}

func repo(name string, actions ...string) token.Access {
	return token.Access{Type: "repository", Name: name, Actions: actions}
}

// checkDockerError checks a {"errors":[{"code","message"[,"detail"]}]} body.
func checkDockerError(t testing.TB, r response, wantStatus int, wantCode string, wantDetail bool) {
	t.Helper()
	checkStatus(t, r, wantStatus)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body struct {
		Errors []map[string]string `json:"errors"`
	}
	decodeStrict(t, r.body, &body)
	if len(body.Errors) != 1 {
		t.Fatalf("errors = %v, want exactly one", body.Errors)
	}
	item := body.Errors[0]
	if item["code"] != wantCode {
		t.Errorf("code = %q, want %q", item["code"], wantCode)
	}
	if item["message"] == "" {
		t.Error("message is empty")
	}
	wantKeys := 2
	if wantDetail {
		wantKeys = 3
		if item["detail"] == "" {
			t.Error("detail is empty")
		}
	}
	if len(item) != wantKeys {
		t.Errorf("error item %v has %d keys, want %d", item, len(item), wantKeys)
	}
	if r.status == http.StatusUnauthorized {
		if got, want := r.header.Get("WWW-Authenticate"), `Basic realm="`+issuer+`"`; got != want {
			t.Errorf("WWW-Authenticate = %q, want %q", got, want)
		}
	} else if got := r.header.Get("WWW-Authenticate"); got != "" {
		t.Errorf("WWW-Authenticate = %q on a %d", got, r.status)
	}
}

// checkOAuthError checks an RFC 6749 §5.2 body: exactly error and
// error_description, and Cache-Control: no-store.
func checkOAuthError(t testing.TB, r response, wantStatus int, wantCode string) {
	t.Helper()
	checkStatus(t, r, wantStatus)
	checkNoStore(t, r)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]any
	decodeStrict(t, r.body, &body)
	if len(body) != 2 {
		t.Errorf("body %s: want exactly error and error_description", r.body)
	}
	if body["error"] != wantCode {
		t.Errorf("error = %v, want %s", body["error"], wantCode)
	}
	if d, _ := body["error_description"].(string); d == "" {
		t.Errorf("error_description = %v, want a non-empty string", body["error_description"])
	}
}

// checkEngineError checks an error of the Engine API's account calls:
// Anchore's {"message","httpcode","detail"} and nothing else.
func checkEngineError(t testing.TB, r response, wantStatus int) {
	t.Helper()
	checkStatus(t, r, wantStatus)
	var body map[string]any
	decodeStrict(t, r.body, &body)
	if m, _ := body["message"].(string); len(body) != 3 || m == "" || body["httpcode"] != float64(wantStatus) || body["detail"] == nil {
		t.Errorf("body %s: want Anchore's {message, httpcode: %d, detail}", r.body, wantStatus)
	}
}

// checkGetOK checks a successful GET response and returns the body.
func (e *env) checkGetOK(t testing.TB, r response) getResponse {
	t.Helper()
	checkStatus(t, r, http.StatusOK)
	checkNoStore(t, r)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var g getResponse
	decodeStrict(t, r.body, &g)
	e.remember(g.Token)
	e.remember(g.RefreshToken)
	if g.Token == "" || g.Token != g.AccessToken {
		t.Errorf("token %.20q and access_token %.20q must be equal and non-empty", g.Token, g.AccessToken)
	}
	if g.ExpiresIn != int64(ttl/time.Second) {
		t.Errorf("expires_in = %d, want %d", g.ExpiresIn, int64(ttl/time.Second))
	}
	e.checkIssuedAt(t, g.IssuedAt, g.Token)
	return g
}

// checkIssuedAt checks issued_at is RFC 3339 and equals the token's iat.
func (e *env) checkIssuedAt(t testing.TB, issuedAt, raw string) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, issuedAt)
	if err != nil {
		t.Errorf("issued_at %q is not RFC 3339: %v", issuedAt, err)
		return
	}
	var c token.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		t.Fatalf("token: %v", err)
	}
	if c.IssuedAt == nil || !at.Equal(c.IssuedAt.Time) {
		t.Errorf("issued_at %v differs from iat %v", at, c.IssuedAt)
	}
}

func TestGetToken(t *testing.T) {
	tests := []struct {
		name        string
		query       string
		auth        func(*http.Request)
		wantSub     string
		wantAud     string
		wantAccess  []token.Access
		wantRefresh bool
	}{
		{
			name:       "anonymous public pull",
			query:      "service=registry.local&scope=repository:public/app:pull",
			wantAccess: []token.Access{repo("public/app", "pull")},
		},
		{
			name:       "anonymous asking push on public gets pull",
			query:      "service=registry.local&scope=repository:public/app:push,pull",
			wantAccess: []token.Access{repo("public/app", "pull")},
		},
		{
			name:       "anonymous asking private gets nothing",
			query:      "service=registry.local&scope=repository:alice/app:pull",
			wantAccess: nil,
		},
		{
			name:       "empty Basic credentials are anonymous",
			query:      "service=registry.local&scope=repository:public/app:pull",
			auth:       basicWith("", ""),
			wantAccess: []token.Access{repo("public/app", "pull")},
		},
		{
			name:       "alice push on her repository",
			query:      "service=registry.local&scope=repository:alice/app:pull,push",
			auth:       basic("alice"),
			wantSub:    "alice",
			wantAccess: []token.Access{repo("alice/app", "pull", "push")},
		},
		{
			name:       "alice push on shared gets pull only",
			query:      "service=registry.local&scope=repository:shared/x:push,pull",
			auth:       basic("alice"),
			wantSub:    "alice",
			wantAccess: []token.Access{repo("shared/x", "pull")},
		},
		{
			name:       "alice asking bob's repository gets nothing",
			query:      "service=registry.local&scope=repository:bob/x:pull",
			auth:       basic("alice"),
			wantSub:    "alice",
			wantAccess: nil,
		},
		{
			name: "several scope parameters and several scopes in one",
			query: "service=registry.local&scope=repository:alice/a:pull" +
				"&scope=" + url.QueryEscape("repository:shared/b:pull repository:alice/c:push") +
				"&scope=repository:bob/d:pull",
			auth:    basic("alice"),
			wantSub: "alice",
			wantAccess: []token.Access{
				repo("alice/a", "pull"), repo("shared/b", "pull"), repo("alice/c", "push"),
			},
		},
		{
			name:  "admin everything",
			query: "service=registry.local&scope=repository:bob/x:delete&scope=registry:catalog:*",
			auth:  basic("admin"),
			wantAccess: []token.Access{
				repo("bob/x", "delete"), {Type: "registry", Name: "catalog", Actions: []string{"*"}},
			},
			wantSub: "admin",
		},
		{
			name:       "login check: no scope with credentials",
			query:      "service=registry.local",
			auth:       basic("bob"),
			wantSub:    "bob",
			wantAccess: nil,
		},
		{
			name:       "second configured service",
			query:      "service=mirror.local&scope=repository:bob/x:push",
			auth:       basic("bob"),
			wantSub:    "bob",
			wantAud:    mirror,
			wantAccess: []token.Access{repo("bob/x", "push")},
		},
		{
			name:       "account naming the user",
			query:      "service=registry.local&account=alice&scope=repository:alice/app:pull",
			auth:       basic("alice"),
			wantSub:    "alice",
			wantAccess: []token.Access{repo("alice/app", "pull")},
		},
		{
			name:        "offline_token with credentials",
			query:       "service=registry.local&offline_token=true&client_id=docker",
			auth:        basic("alice"),
			wantSub:     "alice",
			wantRefresh: true,
		},
		{
			name:  "offline_token anonymous",
			query: "service=registry.local&offline_token=true&client_id=docker&scope=repository:public/app:pull",
			wantAccess: []token.Access{
				repo("public/app", "pull"),
			},
		},
		{
			name:    "offline_token false",
			query:   "service=registry.local&offline_token=false",
			auth:    basic("alice"),
			wantSub: "alice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.get(t, tt.query, tt.auth)
			g := e.checkGetOK(t, r)
			aud := tt.wantAud
			if aud == "" {
				aud = service
			}
			checkAccess(t, e.verify(t, g.Token, tt.wantSub, aud), tt.wantAccess)

			if got := g.RefreshToken != ""; got != tt.wantRefresh {
				t.Fatalf("refresh_token present = %v, want %v", got, tt.wantRefresh)
			}
			if !tt.wantRefresh && bytes.Contains(r.body, []byte("refresh_token")) {
				t.Errorf("body %s has a refresh_token key", r.body)
			}
			if tt.wantRefresh && !strings.HasPrefix(g.RefreshToken, refresh.Prefix) {
				t.Errorf("refresh token %.8q... lacks the %s prefix", g.RefreshToken, refresh.Prefix)
			}
		})
	}
}

// TestGetTokenOfflineRefreshTokenWorks redeems a GET offline token through
// the OAuth2 endpoint, as docker login then docker pull do.
func TestGetTokenOfflineRefreshTokenWorks(t *testing.T) {
	e := newEnv(t)
	g := e.checkGetOK(t, e.get(t, "service=registry.local&offline_token=true&client_id=docker", basic("alice")))
	r := e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.RefreshToken},
		"client_id": {"docker"}, "service": {service}, "scope": {"repository:alice/app:push"}})
	p := e.checkPostOK(t, r)
	checkAccess(t, e.verify(t, p.AccessToken, "alice", service), []token.Access{repo("alice/app", "push")})
}

func TestGetTokenErrors(t *testing.T) {
	tests := []struct {
		name       string
		query      string
		auth       func(*http.Request)
		wantStatus int
		wantCode   string
		wantDetail bool
	}{
		{"account names another user", "service=registry.local&account=bob", basic("alice"), 400, "INVALID_REQUEST", false},
		{"malformed scope", "service=registry.local&scope=repository:alice/app", basic("alice"), 400, "INVALID_REQUEST", true},
		{"malformed scope anonymous", "service=registry.local&scope=" + url.QueryEscape("repository:Alice/App:pull"), nil, 400, "INVALID_REQUEST", true},
		{"empty action", "service=registry.local&scope=repository:a/b:pull,", nil, 400, "INVALID_REQUEST", true},
		{"wrong password", "service=registry.local", basicWith("alice", passwords["bob"]), 401, "UNAUTHORIZED", false},
		{"unknown user", "service=registry.local", basicWith("mallory", "mallory-Secret-000"), 401, "UNAUTHORIZED", false},
		{"known user, empty password", "service=registry.local", basicWith("alice", ""), 401, "UNAUTHORIZED", false},
		{"malformed Basic", "service=registry.local", header("Basic !!!"), 401, "UNAUTHORIZED", false},
		{"Basic without colon", "service=registry.local", header("Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))), 401, "UNAUTHORIZED", false},
		{"Bearer", "service=registry.local", header("Bearer x"), 401, "UNAUTHORIZED", false},
		{"unknown service", "service=evil.example&scope=repository:public/app:pull", nil, 400, "INVALID_REQUEST", true},
		{"missing service", "scope=repository:public/app:pull", basic("alice"), 400, "INVALID_REQUEST", true},
		// Checked while parsing, before any password: a wrong one is never tried.
		{"unknown service before the password", "service=evil.example", basicWith("alice", "wrong"), 400, "INVALID_REQUEST", true},
		{"bad client_id before the password", "service=registry.local&client_id=" + url.QueryEscape("a\x01b"), basicWith("alice", "wrong"), 400, "INVALID_REQUEST", true},
		{"client_id with a control character", "service=registry.local&client_id=" + url.QueryEscape("bad\nclient"), basic("alice"), 400, "INVALID_REQUEST", true},
		{"client_id too long", "service=registry.local&client_id=" + strings.Repeat("c", 256), nil, 400, "INVALID_REQUEST", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.get(t, tt.query, tt.auth)
			checkDockerError(t, r, tt.wantStatus, tt.wantCode, tt.wantDetail)
			if bytes.Contains(r.body, []byte(`"token"`)) {
				t.Errorf("error body %s carries a token", r.body)
			}
		})
	}
}

// TestCachedLoginStillChecksPassword: after a successful login fills the
// credential cache, other passwords for the same user are still refused,
// on both endpoints.
func TestCachedLoginStillChecksPassword(t *testing.T) {
	// Subtests are not named after the passwords: test names end up in
	// temp paths, which the server logs.
	wrong := []struct{ name, pw string }{
		{"empty", ""},
		{"other", "x"},
		{"another user's", passwords["bob"]},
		{"prefix", passwords["alice"][:len(passwords["alice"])-1]},
		{"extended", passwords["alice"] + "x"},
	}
	for _, w := range wrong {
		pw := w.pw
		t.Run(w.name, func(t *testing.T) {
			e := newEnv(t)
			e.checkGetOK(t, e.get(t, "service=registry.local", basic("alice")))
			e.checkPostOK(t, e.post(t, passwordForm("alice", "docker", "")))

			checkDockerError(t, e.get(t, "service=registry.local&scope=repository:alice/app:push", basicWith("alice", pw)),
				http.StatusUnauthorized, "UNAUTHORIZED", false)
			f := passwordForm("alice", "docker", "repository:alice/app:push")
			f.Set("password", pw)
			wantCode := "invalid_grant"
			if pw == "" {
				wantCode = "invalid_request" // a missing password
			}
			checkOAuthError(t, e.post(t, f), http.StatusBadRequest, wantCode)
		})
	}
}

func TestGetTokenIDsDistinct(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for range 2 {
		g := e.checkGetOK(t, e.get(t, "service=registry.local&scope=repository:alice/app:pull", basic("alice")))
		ids = append(ids, e.verify(t, g.Token, "alice", service).claims.ID)
	}
	if ids[0] == ids[1] {
		t.Errorf("two tokens share jti %q", ids[0])
	}
}

func TestGetTokenX5C(t *testing.T) {
	e := newEnvWith(t, envOptions{withCertificate: true})
	if len(e.key.Chain()) == 0 {
		t.Fatal("WriteDev gave no certificate chain")
	}
	g := e.checkGetOK(t, e.get(t, "service=registry.local&scope=repository:public/a:pull", nil))
	e.verify(t, g.Token, "", service) // checks x5c equals the certificate
}

// checkPostOK checks a successful POST response and returns the body.
func (e *env) checkPostOK(t testing.TB, r response) postResponse {
	t.Helper()
	checkStatus(t, r, http.StatusOK)
	checkNoStore(t, r)
	var p postResponse
	decodeStrict(t, r.body, &p)
	e.remember(p.AccessToken)
	e.remember(p.RefreshToken)
	if p.AccessToken == "" {
		t.Error("access_token is empty")
	}
	if p.TokenType != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", p.TokenType)
	}
	if p.ExpiresIn != int64(ttl/time.Second) {
		t.Errorf("expires_in = %d, want %d", p.ExpiresIn, int64(ttl/time.Second))
	}
	e.checkIssuedAt(t, p.IssuedAt, p.AccessToken)
	return p
}

func passwordForm(user, clientID, scope string) url.Values {
	f := url.Values{"grant_type": {"password"}, "username": {user}, "password": {passwords[user]}, "service": {service}}
	if clientID != "" {
		f.Set("client_id", clientID)
	}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

func TestPostPasswordGrant(t *testing.T) {
	tests := []struct {
		name        string
		form        url.Values
		wantSub     string
		wantScope   string
		wantAccess  []token.Access
		wantRefresh bool
	}{
		{
			name:       "docker",
			form:       passwordForm("alice", "docker", "repository:alice/app:pull,push"),
			wantSub:    "alice",
			wantScope:  "repository:alice/app:pull,push",
			wantAccess: []token.Access{repo("alice/app", "pull", "push")},
		},
		{
			name:       "go-containerregistry",
			form:       passwordForm("alice", "go-containerregistry", "repository:shared/x:pull,push"),
			wantSub:    "alice",
			wantScope:  "repository:shared/x:pull",
			wantAccess: []token.Access{repo("shared/x", "pull")},
		},
		{
			name:       "oras-go",
			form:       passwordForm("bob", "oras-go", "repository:bob/x:push repository:shared/y:pull"),
			wantSub:    "bob",
			wantScope:  "repository:bob/x:push repository:shared/y:pull",
			wantAccess: []token.Access{repo("bob/x", "push"), repo("shared/y", "pull")},
		},
		{
			name:       "regctl",
			form:       passwordForm("alice", "regclient/regctl (v0.11.7)", "repository:alice/app:pull"),
			wantSub:    "alice",
			wantScope:  "repository:alice/app:pull",
			wantAccess: []token.Access{repo("alice/app", "pull")},
		},
		{
			name:      "nothing granted",
			form:      passwordForm("alice", "docker", "repository:bob/x:push"),
			wantSub:   "alice",
			wantScope: "",
		},
		{
			name:    "offline access",
			form:    func() url.Values { f := passwordForm("alice", "docker", ""); f.Set("access_type", "offline"); return f }(),
			wantSub: "alice", wantRefresh: true,
		},
		{
			name:    "online access",
			form:    func() url.Values { f := passwordForm("alice", "docker", ""); f.Set("access_type", "online"); return f }(),
			wantSub: "alice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.post(t, tt.form)
			p := e.checkPostOK(t, r)
			if p.Scope != tt.wantScope {
				t.Errorf("scope = %q, want %q", p.Scope, tt.wantScope)
			}
			checkAccess(t, e.verify(t, p.AccessToken, tt.wantSub, service), tt.wantAccess)
			if got := p.RefreshToken != ""; got != tt.wantRefresh {
				t.Errorf("refresh_token present = %v, want %v", got, tt.wantRefresh)
			}
			if !tt.wantRefresh && bytes.Contains(r.body, []byte("refresh_token")) {
				t.Errorf("body %s has a refresh_token key", r.body)
			}
		})
	}
}

// offlineToken obtains a refresh token for user with the password grant.
func (e *env) offlineToken(t testing.TB, user, clientID, svc string) string {
	t.Helper()
	f := passwordForm(user, clientID, "")
	f.Set("access_type", "offline")
	f.Set("service", svc)
	p := e.checkPostOK(t, e.post(t, f))
	if !strings.HasPrefix(p.RefreshToken, refresh.Prefix) {
		t.Fatalf("no refresh token from the password grant")
	}
	return p.RefreshToken
}

func TestPostRefreshGrant(t *testing.T) {
	tests := []struct {
		name        string
		clientID    string
		service     string
		scope       string
		accessType  string
		wantScope   string
		wantAccess  []token.Access
		wantRefresh bool // the same refresh token comes back
	}{
		{
			name: "same client", clientID: "docker", service: service,
			scope: "repository:alice/app:push", wantScope: "repository:alice/app:push",
			wantAccess: []token.Access{repo("alice/app", "push")},
		},
		{
			name: "another client reuses docker's identity token", clientID: "go-containerregistry", service: service,
			scope: "repository:alice/app:pull,push", wantScope: "repository:alice/app:pull,push",
			wantAccess: []token.Access{repo("alice/app", "pull", "push")},
		},
		{
			name: "never more than the subject's ACL", clientID: "oras-go", service: service,
			scope: "repository:bob/x:push", wantScope: "",
		},
		{
			name: "anonymous rules do not apply", clientID: "docker", service: service,
			scope: "repository:public/x:pull", wantScope: "",
		},
		{
			name: "offline returns the same refresh token", clientID: "docker", service: service,
			accessType: "offline", wantRefresh: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rt := e.offlineToken(t, "alice", "docker", service)
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {tt.clientID}, "service": {tt.service}}
			if tt.scope != "" {
				form.Set("scope", tt.scope)
			}
			if tt.accessType != "" {
				form.Set("access_type", tt.accessType)
			}
			p := e.checkPostOK(t, e.post(t, form))
			if p.Scope != tt.wantScope {
				t.Errorf("scope = %q, want %q", p.Scope, tt.wantScope)
			}
			checkAccess(t, e.verify(t, p.AccessToken, "alice", tt.service), tt.wantAccess)
			if tt.wantRefresh && p.RefreshToken != rt {
				t.Error("refresh grant with access_type=offline did not return the same refresh token")
			}
			if !tt.wantRefresh && p.RefreshToken != "" {
				t.Error("refresh grant returned a refresh token without access_type=offline")
			}
		})
	}
}

func TestPostErrors(t *testing.T) {
	// pairs are form keys and values; the value "<refresh>" stands for a
	// fresh refresh token of alice for registry.local.
	type kv = []string
	tests := []struct {
		name        string
		contentType string // default form
		pairs       kv
		rawBody     string // used instead of pairs when set
		wantStatus  int
		wantCode    string
	}{
		{name: "password grant without client_id", pairs: kv{"grant_type", "password", "username", "alice", "password", passwords["alice"], "service", service}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "password grant without password", pairs: kv{"grant_type", "password", "username", "alice", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "password grant without username", pairs: kv{"grant_type", "password", "password", passwords["alice"], "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "wrong password", pairs: kv{"grant_type", "password", "username", "alice", "password", passwords["bob"], "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "invalid_grant"},
		{name: "unknown user", pairs: kv{"grant_type", "password", "username", "mallory", "password", "mallory-Secret-000", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "invalid_grant"},
		{name: "unknown service", pairs: kv{"grant_type", "password", "username", "alice", "password", passwords["alice"], "client_id", "docker", "service", "evil.example"}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "unknown service before the password", pairs: kv{"grant_type", "password", "username", "alice", "password", "wrong", "client_id", "docker", "service", "evil.example"}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "malformed scope before the password", pairs: kv{"grant_type", "password", "username", "alice", "password", "wrong", "client_id", "docker", "service", service, "scope", "repository:alice/app"}, wantStatus: 400, wantCode: "invalid_scope"},
		{name: "malformed scope", pairs: kv{"grant_type", "password", "username", "alice", "password", passwords["alice"], "client_id", "docker", "service", service, "scope", "repository:alice/app"}, wantStatus: 400, wantCode: "invalid_scope"},
		{name: "refresh token for another service", pairs: kv{"grant_type", "refresh_token", "refresh_token", "<refresh>", "client_id", "docker", "service", mirror}, wantStatus: 400, wantCode: "invalid_grant"},
		{name: "refresh token without service", pairs: kv{"grant_type", "refresh_token", "refresh_token", "<refresh>", "client_id", "docker"}, wantStatus: 400, wantCode: "invalid_grant"},
		{name: "unknown refresh token", pairs: kv{"grant_type", "refresh_token", "refresh_token", refresh.Prefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "invalid_grant"},
		{name: "garbage refresh token", pairs: kv{"grant_type", "refresh_token", "refresh_token", "garbage", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "invalid_grant"},
		{name: "oversized refresh token", pairs: kv{"grant_type", "refresh_token", "refresh_token", refresh.Prefix + strings.Repeat("A", 600), "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "invalid_grant"},
		{name: "missing refresh token", pairs: kv{"grant_type", "refresh_token", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "refresh grant without client_id", pairs: kv{"grant_type", "refresh_token", "refresh_token", "<refresh>", "service", service}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "client_credentials", pairs: kv{"grant_type", "client_credentials", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "unsupported_grant_type"},
		{name: "authorization_code", pairs: kv{"grant_type", "authorization_code", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "unsupported_grant_type"},
		{name: "authorization_code with code", pairs: kv{"grant_type", "authorization_code", "code", "c", "redirect_uri", "https://x.example/cb", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "unsupported_grant_type"},
		{name: "empty grant_type", pairs: kv{"grant_type", "", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "unsupported_grant_type"},
		{name: "no grant_type", pairs: kv{"client_id", "docker", "service", service}, wantStatus: 400, wantCode: "unsupported_grant_type"},
		{name: "made-up grant_type", pairs: kv{"grant_type", "magic", "client_id", "docker", "service", service}, wantStatus: 400, wantCode: "unsupported_grant_type"},
		{name: "JSON body", contentType: "application/json", rawBody: `{"grant_type":"password","username":"alice","password":"` + passwords["alice"] + `","client_id":"docker"}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "no content type", contentType: "-", rawBody: "grant_type=password", wantStatus: 400, wantCode: "invalid_request"},
		{name: "body over 64 KiB", rawBody: "grant_type=password&client_id=docker&username=alice&password=x&scope=" + strings.Repeat("a", 64<<10), wantStatus: 413, wantCode: "invalid_request"},
		{name: "malformed form", rawBody: "grant_type=%zz", wantStatus: 400, wantCode: "invalid_request"},
		{name: "client_id with a NUL", pairs: kv{"grant_type", "password", "username", "alice", "password", passwords["alice"], "client_id", "bad\x00client", "service", service}, wantStatus: 400, wantCode: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			body := tt.rawBody
			if body == "" {
				form := url.Values{}
				for i := 0; i < len(tt.pairs); i += 2 {
					v := tt.pairs[i+1]
					if v == "<refresh>" {
						v = e.offlineToken(t, "alice", "docker", service)
					}
					form.Set(tt.pairs[i], v)
				}
				body = form.Encode()
			}
			ct := tt.contentType
			switch ct {
			case "":
				ct = "application/x-www-form-urlencoded"
			case "-":
				ct = ""
			}
			r := e.postRaw(t, ct, body)
			checkOAuthError(t, r, tt.wantStatus, tt.wantCode)
			if bytes.Contains(r.body, []byte("access_token")) {
				t.Errorf("error body %s carries a token", r.body)
			}
		})
	}
}

// TestPostIgnoresQueryParameters: oauth.md parameters are POST body
// parameters; credentials in the URL are not honoured.
func TestPostIgnoresQueryParameters(t *testing.T) {
	e := newEnv(t)
	q := passwordForm("alice", "docker", "repository:alice/a:pull").Encode()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+endpoint+"?"+q, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	checkOAuthError(t, e.do(t, req), 400, "unsupported_grant_type")
}

func TestPostFormContentTypeWithCharset(t *testing.T) {
	e := newEnv(t)
	r := e.postRaw(t, "application/x-www-form-urlencoded; charset=utf-8", passwordForm("alice", "docker", "repository:alice/a:pull").Encode())
	p := e.checkPostOK(t, r)
	if p.Scope != "repository:alice/a:pull" {
		t.Errorf("scope = %q", p.Scope)
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{"unknown path", http.MethodGet, "/v2/", 404, "NOT_FOUND"},
		{"root", http.MethodGet, "/", 404, "NOT_FOUND"},
		{"token subpath", http.MethodGet, "/oauth2/token/x", 404, "NOT_FOUND"},
		{"PUT on token", http.MethodPut, endpoint, 405, "UNSUPPORTED"},
		{"DELETE on token", http.MethodDelete, endpoint, 405, "UNSUPPORTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req, err := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := e.do(t, req)
			checkDockerError(t, r, tt.wantStatus, tt.wantCode, false)
			if tt.wantStatus == http.StatusMethodNotAllowed && r.header.Get("Allow") != "GET, POST" {
				t.Errorf("Allow = %q, want %q", r.header.Get("Allow"), "GET, POST")
			}
		})
	}
}

// HEAD on a token endpoint is not GET: mux serves no route for it, and
// net/http would send no body anyway. Each answers 405 with an Allow that
// names only the methods it serves, in its own error format: what the
// handler writes is checked through a recorder (which keeps a HEAD's
// body), what a client gets over the wire through the test server.
func TestHeadOnTokenEndpoints(t *testing.T) {
	const docker, oauth, anchore = "docker", "oauth", "anchore"
	tests := []struct {
		path   string
		allow  string
		format string
	}{
		{endpoint, "GET, POST", docker},
		{engineToken, "POST", oauth},
		{"/oauth2/revoke", "POST", oauth},
		{"/oauth2/introspect", "POST", oauth},
		{"/api/tokens", "POST", docker},
		{"/api/tokens/list", "POST", docker},
		{"/api/tokens/revoke", "POST", docker},
		{"/v1/account", "GET", anchore},
		{"/v1/accounts", "GET", anchore},
	}
	e := newEngineEnv(t, engineOptions{})
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, tt.path, nil))
			r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			switch tt.format {
			case oauth:
				checkOAuthError(t, r, http.StatusMethodNotAllowed, "invalid_request")
			case anchore:
				checkEngineError(t, r, http.StatusMethodNotAllowed)
			default:
				checkDockerError(t, r, http.StatusMethodNotAllowed, "UNSUPPORTED", false)
			}
			req, err := http.NewRequest(http.MethodHead, e.srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			wire := e.do(t, req)
			if wire.status != http.StatusMethodNotAllowed || len(wire.body) != 0 {
				t.Errorf("over the wire: status %d, %d body bytes; want 405 and no body", wire.status, len(wire.body))
			}
			for _, h := range []http.Header{r.header, wire.header} {
				if got := h.Get("Allow"); got != tt.allow {
					t.Errorf("Allow = %q, want %q (never HEAD)", got, tt.allow)
				}
			}
			if got, want := wire.header.Get("Cache-Control"), r.header.Get("Cache-Control"); got != want {
				t.Errorf("Cache-Control over the wire = %q, want %q as written", got, want)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		wantSame bool
	}{
		{"sane id echoed", "req-42_a.B", true},
		{"absent id generated", "", false},
		{"spaces replaced", "bad id", false},
		{"header injection replaced", "x\"}{\"y", false},
		{"too long replaced", strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req, err := http.NewRequest(http.MethodGet, e.srv.URL+endpoint+"?service="+service, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.incoming != "" {
				req.Header.Set("X-Request-ID", tt.incoming)
			}
			r := e.do(t, req)
			e.checkGetOK(t, r)
			got := r.header.Get("X-Request-ID")
			if tt.wantSame {
				if got != tt.incoming {
					t.Errorf("X-Request-ID = %q, want %q echoed", got, tt.incoming)
				}
			} else if got == "" || got == tt.incoming || len(got) != 16 || strings.Trim(got, "0123456789abcdef") != "" {
				t.Errorf("X-Request-ID = %q, want a fresh 16-hex-digit ID", got)
			}
			if want := `"request_id":"` + got + `"`; !strings.Contains(e.logs.String(), want) {
				t.Errorf("access log has no %s", want)
			}
		})
	}
}

// TestLogsHoldNoSecrets runs one of each flow, including an internal error,
// against one server, and checks the log (every env also checks its own
// log at cleanup).
func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	e.checkGetOK(t, e.get(t, "service=registry.local&scope=repository:alice/app:push&offline_token=true", basic("alice")))
	checkDockerError(t, e.get(t, "service=registry.local", basicWith("alice", passwords["bob"])), http.StatusUnauthorized, "UNAUTHORIZED", false)
	rt := e.offlineToken(t, "bob", "docker", service)
	e.checkPostOK(t, e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"oras-go"}, "service": {service}}))
	checkOAuthError(t, e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"oras-go"}, "service": {mirror}}),
		http.StatusBadRequest, "invalid_grant")
	checkOAuthError(t, e.post(t, url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {passwords["alice"]}, "client_id": {"docker"}, "service": {service}}),
		http.StatusBadRequest, "invalid_grant")
	// A client that wrongly puts the password in the query string.
	e.checkGetOK(t, e.get(t, "service=registry.local&password="+url.QueryEscape(passwords["admin"]), nil))

	// Internal errors: the store is gone.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.get(t, "service=registry.local&offline_token=true", basic("admin"))
	checkDockerError(t, r, http.StatusInternalServerError, "UNKNOWN", false)
	if bytes.Contains(r.body, []byte("sql")) || bytes.Contains(r.body, []byte("closed")) {
		t.Errorf("500 body %s leaks internals", r.body)
	}
	r = e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"docker"}, "service": {service}})
	checkOAuthError(t, r, http.StatusInternalServerError, "server_error")
	if bytes.Contains(r.body, []byte("sql")) || bytes.Contains(r.body, []byte("closed")) {
		t.Errorf("500 body %s leaks internals", r.body)
	}

	logs := e.logs.String()
	if n := strings.Count(logs, `"msg":"internal error"`); n != 2 {
		t.Errorf("%d internal error log lines, want 2:\n%s", n, logs)
	}
	if strings.Contains(logs, "tgr_") {
		t.Error("something that looks like a refresh token is in the logs")
	}
	if strings.Contains(logs, "eyJ") {
		t.Error("something that looks like a JWT is in the logs")
	}
	e.checkLogs(t)
}

// benchGet measures one GET through the full handler, without a network.
func benchGet(b *testing.B, e *env, query string, auth func(*http.Request)) {
	req := httptest.NewRequest(http.MethodGet, endpoint+"?"+query, nil)
	if auth != nil {
		auth(req)
	}
	// Warm up (fills the credential cache) and check once.
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
	benchOK(b, e.handler, req)
}

// benchOK measures h serving req, which must answer 200 every time.
func benchOK(b *testing.B, h http.Handler, req *http.Request) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func BenchmarkGetToken(b *testing.B) {
	e := newEnvWith(b, envOptions{logSink: io.Discard})
	benchGet(b, e, "service=registry.local&scope=repository:alice/app:push", basic("alice"))
}

func BenchmarkGetTokenAnonymous(b *testing.B) {
	e := newEnvWith(b, envOptions{logSink: io.Discard})
	benchGet(b, e, "service=registry.local&scope=repository:public/app:pull", nil)
}
