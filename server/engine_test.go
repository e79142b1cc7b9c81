package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/audit/audittest"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/ratelimit"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/server"
)

const (
	engineIssuer   = "anchore-engine"
	engineAudience = "anchore"
	engineTTL      = time.Hour
	engineToken    = "/v1/oauth/token"
)

// engineEnv is a tokenEnv whose server also serves the Engine API, wired as
// cmd/tollgate wires it; admin is the admin user. Every endpoint's audit
// events go to audit, and passwordCalls counts what reaches the password
// users.
type engineEnv struct {
	*tokenEnv
	engineKey     *keys.Key // the HS256 secret, or the registry signing key
	audit         *audittest.Recorder
	passwordCalls *countingAuthn
}

type engineOptions struct {
	keysMode bool // sign with the registry signing key instead of an HS256 secret
	limits   server.Limits
	now      func() time.Time // the refresh tokens' clock; nil: time.Now
	// clients are registered client_credentials clients, ID → secret, each
	// with the audience service-b and the scope reports:read.
	clients map[string]string
	// trusted believes X-Forwarded-For from loopback peers (see from).
	trusted bool
}

func newEngineEnv(tb testing.TB, o engineOptions) *engineEnv {
	tb.Helper()
	te := newTokenEnv(tb)
	e := &engineEnv{tokenEnv: te, audit: &audittest.Recorder{}, engineKey: te.key, passwordCalls: &countingAuthn{inner: te.auth}}
	if !o.keysMode {
		var err error
		if e.engineKey, err = keys.Generate(keys.Options{Algorithm: "HS256"}); err != nil {
			tb.Fatal(err)
		}
	}
	logger := debugLogger(te.logs)
	svc := te.grantService(exampleACL(tb))
	svc.Audit = e.audit
	eng := &engine.Service{
		Tokens:    &engine.Tokens{Issuer: engineIssuer, Audience: engineAudience, TTL: engineTTL, Key: e.engineKey},
		Clients:   []string{"anchorectl"},
		Accounts:  te.accounts,
		Listing:   te.store,
		APITokens: te.tokens,
		Audit:     e.audit,
		Refresh:   &refresh.Families{Store: te.store, TTL: engineRefreshTTL, Now: o.now},
	}
	eng.Registered = client.New(te.store, bcrypt.MinCost)
	registerClients(tb, te.store, o.clients)
	var trusted []netip.Prefix
	if o.trusted {
		trusted = loopbackProxies
	}
	callers := te.accounts.Authenticator(authn.Chain{te.tokens, e.passwordCalls})
	te.serve(tb, server.New(server.Options{
		Grant: svc, Authn: callers, Logger: logger, Realm: issuer,
		APITokens: te.tokens, Passwords: te.accounts.Authenticator(e.passwordCalls), Engine: eng, Limits: o.limits,
		TrustedProxies:     trusted,
		Introspection:      introspection(te, svc, eng), // engine_refresh_test.go
		IntrospectionAuthn: authn.Chain{eng.Registered, callers},
		Accounts:           te.accounts,
	}))
	return e
}

// accountID is the ID of name's account.
func (e *env) accountID(t testing.TB, name string) string {
	t.Helper()
	acct, err := e.accounts.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return acct.ID
}

