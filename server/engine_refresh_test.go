package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/introspect"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/server"
)

// engineRefreshTTL is the refresh token families' lifetime in the tests.
const engineRefreshTTL = 24 * time.Hour

// introspection is the revocation and introspection service of an engine
// env, wired as cmd/tollgate wires it.
func introspection(e *tokenEnv, svc *grant.Service, eng *engine.Service) *introspect.Service {
	return &introspect.Service{
		Docker:    svc.Refresh,
		Engine:    eng,
		APITokens: e.tokens,
		Accounts:  e.accounts,
		Clients:   e.store,
		Issuer:    issuer,
		Registry: func(kid string) (string, any, bool) {
			if kid != e.key.ID() {
				return "", nil, false
			}
			return e.key.Algorithm(), e.key.VerificationKey(), true
		},
	}
}

// passwordGrant runs the password grant and returns the access and refresh tokens.
func (e *engineEnv) passwordGrant(t testing.TB, user, clientID string) (string, string) {
	t.Helper()
	f := engineForm(user, passwords[user])
	f.Set("client_id", clientID)
	return e.engineTokens(t, e.postEngine(t, f))
}

// engineTokens checks a 200 token response and returns both tokens.
func (e *engineEnv) engineTokens(t testing.TB, r response) (string, string) {
	t.Helper()
	access := e.issued(t, r)
	var body engineResponse
	decodeStrict(t, r.body, &body)
	e.remember(body.RefreshToken)
	if !strings.HasPrefix(body.RefreshToken, refresh.FamilyPrefix) || len(body.RefreshToken) != len(refresh.FamilyPrefix)+43 {
		t.Fatalf("refresh_token %.8q…: want tge_ and 256 bits base64url", body.RefreshToken)
	}
	return access, body.RefreshToken
}

func refreshForm(raw, clientID string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {raw}}
}

func TestEngineRefreshRotatesAndDetectsReuse(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	_, first := e.passwordGrant(t, "alice", "anonymous")

	access, second := e.engineTokens(t, e.postEngine(t, refreshForm(first, "anonymous")))
	if second == first {
		t.Fatal("the refresh token did not rotate")
	}
	e.verifyEngine(t, access, "alice")
	_, third := e.engineTokens(t, e.postEngine(t, refreshForm(second, "anonymous")))

	// first is used: presenting it again revokes the family, third included.
	checkOAuthError(t, e.postEngine(t, refreshForm(first, "anonymous")), http.StatusBadRequest, "invalid_grant")
	checkOAuthError(t, e.postEngine(t, refreshForm(third, "anonymous")), http.StatusBadRequest, "invalid_grant")

	// Another family of the same user is untouched.
	_, other := e.passwordGrant(t, "alice", "anonymous")
	e.engineTokens(t, e.postEngine(t, refreshForm(other, "anonymous")))
}

func TestEngineRefreshRefused(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	_, rt := e.passwordGrant(t, "alice", "anonymous")
	for name, f := range map[string]url.Values{
		"unknown":             refreshForm(refresh.FamilyPrefix+strings.Repeat("A", 43), "anonymous"),
		"docker token prefix": refreshForm("tgr_"+strings.Repeat("A", 43), "anonymous"),
		"another client":      refreshForm(rt, "anchorectl"),
	} {
		t.Run(name, func(t *testing.T) {
			checkOAuthError(t, e.postEngine(t, f), http.StatusBadRequest, "invalid_grant")
		})
	}
	checkOAuthError(t, e.postEngine(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"anonymous"}}),
		http.StatusBadRequest, "invalid_request")
	checkOAuthError(t, e.postEngine(t, refreshForm(rt, "nobody")), http.StatusUnauthorized, "invalid_client")
}

// An API token keeps its role in the engine token and gets no refresh
// token: one would outlive the API token's revocation.
func TestEngineRefreshNotForAPITokens(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	c := e.create(t, "alice", "read", 0)
	r := e.postEngine(t, engineForm("alice", c.Token))
	e.issued(t, r)
	var body engineResponse
	decodeStrict(t, r.body, &body)
	if body.RefreshToken != "" {
		t.Errorf("an API token got a refresh token")
	}
}

