package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn/federation/federationtest"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/logtest"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/postgres/pgtest"
	"github.com/tollgate/tollgate/pkg/verify"
)

// End-to-end tests of identity-token federation: the app as `serve` builds
// it from a configuration file, over HTTP, trusting an in-test OpenID
// Provider (federationtest) by OIDC discovery over TLS with ca_file.

// The federation environment.
const (
	fedAudience = "tollgate.e2e"       // the aud CI jobs ask their issuer for
	fedWorkload = "ci:github:acme/app" // the workload of acme/app's runs
	fedMain     = "refs/heads/main"
	// fedClaims is the trust rule's claims: the main branch of any
	// repository. The ACL, not the rule, confines each organisation to its
	// own repositories, by a claim the rule does not read: the identity
	// carries it because the ACL does.
	fedClaims = `{repository: "*", ref: refs/heads/main}`
	// fedACL grants a CI workload its organisation's repositories, the
	// organisation read from the identity token that vouched for it.
	fedACL = `acl:
  - {account: "ci:github:*", type: repository, name: "${claims:repository_owner}/*", actions: [pull, push]}
  - {account: "*", type: repository, name: "${account}/*", actions: [pull, push]}
`
	acmePush = "repository:acme/app:pull,push"
	evilPush = "repository:evil/app:pull,push"
)

// fedSetup is how a test's Tollgate differs from the default federation
// environment.
type fedSetup struct {
	policy   string // more keys of the issuer's policy, YAML indented by 6 ("      timeout: 500ms\n")
	yaml     string // more top-level sections (limits)
	proxies  bool   // believe X-Forwarded-For from loopback (server.trusted_proxies)
	postgres string // a DSN: the store is there, set through the environment as an operator would
	// edit changes the loaded configuration before the app is built.
	edit func(t *testing.T, cfg *config.Config, dir string)
}

// fedEnv is a Tollgate that trusts one test OpenID Provider, built from its
// configuration file like `serve` builds it, and served on loopback.
type fedEnv struct {
	is   *federationtest.Issuer
	path string // the configuration file
	cfg  *config.Config
	app  *app
	c    *e2eEnv
	logs *logtest.Buffer
	log  *slog.Logger // the app's, writing to logs
	// stop closes the server, then the app (its audit queue is written);
	// it runs at cleanup too, once.
	stop func()
}