// registerClients stores each client (ID → secret) as `tollgate clients
// add` does: a bcrypt hash, the audience service-b, the scope reports:read.
func registerClients(tb testing.TB, st store.Clients, clients map[string]string) {
	tb.Helper()
	for id, secret := range clients {
		hash, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.CreateClient(context.Background(), store.Client{ID: id, SecretHash: string(hash),
			Audiences: []string{"service-b"}, Scopes: []string{"reports:read"}, CreatedAt: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
}

// clientForm is a client_credentials request authenticating in the form.
func clientForm(id, secret string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
}

// engineForm is the seed request: the password grant of the anonymous client.
func engineForm(user, password string) url.Values {
	return url.Values{"grant_type": {"password"}, "client_id": {"anonymous"}, "username": {user}, "password": {password}}
}

// tokenRequest POSTs body to /v1/oauth/token with the given Content-Type
// (none when empty).
func (e *engineEnv) tokenRequest(t testing.TB, contentType, body string, auth func(*http.Request)) response {
	t.Helper()
	return e.request(t, http.MethodPost, engineToken, contentType, body, auth)
}

func (e *engineEnv) postEngine(t testing.TB, form url.Values) response {
	t.Helper()
	return e.tokenRequest(t, "application/x-www-form-urlencoded", form.Encode(), nil)
}

// engineResponse is the token response, decoded strictly.
type engineResponse struct {
	AccessToken string  `json:"access_token"`
	ExpiresIn   int64   `json:"expires_in"`
	TokenType   string  `json:"token_type"`
	Scope       *string `json:"scope"`
	// RefreshToken: see engine_refresh_test.go.
	RefreshToken string `json:"refresh_token"`
}

// issued checks a 200 token response and returns the token.
func (e *engineEnv) issued(t testing.TB, r response) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200", r.status, r.body)
	}
	var body engineResponse
	decodeStrict(t, r.body, &body)
	e.remember(body.AccessToken)
	if body.TokenType != "Bearer" || body.ExpiresIn != int64(engineTTL/time.Second) || body.AccessToken == "" {
		t.Errorf("response %s: want a Bearer token of %d s", r.body, int64(engineTTL/time.Second))
	}
	if cc, pragma := r.header.Get("Cache-Control"), r.header.Get("Pragma"); cc != "no-store" || pragma != "no-cache" {
		t.Errorf("Cache-Control, Pragma = %q, %q; want no-store, no-cache", cc, pragma)
	}
	return body.AccessToken
}

// engineClaims are the claims of an engine token as golang-jwt reads them.
type engineClaims struct {
	jwt.RegisteredClaims
	Scope    *string `json:"scope"`
	Username string  `json:"username"`
	// Identity is the identity claim (verify.IdentityClaim), as any
	// service decoding the token reads it.
	Identity struct {
		Kind     string `json:"kind"`
		ID       string `json:"id"`
		Role     string `json:"role"`
		APIToken string `json:"api_token"`
	} `json:"tollgate"`
}

// verifyEngine verifies raw with golang-jwt and the engine key alone (the
// HMAC secret, or the signing key's public key) and checks every claim:
// sub is the account's ID (a UUID, as Anchore's services expect), username
// its name.
func (e *engineEnv) verifyEngine(t testing.TB, raw, wantUser string) engineClaims {
	t.Helper()
	var c engineClaims
	parsed, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return e.engineKey.VerificationKey(), nil },
		jwt.WithValidMethods([]string{e.engineKey.Algorithm()}), jwt.WithIssuer(engineIssuer), jwt.WithAudience(engineAudience),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("engine token does not verify with the %s key: %v", e.engineKey.Algorithm(), err)
	}
	if kid, _ := parsed.Header["kid"].(string); kid != e.engineKey.ID() {
		t.Errorf("kid = %v, want %s", parsed.Header["kid"], e.engineKey.ID())
	}
	acct, err := e.accounts.Get(context.Background(), wantUser)
	if err != nil {
		t.Fatalf("account %s: %v", wantUser, err)
	}
	if c.Subject != acct.ID || c.Username != wantUser {
		t.Errorf("sub, username = %q, %q; want %s's account id %q and %q", c.Subject, c.Username, wantUser, acct.ID, wantUser)
	}
	if c.IssuedAt == nil || c.NotBefore == nil || c.ExpiresAt == nil || c.ID == "" {
		t.Fatalf("iat, nbf, exp, jti = %v, %v, %v, %q: all required", c.IssuedAt, c.NotBefore, c.ExpiresAt, c.ID)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt.Time); d != engineTTL {
		t.Errorf("exp - iat = %v, want %v", d, engineTTL)
	}
	if c.Scope == nil || *c.Scope != "" {
		t.Errorf("scope = %v, want present and empty", c.Scope)
	}
	return c
}

// account GETs path with auth.
func (e *engineEnv) account(t testing.TB, path string, auth func(*http.Request)) response {
	t.Helper()
	return e.request(t, http.MethodGet, path, "", "", auth)
}