// Of 8 concurrent uses of one refresh token exactly one succeeds; the
// others are reuses and revoke the family, so the winner's token is dead too.
func TestEngineRefreshConcurrentUse(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	_, rt := e.passwordGrant(t, "alice", "anonymous")
	const workers = 8
	var (
		wg      sync.WaitGroup
		ok      atomic.Int32
		mu      sync.Mutex
		winners []string
	)
	start := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := e.postEngine(t, refreshForm(rt, "anonymous"))
			switch r.status {
			case http.StatusOK:
				ok.Add(1)
				var body engineResponse
				if err := json.Unmarshal(r.body, &body); err == nil {
					e.remember(body.AccessToken)
					e.remember(body.RefreshToken)
					mu.Lock()
					winners = append(winners, body.RefreshToken)
					mu.Unlock()
				}
			case http.StatusBadRequest:
			default:
				t.Errorf("status %d, body %s", r.status, r.body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 || len(winners) != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1", ok.Load(), workers)
	}
	checkOAuthError(t, e.postEngine(t, refreshForm(winners[0], "anonymous")), http.StatusBadRequest, "invalid_grant")
}

// A family ends engine.refresh_expiration after its password grant:
// rotating does not extend it.
func TestEngineRefreshExpires(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e := newEngineEnv(t, engineOptions{now: clock})
	_, rt := e.passwordGrant(t, "alice", "anonymous")
	now.Add(int64(engineRefreshTTL - time.Minute))
	_, rt = e.engineTokens(t, e.postEngine(t, refreshForm(rt, "anonymous")))
	now.Add(int64(time.Minute))
	checkOAuthError(t, e.postEngine(t, refreshForm(rt, "anonymous")), http.StatusBadRequest, "invalid_grant")
}

// setUsers rewrites the env's htpasswd file with the given users (their
// passwords unchanged) and reloads it, as the watcher would.
func (e *env) setUsers(t testing.TB, names ...string) {
	t.Helper()
	entries, err := htpasswd.Entries(e.htpath)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, name := range names {
		i := slices.IndexFunc(entries, func(en htpasswd.Entry) bool { return en.User == name })
		if i < 0 {
			h, err := bcrypt.GenerateFromPassword([]byte(passwords[name]), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(name + ":" + string(h) + "\n")
			continue
		}
		b.WriteString(name + ":" + entries[i].Hash + "\n")
	}
	if err := os.WriteFile(e.htpath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.users.Reload(); err != nil {
		t.Fatal(err)
	}
}

// setPassword gives name a new password in the env's htpasswd file and
// reloads it.
func (e *env) setPassword(t testing.TB, name, password string) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	err = htpasswd.Update(e.htpath, func(entries []htpasswd.Entry) ([]htpasswd.Entry, error) {
		for i := range entries {
			if entries[i].User == name {
				entries[i].Hash = string(h)
			}
		}
		return entries, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.users.Reload(); err != nil {
		t.Fatal(err)
	}
}

// A family dies with its user: once refused, it stays dead when a user of
// that name comes back, even with the same password hash (so that no
// password epoch tells the two apart: the account does).
func TestEngineRefreshUserRemoved(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	_, rt := e.passwordGrant(t, "alice", "anonymous")
	_, rt = e.engineTokens(t, e.postEngine(t, refreshForm(rt, "anonymous")))
	access, rt2 := e.passwordGrant(t, "alice", "anonymous")
	withAlice, err := os.ReadFile(e.htpath)
	if err != nil {
		t.Fatal(err)
	}
	e.setUsers(t, "admin", "bob")
	// What the server does when the file loses the name (accounts.Apply).
	if _, _, err := e.accounts.Remove(context.Background(), "alice", accounts.FileActor, "removed from the user file"); err != nil {
		t.Fatal(err)
	}
	checkOAuthError(t, e.postEngine(t, refreshForm(rt, "anonymous")), http.StatusBadRequest, "invalid_grant")
	if got := e.introspect(t, rt2, basic("admin")); got["active"] != false {
		t.Errorf("introspect a removed user's refresh token = %v, want inactive", got)
	}
	if got := e.introspect(t, access, basic("admin")); got["active"] != false {
		t.Errorf("introspect a removed user's access token = %v, want inactive", got)
	}
	if err := os.WriteFile(e.htpath, withAlice, 0o600); err != nil { // alice back, same hash
		t.Fatal(err)
	}
	if err := e.users.Reload(); err != nil {
		t.Fatal(err)
	}
	checkOAuthError(t, e.postEngine(t, refreshForm(rt, "anonymous")), http.StatusBadRequest, "invalid_grant")
	checkOAuthError(t, e.postEngine(t, refreshForm(rt2, "anonymous")), http.StatusBadRequest, "invalid_grant")
	e.passwordGrant(t, "alice", "anonymous") // the new alice logs in
}

// tokenCall POSTs a form to /oauth2/revoke or /oauth2/introspect.
func (e *engineEnv) tokenCall(t testing.TB, path string, form url.Values, auth func(*http.Request)) response {
	t.Helper()
	return e.postForm(t, path, form, auth)
}

// introspect checks a 200 introspection answer and returns it.
func (e *engineEnv) introspect(t testing.TB, tok string, auth func(*http.Request)) map[string]any {
	t.Helper()
	r := e.tokenCall(t, "/oauth2/introspect", url.Values{"token": {tok}}, auth)
	if r.status != http.StatusOK {
		t.Fatalf("introspect: status %d, body %s", r.status, r.body)
	}
	checkNoStore(t, r)
	var m map[string]any
	decodeStrict(t, r.body, &m)
	if m["active"] == false && len(m) != 1 {
		t.Errorf("inactive answer %s: want only active", r.body)
	}
	return m
}

func (e *engineEnv) revokeToken(t testing.TB, tok, hint string, auth func(*http.Request)) response {
	t.Helper()
	f := url.Values{"token": {tok}}
	if hint != "" {
		f.Set("token_type_hint", hint)
	}
	return e.tokenCall(t, "/oauth2/revoke", f, auth)
}

func checkClaims(t testing.TB, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		g := got[k]
		if l, ok := g.([]any); ok && len(l) == 1 {
			g = l[0]
		}
		if g != v {
			t.Errorf("%s: %s = %v, want %v (all: %v)", what, k, got[k], v, got)
		}
	}
	for _, k := range []string{"exp", "iat"} {
		if n, _ := got[k].(float64); n <= 0 {
			t.Errorf("%s: %s = %v, want seconds since the epoch", what, k, got[k])
		}
	}
}

func TestIntrospectLiveTokens(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	access, rt := e.passwordGrant(t, "alice", "anonymous")
	checkClaims(t, "engine access token", e.introspect(t, access, basic("alice")), map[string]any{
		"active": true, "sub": e.accountID(t, "alice"), "username": "alice", "iss": engineIssuer, "aud": engineAudience, "scope": "", "token_type": "Bearer"})
	checkClaims(t, "engine refresh token", e.introspect(t, rt, basic("alice")), map[string]any{
		"active": true, "sub": e.accountID(t, "alice"), "username": "alice", "iss": engineIssuer, "client_id": "anonymous", "token_type": "refresh_token"})

	reg := e.checkGetOK(t, e.get(t, "service=registry.local&scope=repository:alice/app:pull", basic("alice")))
	e.remember(reg.Token)
	checkClaims(t, "registry token", e.introspect(t, reg.Token, basic("alice")), map[string]any{
		"active": true, "sub": "alice", "iss": issuer, "aud": service, "scope": "repository:alice/app:pull", "token_type": "Bearer"})

	docker := e.offlineToken(t, "alice", "docker", service)
	e.remember(docker)
	checkClaims(t, "docker identity token", e.introspect(t, docker, basic("alice")), map[string]any{
		"active": true, "sub": e.accountID(t, "alice"), "username": "alice", "aud": service, "client_id": "docker", "token_type": "refresh_token"})

	// An API token authenticates the caller too.
	c := e.create(t, "alice", "read", 0)
	if got := e.introspect(t, access, basicWith("alice", c.Token)); got["active"] != true {
		t.Errorf("introspect with an API token = %v, want active", got)
	}
	// A used refresh token is inactive.
	e.engineTokens(t, e.postEngine(t, refreshForm(rt, "anonymous")))
	if got := e.introspect(t, rt, basic("alice")); got["active"] != false {
		t.Errorf("introspect a used refresh token = %v, want inactive", got)
	}
}

func TestIntrospectInactive(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	access, rt := e.passwordGrant(t, "alice", "anonymous")
	other := &engine.Tokens{Issuer: engineIssuer, Audience: engineAudience, TTL: time.Hour, Key: e.key}
	foreign, err := other.Mint(authn.Identity{Name: "alice", AccountID: e.accountID(t, "alice")}, nil) // signed with the wrong key
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		tok  string
		auth func(*http.Request)
	}{
		"garbage":                      {"not-a-token", basic("alice")},
		"unknown refresh token":        {refresh.FamilyPrefix + strings.Repeat("A", 43), basic("alice")},
		"engine token, another key":    {foreign.Raw, basic("alice")},
		"another user's access token":  {access, basic("bob")},
		"another user's refresh token": {rt, basic("bob")},
		"admin API token of read role": {access, func(r *http.Request) { r.SetBasicAuth("admin", e.create(t, "admin", "read", 0).Token) }},
	} {
		t.Run(name, func(t *testing.T) {
			if got := e.introspect(t, tc.tok, tc.auth); got["active"] != false {
				t.Errorf("got %v, want {\"active\": false}", got)
			}
		})
	}
	// An admin sees everyone's tokens.
	if got := e.introspect(t, access, basic("admin")); got["active"] != true || got["username"] != "alice" {
		t.Errorf("admin introspecting alice's token = %v, want active", got)
	}
}

func TestIntrospectAndRevokeNeedAuthentication(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	_, rt := e.passwordGrant(t, "alice", "anonymous")
	for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
		for name, auth := range map[string]func(*http.Request){
			"none":           nil,
			"wrong password": basicWith("alice", "wrong"),
			"bearer":         bearer(rt),
		} {
			t.Run(path+" "+name, func(t *testing.T) {
				r := e.tokenCall(t, path, url.Values{"token": {rt}}, auth)
				checkOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("WWW-Authenticate = %q, want a Basic challenge", r.header.Get("WWW-Authenticate"))
				}
			})
		}
		checkOAuthError(t, e.tokenCall(t, path, url.Values{}, basic("alice")), http.StatusBadRequest, "invalid_request")
	}
	if got := e.introspect(t, rt, basic("alice")); got["active"] != true {
		t.Errorf("the refresh token was touched by refused calls: %v", got)
	}
}