func startFederation(t *testing.T, s fedSetup) *fedEnv {
	t.Helper()
	clearTollgateEnv(t)
	if s.postgres != "" {
		usePostgresStore(t, s.postgres)
	}
	f := &fedEnv{is: federationtest.NewIssuer(t), logs: &logtest.Buffer{}}
	dir, _ := tollgateDir(t)
	f.path = filepath.Join(dir, "tollgate.yaml")
	rewriteConfig(t, f.path, e2eACL, fedACL+f.federationYAML(t, s.policy)+s.yaml)
	if s.proxies {
		rewriteConfig(t, f.path, "server:\n", "server:\n  trusted_proxies: [\"127.0.0.1/32\"]\n")
	}
	cfg, err := loadConfig(f.path) // loaded and validated as serve does
	if err != nil {
		t.Fatal(err)
	}
	if s.edit != nil {
		s.edit(t, cfg, dir)
	}
	f.cfg = cfg
	f.log = newLogger(cfg.Log, f.logs) // as serve builds it
	f.app, err = newApp(context.Background(), cfg, f.log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.app.handler)
	f.stop = sync.OnceFunc(func() {
		srv.Close()
		if err := f.app.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Cleanup(func() {
		f.stop()
		if t.Failed() {
			t.Logf("tollgate log:\n%s", f.logs.String())
		}
	})
	f.c = tokenClient(t, srv.Listener.Addr().String())
	return f
}

// federationYAML trusts the issuer's tokens for fedAudience by discovery,
// its TLS certificate in ca_file, under the rule fedClaims.
func (f *fedEnv) federationYAML(t *testing.T, policy string) string {
	return fmt.Sprintf(`federation:
  username: oidc
  issuers:
    - issuer: %q
      audiences: [%q]
      ca_file: %q
      max_age: 10m
%s      rules:
        - claims: %s
          subject: "ci:github:${repository}"
`, f.is.URL, fedAudience, f.is.CAFile(t), policy, fedClaims)
}

// mint is the identity token of a GitHub Actions run of repository on
// ref, for fedAudience; edit, when not nil, changes its claims first.
func (f *fedEnv) mint(t *testing.T, repository, ref string, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := federationtest.GitHubClaims(fedAudience, repository, ref, time.Now())
	if edit != nil {
		edit(c)
	}
	return f.is.Mint(t, c)
}

// fedReply is an answer of Tollgate.
type fedReply struct {
	status int
	header http.Header
	body   map[string]any
}

func (r fedReply) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// dockerCode is the code of a Docker errors body's first error.
func (r fedReply) dockerCode() string {
	errs, _ := r.body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	first, _ := errs[0].(map[string]any)
	code, _ := first["code"].(string)
	return code
}

// send sends req from the address from (X-Forwarded-For; "" sends none).
func (f *fedEnv) send(t *testing.T, req *http.Request, from string) fedReply {
	t.Helper()
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := f.c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := fedReply{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not a JSON object", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return r
}

// get asks GET /oauth2/token for e2eService with HTTP Basic user:password
// and the query q (scope, account), as crane, regctl or the Docker CLI do.
func (f *fedEnv) get(t *testing.T, user, password string, q url.Values, from string) fedReply {
	t.Helper()
	q = cloneValues(q)
	q.Set("service", e2eService)
	req, err := http.NewRequest(http.MethodGet, f.c.realm+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	return f.send(t, req, from)
}

// post sends form to path (/oauth2/token, /v1/oauth/token).
func (f *fedEnv) post(t *testing.T, path string, form url.Values, from string) fedReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.c.base()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.send(t, req, from)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// scopeQuery is the query of GET for scopes.
func scopeQuery(scopes ...string) url.Values { return url.Values{"scope": scopes} }

// exchangeForm is the RFC 8693 token exchange of a CI job's identity token
// for registry scopes (§2.1).
func exchangeForm(idToken string, scopes ...string) url.Values {
	form := url.Values{"grant_type": {grant.TypeTokenExchange}, "subject_token": {idToken},
		"subject_token_type": {grant.TokenTypeIDToken}, "client_id": {"ci-e2e"}, "service": {e2eService}}
	if len(scopes) > 0 {
		form["scope"] = scopes
	}
	return form
}

// refreshForm redeems a refresh token for scopes (distribution oauth.md).
func refreshForm(refreshToken string, scopes ...string) url.Values {
	return url.Values{"grant_type": {grant.TypeRefreshToken}, "refresh_token": {refreshToken},
		"client_id": {"ci-e2e"}, "service": {e2eService}, "scope": scopes}
}

// registryClaims verifies a registry token as a registry would, with the
// keys Tollgate publishes, and returns its claims.
func (f *fedEnv) registryClaims(t *testing.T, raw string) verify.Claims {
	t.Helper()
	resp, err := f.c.HTTP.Get(f.c.base() + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	set, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET jwks.json: %d, %v", resp.StatusCode, err)
	}
	v, err := verify.New(verify.Options{JWKS: set, Issuer: f.cfg.Token.Issuer, Audience: e2eService})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("the registry token does not verify: %v", err)
	}
	return c
}

// wantGranted fails unless the registry token raw grants exactly the
// scopes want ("repository:NAME:ACTIONS") to the workload named sub, and
// says so in its identity claim.
func (f *fedEnv) wantGranted(t *testing.T, raw, sub string, want ...string) verify.Claims {
	t.Helper()
	c := f.registryClaims(t, raw)
	if c.Subject != sub || c.Identity == nil || c.Identity.Kind != verify.KindWorkload || c.Identity.Name != sub {
		t.Errorf("token of sub %q, identity %+v; want the workload %s", c.Subject, c.Identity, sub)
	}
	var got []string
	for _, a := range c.Access {
		got = append(got, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	if !slices.Equal(got, want) {
		t.Errorf("token grants %q, want %q", got, want)
	}
	return c
}

// wantOAuthError fails unless r is a RFC 6749 §5.2 error of status and
// code whose error_description holds about ("" for any).
func wantOAuthError(t *testing.T, what string, r fedReply, status int, code, about string) {
	t.Helper()
	if r.status != status || r.str("error") != code || !strings.Contains(r.str("error_description"), about) {
		t.Errorf("%s: %d %v, want %d %s about %q", what, r.status, r.body, status, code, about)
	}
	if r.str("access_token") != "" || r.str("refresh_token") != "" {
		t.Errorf("%s: a refusal carries a token", what)
	}
}

// TestFederationBasicLogin: a CI job logs in with HTTP Basic oidc:<identity
// token> as crane (no account), regctl and the Docker CLI (account=oidc)
// do, or with the password grant as oras does, and gets what the ACL
// grants its workload. The ACL's claim placeholder confines another
// organisation's workload, which the trust rule admits, to its own
// repositories.
func TestFederationBasicLogin(t *testing.T) {
	f := startFederation(t, fedSetup{})
	idToken := f.mint(t, "acme/app", fedMain, nil)

	for name, q := range map[string]url.Values{
		"crane, no account":          scopeQuery(acmePush),
		"docker and regctl, account": {"scope": {acmePush}, "account": {"oidc"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := f.get(t, "oidc", idToken, q, "")
			if r.status != http.StatusOK || r.str("token") == "" {
				t.Fatalf("GET: %d %v, want 200 with a token", r.status, r.body)
			}
			c := f.wantGranted(t, r.str("token"), fedWorkload, acmePush)
			for k, want := range map[string]string{"iss": f.is.URL, "repository": "acme/app", "repository_owner": "acme", "ref": fedMain} {
				if got := c.Identity.Claims[k]; got != want {
					t.Errorf("identity claim %s = %q, want %q", k, got, want)
				}
			}
		})
	}
	t.Run("oras, password grant", func(t *testing.T) {
		r := f.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"oidc"}, "password": {idToken},
			"client_id": {"oras-go"}, "service": {e2eService}, "scope": {acmePush}}, "")
		if r.status != http.StatusOK || r.str("scope") != acmePush {
			t.Fatalf("POST: %d %v, want 200 with scope %s", r.status, r.body, acmePush)
		}
		f.wantGranted(t, r.str("access_token"), fedWorkload, acmePush)
	})
	t.Run("another account", func(t *testing.T) {
		r := f.get(t, "oidc", idToken, url.Values{"scope": {acmePush}, "account": {"alice"}}, "")
		if r.status != http.StatusBadRequest || r.dockerCode() != "INVALID_REQUEST" || r.str("token") != "" {
			t.Errorf("GET with account=alice: %d %v, want 400 INVALID_REQUEST", r.status, r.body)
		}
	})
	t.Run("organisation confined by the ACL", func(t *testing.T) {
		evil := f.mint(t, "evil/app", fedMain, nil) // the trust rule admits any organisation's main branch
		r := f.get(t, "oidc", evil, scopeQuery(acmePush, evilPush), "")
		if r.status != http.StatusOK {
			t.Fatalf("GET: %d %v, want 200", r.status, r.body)
		}
		f.wantGranted(t, r.str("token"), "ci:github:evil/app", evilPush)
	})
	t.Run("branch refused by the trust rule", func(t *testing.T) {
		r := f.get(t, "oidc", f.mint(t, "acme/app", "refs/heads/feature", nil), scopeQuery(acmePush), "")
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" || r.str("token") != "" {
			t.Errorf("GET: %d %v, want 401 with a challenge", r.status, r.body)
		}
	})
}

// TestFederationExchangeRefreshTokens: the token exchange answers an
// access token (RFC 8693 §2.2.1) and, offline, a refresh token that works
// like a Docker identity token until the trust rule it was issued under
// changes (a reload) or `tollgate workloads revoke` revokes it; in SQLite
// and PostgreSQL alike.
func TestFederationExchangeRefreshTokens(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return pgtest.FreshSchema(t, pgtest.DSN(t)) },
	}
	for name, dsn := range stores {
		t.Run(name, func(t *testing.T) {
			f := startFederation(t, fedSetup{postgres: dsn(t)})
			testExchangeRefreshTokens(t, f)
		})
	}
}