// wantAccount checks a 200 /v1/account answer, field by field: an enabled
// account without email (null), its creation and update times as RFC 3339.
func wantAccount(t testing.TB, r response, name, typ string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200", r.status, r.body)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"created_at", "last_updated"} {
		if ts, _ := got[k].(string); ts == "" {
			t.Errorf("%s = %v, want an RFC 3339 time", k, got[k])
		} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("%s = %q: %v", k, ts, err)
		}
		delete(got, k)
	}
	want := map[string]any{"name": name, "type": typ, "state": "enabled", "email": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("account = %s, want %v", r.body, want)
	}
}

// wantOAuthError checks an RFC 6749 §5.2 answer.
func wantOAuthError(t testing.TB, r response, status int, code string) {
	t.Helper()
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if r.status != status || body["error"] != code {
		t.Errorf("status %d, body %s; want %d %s", r.status, r.body, status, code)
	}
	checkNoStore(t, r)
}

// wantUnauthorized checks a 401 of the account calls: a Basic and a Bearer
// challenge, the latter with error="invalid_token" when badToken.
func wantUnauthorized(t testing.TB, r response, badToken bool) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Fatalf("status %d, body %s; want 401", r.status, r.body)
	}
	challenges := r.header.Values("WWW-Authenticate")
	want := []string{`Basic realm="` + issuer + `"`, `Bearer realm="` + issuer + `"`}
	if badToken {
		want[1] += `, error="invalid_token"`
	}
	if !slices.Equal(challenges, want) {
		t.Errorf("WWW-Authenticate = %q, want %q", challenges, want)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil || body["httpcode"] != float64(401) || body["message"] == "" {
		t.Errorf("body %s: want Anchore's {message, httpcode: 401, detail}", r.body)
	}
}

// TestEngineSeedFlow is the example: the password grant of the
// anonymous client, then GET /v1/account with the token.
func TestEngineSeedFlow(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	raw := e.issued(t, e.postEngine(t, engineForm("alice", passwords["alice"])))
	c := e.verifyEngine(t, raw, "alice")
	if c.Identity.Role != "" {
		t.Errorf("role = %q for a password login", c.Identity.Role)
	}
	wantAccount(t, e.account(t, "/v1/account", bearer(raw)), "alice", "user")

	events := e.audit.Events()
	if len(events) != 1 || events[0].Kind != audit.TokenIssued || events[0].Subject != "alice" ||
		events[0].ClientID != "anonymous" || events[0].ClientIP == "" {
		t.Errorf("audit = %+v, want one token.issued for alice by client anonymous", events)
	}
}

func TestEngineConfiguredClient(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	form := engineForm("bob", passwords["bob"])
	form.Set("client_id", "anchorectl")
	e.verifyEngine(t, e.issued(t, e.postEngine(t, form)), "bob")
	if ev := e.audit.Events(); len(ev) != 1 || ev[0].ClientID != "anchorectl" {
		t.Errorf("audit = %+v, want client anchorectl", ev)
	}
}