func TestRevoke(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	access, rt := e.passwordGrant(t, "alice", "anonymous")
	_, newest := e.engineTokens(t, e.postEngine(t, refreshForm(rt, "anonymous")))
	docker := e.offlineToken(t, "alice", "docker", service)
	e.remember(docker)

	// bob cannot revoke alice's tokens: refused (RFC 7009 §2.1, §2.2.1
	// unauthorized_client), nothing revoked.
	for _, tok := range []string{newest, docker} {
		checkOAuthError(t, e.revokeToken(t, tok, "refresh_token", basic("bob")), http.StatusBadRequest, "unauthorized_client")
		if got := e.introspect(t, tok, basic("alice")); got["active"] != true {
			t.Fatalf("another user revoked alice's token: %v", got)
		}
	}
	// Revoking the used first token revokes the family, newest included.
	if r := e.revokeToken(t, rt, "", basic("alice")); r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("revoke: status %d, body %s; want 200 no-store", r.status, r.body)
	}
	if got := e.introspect(t, newest, basic("alice")); got["active"] != false {
		t.Errorf("introspect after revoke = %v, want inactive", got)
	}
	checkOAuthError(t, e.postEngine(t, refreshForm(newest, "anonymous")), http.StatusBadRequest, "invalid_grant")

	// A Docker identity token, by an admin.
	if r := e.revokeToken(t, docker, "refresh_token", basic("admin")); r.status != http.StatusOK {
		t.Fatalf("admin revoke: status %d", r.status)
	}
	if got := e.introspect(t, docker, basic("alice")); got["active"] != false {
		t.Errorf("docker token after revoke = %v, want inactive", got)
	}
	checkOAuthError(t, e.post(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {"docker"},
		"refresh_token": {docker}, "service": {service}}), http.StatusBadRequest, "invalid_grant")

	// Unknown tokens: 200 (RFC 7009 §2.2). Access tokens: they expire; named
	// so by the hint, unsupported_token_type (§2.2.1).
	if r := e.revokeToken(t, "whatever", "", basic("alice")); r.status != http.StatusOK {
		t.Errorf("revoke unknown: status %d, want 200", r.status)
	}
	if r := e.revokeToken(t, access, "", basic("alice")); r.status != http.StatusOK {
		t.Errorf("revoke access token without hint: status %d, want 200", r.status)
	}
	checkOAuthError(t, e.revokeToken(t, access, "access_token", basic("alice")), http.StatusBadRequest, "unsupported_token_type")
	if got := e.introspect(t, access, basic("alice")); got["active"] != true {
		t.Errorf("access token after revoke = %v: JWTs cannot be revoked, want still active", got)
	}
}

// The metadata names the revocation and introspection endpoints (RFC 8414 §2).
func TestMetadataNamesRevocationAndIntrospection(t *testing.T) {
	h := server.New(server.Options{Grant: &grant.Service{}, Authn: authn.Chain{}, Introspection: &introspect.Service{},
		Discovery: server.Discovery{Issuer: issuer, PublicURL: "https://auth.example", JWKS: func() []byte { return []byte(`{"keys":[]}`) }}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	if doc["revocation_endpoint"] != "https://auth.example/oauth2/revoke" || doc["introspection_endpoint"] != "https://auth.example/oauth2/introspect" {
		t.Errorf("metadata %v: want revocation_endpoint and introspection_endpoint", doc)
	}
}