func testExchangeRefreshTokens(t *testing.T, f *fedEnv) {
	r := f.post(t, "/oauth2/token", exchangeForm(f.mint(t, "acme/app", fedMain, nil), acmePush), "")
	if r.status != http.StatusOK || r.str("token_type") != "Bearer" || r.str("issued_token_type") != grant.TokenTypeAccessToken ||
		r.str("scope") != acmePush || r.str("refresh_token") != "" {
		t.Fatalf("exchange: %d %v, want 200, Bearer, issued_token_type access_token, scope %s, no refresh_token",
			r.status, r.body, acmePush)
	}
	f.wantGranted(t, r.str("access_token"), fedWorkload, acmePush)

	offline := func() string {
		t.Helper()
		form := exchangeForm(f.mint(t, "acme/app", fedMain, nil), acmePush)
		form.Set("access_type", "offline")
		r := f.post(t, "/oauth2/token", form, "")
		if r.status != http.StatusOK || !strings.HasPrefix(r.str("refresh_token"), "tgr_") {
			t.Fatalf("offline exchange: %d %v, want 200 with a refresh_token", r.status, r.body)
		}
		return r.str("refresh_token")
	}
	refreshes := func(what, rt string) {
		t.Helper()
		r := f.post(t, "/oauth2/token", refreshForm(rt, acmePush, evilPush), "")
		if r.status != http.StatusOK || r.str("scope") != acmePush {
			t.Fatalf("%s: refresh: %d %v, want 200 with scope %s", what, r.status, r.body, acmePush)
		}
		c := f.wantGranted(t, r.str("access_token"), fedWorkload, acmePush)
		if got := c.Identity.Claims["repository_owner"]; got != "acme" {
			t.Errorf("%s: refreshed token's repository_owner = %q, want acme, the claim its binding kept", what, got)
		}
	}
	refused := func(what, rt string) {
		t.Helper()
		wantOAuthError(t, what, f.post(t, "/oauth2/token", refreshForm(rt, acmePush), ""), http.StatusBadRequest, "invalid_grant", "")
	}

	// A trust rule changed by a reload ends what was issued under it.
	beforeReload := offline()
	refreshes("before the reload", beforeReload)
	rewriteConfig(t, f.path, fedClaims, `{repository: "*", ref: [refs/heads/main, "refs/heads/release/*"]}`)
	f.app.Reload(context.Background(), f.log) // what SIGHUP runs
	if recs := logRecords(t, f.logs.String(), "trust policies reloaded"); len(recs) != 1 {
		t.Fatalf("trust policies reloaded %d times, want 1", len(recs))
	}
	refused("refresh token of the changed rule", beforeReload)

	// Revoked by the operator, from the command line over the same store.
	revoked := offline()
	refreshes("before the revocation", revoked)
	out, err := runCLI(t, "", "workloads", "revoke", fedWorkload, "--config", f.path)
	if err != nil || !strings.Contains(out, `workload "ci:github:acme/app": revoked 2 refresh tokens`) {
		t.Fatalf("workloads revoke: %v\n%s", err, out)
	}
	refused("revoked refresh token", revoked)

	// The workload itself is not banned: a new identity token is exchanged.
	if r := f.post(t, "/oauth2/token", exchangeForm(f.mint(t, "acme/app", fedMain, nil), acmePush), ""); r.status != http.StatusOK {
		t.Errorf("exchange after the revocation: %d %v, want 200", r.status, r.body)
	}
}