// An empty body with Basic credentials is the password grant (Anchore's
// clients send it), with or without a form Content-Type.
func TestEngineEmptyBodyWithBasic(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	for _, ct := range []string{"", "application/x-www-form-urlencoded"} {
		t.Run("content-type "+ct, func(t *testing.T) {
			raw := e.issued(t, e.tokenRequest(t, ct, "", basic("admin")))
			e.verifyEngine(t, raw, "admin")
			wantAccount(t, e.account(t, "/v1/account", bearer(raw)), "admin", "admin")
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		wantOAuthError(t, e.tokenRequest(t, "", "", basicWith("admin", "nope")), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("basic with a form", func(t *testing.T) {
		r := e.tokenRequest(t, "application/x-www-form-urlencoded", engineForm("alice", passwords["alice"]).Encode(), basic("alice"))
		wantOAuthError(t, r, http.StatusBadRequest, "invalid_request")
	})
	t.Run("bearer", func(t *testing.T) {
		wantOAuthError(t, e.tokenRequest(t, "", "", header("Bearer x")), http.StatusBadRequest, "invalid_request")
	})
}

// API tokens work as the password, and the engine token keeps their role.
func TestEngineAPITokenAsPassword(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	write := e.create(t, "alice", "write", 0)
	for _, user := range []string{"token", "alice"} {
		raw := e.issued(t, e.postEngine(t, engineForm(user, write.Token)))
		if c := e.verifyEngine(t, raw, "alice"); c.Identity.Role != "write" {
			t.Errorf("role = %q, want write", c.Identity.Role)
		}
		wantAccount(t, e.account(t, "/v1/account", bearer(raw)), "alice", "user")
	}
	// The API token as Bearer and as the Basic password.
	wantAccount(t, e.account(t, "/v1/account", bearer(write.Token)), "alice", "user")
	wantAccount(t, e.account(t, "/v1/account", basicWith("token", write.Token)), "alice", "user")
	// Another user's name with the token is refused.
	wantOAuthError(t, e.postEngine(t, engineForm("bob", write.Token)), http.StatusBadRequest, "invalid_grant")

	// An admin's read token lists nothing; its admin token does, and so
	// does an engine token got with it.
	read := e.create(t, "admin", "read", 0)
	admin := e.create(t, "admin", "admin", 0)
	readEngine := e.issued(t, e.postEngine(t, engineForm("token", read.Token)))
	adminEngine := e.issued(t, e.postEngine(t, engineForm("token", admin.Token)))
	for name, tc := range map[string]struct {
		auth func(*http.Request)
		want int
	}{
		"read api token":                 {bearer(read.Token), http.StatusForbidden},
		"engine token of a read token":   {bearer(readEngine), http.StatusForbidden},
		"admin api token":                {bearer(admin.Token), http.StatusOK},
		"engine token of an admin token": {bearer(adminEngine), http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			if r := e.account(t, "/v1/accounts", tc.auth); r.status != tc.want {
				t.Errorf("status %d, body %s; want %d", r.status, r.body, tc.want)
			}
		})
	}
	// A revoked token cannot be exchanged.
	if r := e.revoke(t, "alice", write.HashPrefix); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantOAuthError(t, e.postEngine(t, engineForm("token", write.Token)), http.StatusBadRequest, "invalid_grant")
	wantUnauthorized(t, e.account(t, "/v1/account", bearer(write.Token)), true)
}

func TestEngineTokenErrors(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	form := func(mutate func(url.Values)) string {
		f := engineForm("alice", passwords["alice"])
		mutate(f)
		return f.Encode()
	}
	const formType = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"wrong password", formType, form(func(f url.Values) { f.Set("password", "wrong") }), 400, "invalid_grant"},
		{"unknown user", formType, form(func(f url.Values) { f.Set("username", "mallory") }), 400, "invalid_grant"},
		{"json body", "application/json", `{"grant_type":"password","client_id":"anonymous","username":"alice","password":"x"}`, 400, "invalid_request"},
		{"unknown client", formType, form(func(f url.Values) { f.Set("client_id", "docker") }), 401, "invalid_client"},
		{"no client", formType, form(func(f url.Values) { f.Del("client_id") }), 400, "invalid_request"},
		{"no password", formType, form(func(f url.Values) { f.Del("password") }), 400, "invalid_request"},
		{"client credentials", formType, form(func(f url.Values) { f.Set("grant_type", "client_credentials") }), 401, "invalid_client"}, // registered clients are on: it needs client credentials
		{"refresh grant without refresh_token", formType, form(func(f url.Values) { f.Set("grant_type", "refresh_token") }), 400, "invalid_request"},
		{"no grant type", formType, form(func(f url.Values) { f.Del("grant_type") }), 400, "unsupported_grant_type"},
		{"form without content type", "", form(func(url.Values) {}), 400, "invalid_request"},
		{"oversized", formType, "a=" + strings.Repeat("x", 70<<10), 413, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.tokenRequest(t, tt.contentType, tt.body, nil)
			wantOAuthError(t, r, tt.status, tt.code)
			if tt.code == "invalid_client" && r.header.Get("WWW-Authenticate") == "" {
				t.Error("invalid_client without WWW-Authenticate")
			}
		})
	}
	for _, ev := range e.audit.Events() {
		if ev.Kind == audit.TokenIssued {
			t.Errorf("a token was issued: %+v", ev)
		}
		if ev.Kind == audit.TokenDenied && strings.Contains(ev.Detail, "invalid username or password") {
			t.Errorf("a wrong password made a row of its own: %+v", ev)
		}
	}
	// Wrong credentials are counted per address and minute instead.
	var tried []string
	for _, ev := range e.audit.FailedLogins() {
		if ev.ClientIP == "" {
			t.Errorf("failed login without the client address: %+v", ev)
		}
		tried = append(tried, ev.Subject)
	}
	if !slices.Equal(tried, []string{"alice", "mallory"}) {
		t.Errorf("failed logins under %q, want the wrong password's and the unknown user's", tried)
	}
}