// TestFederationEngineExchange: the Engine API's token endpoint exchanges
// an identity token for an engine token of the workload, without a
// refresh token (those are an account's).
func TestFederationEngineExchange(t *testing.T) {
	f := startFederation(t, fedSetup{edit: func(t *testing.T, cfg *config.Config, dir string) {
		enableEngine(t, cfg, dir)
		cfg.Engine.Audience = cfg.Engine.Issuer // as Load derives it
	}})
	form := exchangeForm(f.mint(t, "acme/app", fedMain, nil))
	form.Set("client_id", "anonymous")
	form.Del("service")
	form.Set("access_type", "offline")
	r := f.post(t, "/v1/oauth/token", form, "")
	if r.status != http.StatusOK || r.str("token_type") != "Bearer" || r.str("issued_token_type") != grant.TokenTypeAccessToken {
		t.Fatalf("engine exchange: %d %v, want 200 Bearer with issued_token_type access_token", r.status, r.body)
	}
	if _, ok := r.body["refresh_token"]; ok {
		t.Errorf("engine exchange answered a refresh_token")
	}
	secret, err := os.ReadFile(f.cfg.Engine.HMACSecretFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Options{HMACSecret: []byte(strings.TrimSpace(string(secret))), Issuer: f.cfg.Engine.Issuer,
		Audience: f.cfg.Engine.Audience})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(t.Context(), r.str("access_token"))
	if err != nil {
		t.Fatalf("the engine token does not verify with the shared secret: %v", err)
	}
	if c.Subject != fedWorkload || c.Identity == nil || c.Identity.Kind != verify.KindWorkload || c.Identity.Name != fedWorkload {
		t.Errorf("engine token of sub %q, identity %+v; want the workload %s", c.Subject, c.Identity, fedWorkload)
	}
}

// TestFederationRefusals: each way an identity token or an exchange is
// refused, over HTTP: at POST an invalid_request (RFC 8693 §2.2.2) saying
// why, at GET a 401 with a challenge.
func TestFederationRefusals(t *testing.T) {
	f := startFederation(t, fedSetup{})
	stranger := federationtest.NewIssuer(t) // trusted by no one
	tests := []struct {
		name  string
		token func(t *testing.T) string // the identity token; nil: a good one
		edit  func(url.Values)          // of the exchange's form
		about string                    // in error_description
		get   bool                      // the token is refused at GET too
		code  string                    // the error; "" is invalid_request
	}{
		{name: "wrong audience", about: "audience", get: true, token: func(t *testing.T) string {
			return f.mint(t, "acme/app", fedMain, func(c jwt.MapClaims) { c["aud"] = "someone-else" })
		}},
		{name: "expired", about: "expired", get: true, token: func(t *testing.T) string {
			return f.is.Mint(t, federationtest.GitHubClaims(fedAudience, "acme/app", fedMain, time.Now().Add(-time.Hour)))
		}},
		{name: "untrusted issuer", about: "not trusted", get: true, token: func(t *testing.T) string {
			return stranger.Mint(t, federationtest.GitHubClaims(fedAudience, "acme/app", fedMain, time.Now()))
		}},
		{name: "no rule matches", about: "no rule", get: true, token: func(t *testing.T) string {
			return f.mint(t, "acme/app", "refs/heads/feature", nil)
		}},
		{name: "signed with another key", about: "signature", get: true, token: func(t *testing.T) string {
			return f.is.MintWithKey(t, f.is.KeyID(), federationtest.GitHubClaims(fedAudience, "acme/app", fedMain, time.Now()))
		}},
		{name: "wrong subject_token_type", about: "subject_token_type",
			edit: func(v url.Values) { v.Set("subject_token_type", grant.TokenTypeAccessToken) }},
		{name: "actor_token", about: "actor_token", edit: func(v url.Values) { v.Set("actor_token", "x.y.z") }},
		{name: "missing subject_token", about: "subject_token", edit: func(v url.Values) { v.Del("subject_token") }},
		{name: "a service not served", about: "service", code: "invalid_target", // RFC 8693 §2.2.2
			edit: func(v url.Values) { v.Set("service", "elsewhere.example") }},
		{name: "a malformed scope", code: "invalid_scope", edit: func(v url.Values) { v.Set("scope", "repository:acme/app") }},
		{name: "an unknown requested_token_type", about: "requested_token_type",
			edit: func(v url.Values) { v.Set("requested_token_type", "urn:ietf:params:oauth:token-type:saml2") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idToken := f.mint(t, "acme/app", fedMain, nil)
			if tt.token != nil {
				idToken = tt.token(t)
			}
			form := exchangeForm(idToken, acmePush)
			if tt.edit != nil {
				tt.edit(form)
			}
			code := "invalid_request"
			if tt.code != "" {
				code = tt.code
			}
			wantOAuthError(t, "POST", f.post(t, "/oauth2/token", form, ""), http.StatusBadRequest, code, tt.about)
			if !tt.get {
				return
			}
			r := f.get(t, "oidc", idToken, scopeQuery(acmePush), "")
			if r.status != http.StatusUnauthorized || r.dockerCode() != "UNAUTHORIZED" || r.str("token") != "" ||
				!strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic realm=") {
				t.Errorf("GET: %d %v (WWW-Authenticate %q), want 401 UNAUTHORIZED with a Basic challenge",
					r.status, r.body, r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestFederationExchangeNotOfferedWithoutIssuers: with no issuer trusted,
// the token exchange is no grant of /oauth2/token.
func TestFederationExchangeNotOfferedWithoutIssuers(t *testing.T) {
	r := startReloadApp(t) // the e2e configuration: no federation section
	status, body := r.client.postToken(t, exchangeForm("a.b.c", acmePush))
	desc, _ := body["error_description"].(string)
	if status != http.StatusBadRequest || body["error"] != "unsupported_grant_type" || strings.Contains(desc, "token-exchange") {
		t.Errorf("exchange without issuers: %d %v, want 400 unsupported_grant_type not naming the exchange", status, body)
	}
}

// TestFederationIssuerDown: an issuer that does not answer within its
// policy's timeout is a 503 with Retry-After, never a wrong password; it
// is not asked again at once, and users' logins go on.
func TestFederationIssuerDown(t *testing.T) {
	f := startFederation(t, fedSetup{policy: "      timeout: 500ms\n"})
	f.is.SetHang(true)
	idToken := f.mint(t, "acme/app", fedMain, nil)

	start := time.Now()
	r := f.get(t, "oidc", idToken, scopeQuery(acmePush), "")
	took := time.Since(start)
	if r.status != http.StatusServiceUnavailable || r.dockerCode() != "UNAVAILABLE" || r.header.Get("Retry-After") == "" {
		t.Errorf("GET: %d %v (Retry-After %q), want 503 UNAVAILABLE with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	if took > 3*time.Second {
		t.Errorf("GET answered after %s, want within a few seconds of the 500ms timeout", took)
	}
	r = f.post(t, "/oauth2/token", exchangeForm(idToken, acmePush), "")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("POST: no Retry-After")
	}
	wantOAuthError(t, "POST", r, http.StatusServiceUnavailable, "temporarily_unavailable", "")
	if n := f.is.DiscoveryFetches.Load(); n != 1 {
		t.Errorf("the issuer was asked %d times, want once: a failure is remembered", n)
	}
	if status, body := f.c.getToken(t, "alice", e2eUsers["alice"], "repository:alice/app:pull"); status != http.StatusOK {
		t.Errorf("alice's password login while the issuer hangs: %d %v, want 200", status, body)
	}
}

// TestFederationFailedLoginsChargeAddressOnly: failed logins under the
// federation's user name spend the budget of their address alone, so that
// no one locks every CI job out by failing logins as oidc; the address
// that failed is limited.
func TestFederationFailedLoginsChargeAddressOnly(t *testing.T) {
	f := startFederation(t, fedSetup{proxies: true, yaml: `limits:
  failures_per_minute: 1
  failure_burst: 2
  ip_failures_per_minute: 1
  ip_failure_burst: 4
`})
	const attacker, ci, other, another = "192.0.2.10", "198.51.100.20", "203.0.113.30", "203.0.113.40"
	idToken := f.mint(t, "acme/app", fedMain, nil)

	// Four failures: twice the per-name burst, all the address's.
	for i := range 4 {
		if r := f.get(t, "oidc", fmt.Sprintf("not-a-token-%d", i), nil, attacker); r.status != http.StatusUnauthorized {
			t.Fatalf("failed login %d as oidc: %d %v, want 401", i+1, r.status, r.body)
		}
	}
	if r := f.get(t, "oidc", idToken, scopeQuery(acmePush), ci); r.status != http.StatusOK {
		t.Errorf("CI's login from another address: %d %v, want 200", r.status, r.body)
	}
	if r := f.post(t, "/oauth2/token", exchangeForm(idToken, acmePush), ci); r.status != http.StatusOK {
		t.Errorf("CI's exchange from another address: %d %v, want 200", r.status, r.body)
	}
	r := f.get(t, "oidc", idToken, scopeQuery(acmePush), attacker)
	if r.status != http.StatusTooManyRequests || r.dockerCode() != "TOOMANYREQUESTS" || r.header.Get("Retry-After") == "" {
		t.Errorf("GET from the failing address: %d %v, want 429 with Retry-After", r.status, r.body)
	}
	wantOAuthError(t, "exchange from the failing address", f.post(t, "/oauth2/token", exchangeForm(idToken, acmePush), attacker),
		http.StatusTooManyRequests, "temporarily_unavailable", "")

	// The per-name budget is in force for a user's name: two failures for
	// alice lock her out from everywhere.
	for range 2 {
		if r := f.get(t, "alice", "wrong-password", nil, other); r.status != http.StatusUnauthorized {
			t.Fatalf("alice with a wrong password: %d %v, want 401", r.status, r.body)
		}
	}
	if r := f.get(t, "alice", e2eUsers["alice"], nil, another); r.status != http.StatusTooManyRequests {
		t.Errorf("alice from another address after her name's budget is spent: %d %v, want 429", r.status, r.body)
	}
}

// TestFederationAuditAndLogsHoldNoIdentityToken: the audit row of an
// exchanged token says what vouched for the workload (issuer, rule,
// claims); neither the audit log nor the server's log holds an identity
// token, accepted or refused, nor a part of one.
func TestFederationAuditAndLogsHoldNoIdentityToken(t *testing.T) {
	f := startFederation(t, fedSetup{})
	good := f.mint(t, "acme/app", fedMain, nil)
	expired := f.is.Mint(t, federationtest.GitHubClaims(fedAudience, "acme/app", fedMain, time.Now().Add(-2*time.Hour)))
	foreign := f.mint(t, "acme/app", fedMain, func(c jwt.MapClaims) { c["aud"] = "someone-else" })

	form := exchangeForm(good, acmePush)
	form.Set("client_id", "audit-e2e")
	form.Set("access_type", "offline")
	r := f.post(t, "/oauth2/token", form, "")
	if r.status != http.StatusOK {
		t.Fatalf("exchange: %d %v", r.status, r.body)
	}
	secrets := []string{r.str("access_token"), r.str("refresh_token")}
	if r := f.get(t, "oidc", good, scopeQuery(acmePush), ""); r.status != http.StatusOK {
		t.Fatalf("GET: %d %v", r.status, r.body)
	}
	if r := f.post(t, "/oauth2/token", exchangeForm(expired, acmePush), ""); r.status != http.StatusBadRequest {
		t.Fatalf("exchange of an expired token: %d %v", r.status, r.body)
	}
	if r := f.get(t, "oidc", foreign, scopeQuery(acmePush), ""); r.status != http.StatusUnauthorized {
		t.Fatalf("GET with another audience's token: %d %v", r.status, r.body)
	}
	for _, tok := range []string{good, expired, foreign} {
		parts := strings.Split(tok, ".")
		secrets = append(secrets, tok, parts[1], parts[2])
	}
	f.stop() // the audit queue is written, the log complete

	rows := readAudit(t, f.cfg.Store.Path)
	i := slices.IndexFunc(rows, func(ev store.AuditEvent) bool {
		return ev.Kind == audit.TokenIssued && ev.ClientID == "audit-e2e"
	})
	if i < 0 {
		t.Fatalf("no token.issued row of the exchange in %+v", rows)
	}
	ev := rows[i]
	if ev.Subject != fedWorkload || ev.Granted != acmePush {
		t.Errorf("row of subject %q, granted %q; want %s, %s", ev.Subject, ev.Granted, fedWorkload, acmePush)
	}
	for _, want := range []string{"issuer=" + f.is.URL + " ", "rule=issuers[0].rules[0] ", `claims={`, `"repository_owner":"acme"`} {
		if !strings.Contains(ev.Detail, want) {
			t.Errorf("detail %q lacks %s", ev.Detail, want)
		}
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"subject":"`+fedWorkload+`"`) {
		t.Errorf("the log names no request of the workload: the search below would prove nothing")
	}
	for _, row := range rows {
		text := fmt.Sprintf("%+v", row)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("audit row %d (%s) holds a token or part of one: %.12s…", row.ID, row.Kind, s)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds a token or part of one: %.12s…", s)
		}
	}
	if jwtShaped := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}`).FindString(logs); jwtShaped != "" {
		t.Errorf("the log holds something shaped like a JWT: %.12s…", jwtShaped)
	}
}

// TestFederationClientGivingUpLeavesIssuerUp: a client that gives up (its
// request's context ends) while Tollgate discovers the issuer does not make
// the issuer count as down for everyone else. Such a client needs no valid
// token, only one naming the issuer: its iss is read before any signature
// is checked.
func TestFederationClientGivingUpLeavesIssuerUp(t *testing.T) {
	f := startFederation(t, fedSetup{})
	forged := f.is.MintWithKey(t, "forged", federationtest.GitHubClaims(fedAudience, "acme/app", fedMain, time.Now()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/oauth2/token?service="+e2eService, nil)
	req.SetBasicAuth("oidc", forged)
	f.app.handler.ServeHTTP(httptest.NewRecorder(), req) // whatever it answers, no one reads it

	idToken := f.mint(t, "acme/app", fedMain, nil)
	if r := f.get(t, "oidc", idToken, scopeQuery(acmePush), ""); r.status != http.StatusOK {
		t.Errorf("GET after another client gave up: %d %v, want 200", r.status, r.body)
	}
}

// TestFederationIntrospection: an administrator introspecting a
// workload's tokens sees them active while they are good, with the
// workload's identity; a refresh token whose trust rule changed is
// inactive; and nothing of it becomes an account.
func TestFederationIntrospection(t *testing.T) {
	f := startFederation(t, fedSetup{edit: func(_ *testing.T, cfg *config.Config, _ string) {
		cfg.Users.Admins = []string{"admin"}
	}})
	introspect := func(raw string) fedReply {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, f.c.base()+"/oauth2/introspect", strings.NewReader(url.Values{"token": {raw}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("admin", e2eUsers["admin"])
		return f.send(t, req, "")
	}
	form := exchangeForm(f.mint(t, "acme/app", fedMain, nil), acmePush)
	form.Set("access_type", "offline")
	r := f.post(t, "/oauth2/token", form, "")
	if r.status != http.StatusOK {
		t.Fatalf("exchange: %d %v", r.status, r.body)
	}
	access, rt := r.str("access_token"), r.str("refresh_token")
	for what, raw := range map[string]string{"access token": access, "refresh token": rt} {
		got := introspect(raw)
		if got.status != http.StatusOK || got.body["active"] != true || got.str("username") != fedWorkload {
			t.Errorf("introspect the %s: %d %v, want active for %s", what, got.status, got.body, fedWorkload)
		}
	}
	if _, err := f.app.store.Account(context.Background(), fedWorkload); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("account %q after introspection: %v, want none (a workload has no account)", fedWorkload, err)
	}
	rewriteConfig(t, f.path, fedClaims, `{repository: "*", ref: "refs/heads/*"}`)
	f.app.Reload(context.Background(), f.log)
	if got := introspect(rt); got.status != http.StatusOK || got.body["active"] != false {
		t.Errorf("introspect the refresh token of a changed rule: %d %v, want inactive", got.status, got.body)
	}
}