// A scope asked for is not granted (none are defined yet) and the answer
// says so (RFC 6749 §3.3).
func TestEngineScopeIgnored(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	f := engineForm("alice", passwords["alice"])
	f.Set("scope", "policy:read")
	r := e.postEngine(t, f)
	var body engineResponse
	decodeStrict(t, r.body, &body)
	e.remember(body.AccessToken)
	if r.status != http.StatusOK || body.Scope == nil || *body.Scope != "" {
		t.Errorf("status %d, body %s; want 200 with scope \"\"", r.status, r.body)
	}
	e.verifyEngine(t, body.AccessToken, "alice")
}

func TestEngineAccountRefusals(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	ours := e.engineKey
	other, err := keys.Generate(keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	mint := func(key *keys.Key, iss string, now time.Time) string {
		tok, err := (&engine.Tokens{Issuer: iss, Audience: engineAudience, TTL: engineTTL, Key: key, Now: func() time.Time { return now }}).
			Mint(authn.Identity{Name: "alice", AccountID: e.accountID(t, "alice")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.remember(tok.Raw)
		return tok.Raw
	}
	// A registry token of the same server is not an engine token.
	reg := e.get(t, "service="+service, basic("alice"))
	var regBody getResponse
	decodeStrict(t, reg.body, &regBody)
	e.remember(regBody.Token)

	for name, auth := range map[string]func(*http.Request){
		"expired":              bearer(mint(ours, engineIssuer, time.Now().Add(-2*engineTTL))),
		"another HS256 secret": bearer(mint(other, engineIssuer, time.Now())),
		"another issuer":       bearer(mint(ours, "someone", time.Now())),
		"registry token":       bearer(regBody.Token),
		"garbage":              bearer("abc.def.ghi"),
		"unknown api token":    bearer("tg_" + strings.Repeat("0", 49)),
		"empty bearer":         header("Bearer "),
	} {
		t.Run(name, func(t *testing.T) {
			r := e.account(t, "/v1/account", auth)
			wantUnauthorized(t, r, true)
		})
	}
	for name, auth := range map[string]func(*http.Request){
		"none":           nil,
		"wrong password": basicWith("alice", "wrong"),
		"other scheme":   header("Digest x"),
	} {
		t.Run(name, func(t *testing.T) {
			wantUnauthorized(t, e.account(t, "/v1/account", auth), false)
		})
	}
	// The Bearer challenge reaches the client as RFC 6750 says.
	r := e.account(t, "/v1/account", bearer(mint(ours, engineIssuer, time.Now().Add(-2*engineTTL))))
	if !strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), "\n"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", r.header.Values("WWW-Authenticate"))
	}
	// Basic keeps working.
	wantAccount(t, e.account(t, "/v1/account", basic("bob")), "bob", "user")
}

func TestEngineAccountsAdminOnly(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	adminToken := e.issued(t, e.postEngine(t, engineForm("admin", passwords["admin"])))
	aliceToken := e.issued(t, e.postEngine(t, engineForm("alice", passwords["alice"])))
	for name, auth := range map[string]func(*http.Request){"basic": basic("admin"), "bearer": bearer(adminToken)} {
		t.Run("admin "+name, func(t *testing.T) {
			r := e.account(t, "/v1/accounts", auth)
			if r.status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			var got []map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			var names, types []string
			for _, a := range got {
				names = append(names, a["name"].(string))
				types = append(types, a["type"].(string))
				if a["email"] != nil || a["created_at"] == nil || a["last_updated"] == nil || a["state"] != "enabled" {
					t.Errorf("account %v: want no email, times, state enabled", a)
				}
			}
			if !slices.Equal(names, []string{"admin", "alice", "bob"}) || !slices.Equal(types, []string{"admin", "user", "user"}) {
				t.Errorf("accounts %v %v, want admin alice bob as admin user user", names, types)
			}
		})
	}
	for name, auth := range map[string]func(*http.Request){"basic": basic("alice"), "bearer": bearer(aliceToken)} {
		t.Run("user "+name, func(t *testing.T) {
			r := e.account(t, "/v1/accounts", auth)
			var body map[string]any
			if err := json.Unmarshal(r.body, &body); err != nil || r.status != http.StatusForbidden || body["httpcode"] != float64(403) {
				t.Errorf("status %d, body %s; want 403", r.status, r.body)
			}
		})
	}
	wantUnauthorized(t, e.account(t, "/v1/accounts", nil), false)
}

// In keys mode the tokens are signed with the registry signing key and
// verify with its public key.
func TestEngineKeysMode(t *testing.T) {
	e := newEngineEnv(t, engineOptions{keysMode: true})
	raw := e.issued(t, e.postEngine(t, engineForm("alice", passwords["alice"])))
	e.verifyEngine(t, raw, "alice") // with e.key (ES256)
	if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return e.key.Public(), nil },
		jwt.WithValidMethods([]string{"ES256"})); err != nil {
		t.Errorf("does not verify with the signing key's public key: %v", err)
	}
	wantAccount(t, e.account(t, "/v1/account", bearer(raw)), "alice", "user")
}

func TestEngineFailedLoginsAreLimited(t *testing.T) {
	e := newEngineEnv(t, engineOptions{limits: server.Limits{
		PerUser: ratelimit.Budget{PerMinute: 1, Burst: 1}, PerIP: ratelimit.Budget{PerMinute: 60, Burst: 60}, MaxTracked: 100,
	}})
	wantOAuthError(t, e.postEngine(t, engineForm("alice", "wrong")), http.StatusBadRequest, "invalid_grant")
	r := e.postEngine(t, engineForm("alice", passwords["alice"]))
	wantOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Basic at /v1/account spends the same budget.
	if r := e.account(t, "/v1/account", basic("alice")); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 429 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	// Other users are not affected.
	e.issued(t, e.postEngine(t, engineForm("bob", passwords["bob"])))
}

// The responses have exactly the fields openapi.json documents.
func TestEngineResponsesMatchOpenAPI(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	fieldsOf := func(schema string) []string {
		var out []string
		for k := range doc.Components.Schemas[schema].Properties {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	keysOf := func(body []byte) []string {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	e := newEngineEnv(t, engineOptions{})
	f := engineForm("alice", passwords["alice"])
	f.Set("scope", "x") // so the optional scope is there too
	tok := e.postEngine(t, f)
	var body engineResponse
	decodeStrict(t, tok.body, &body)
	e.remember(body.AccessToken)
	// issued_token_type answers the token exchange alone (RFC 8693).
	documented := slices.DeleteFunc(fieldsOf("EngineTokenResponse"), func(f string) bool { return f == "issued_token_type" })
	if got, want := keysOf(tok.body), documented; !slices.Equal(got, want) {
		t.Errorf("token response fields %v, documented %v", got, want)
	}
	if got, want := keysOf(e.account(t, "/v1/account", bearer(body.AccessToken)).body), fieldsOf("EngineAccount"); !slices.Equal(got, want) {
		t.Errorf("account fields %v, documented %v", got, want)
	}
	if got, want := keysOf(e.account(t, "/v1/account", nil).body), fieldsOf("EngineError"); !slices.Equal(got, want) {
		t.Errorf("error fields %v, documented %v", got, want)
	}
}

// Without Options.Engine the API is not served.
func TestEngineOffByDefault(t *testing.T) {
	e := newEnv(t)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+engineToken, strings.NewReader(engineForm("alice", passwords["alice"]).Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := e.do(t, req); r.status != http.StatusNotFound {
		t.Errorf("status %d, want 404", r.status)
	}
	e.get(t, "service="+service, nil) // the access log line the env's check wants
}
