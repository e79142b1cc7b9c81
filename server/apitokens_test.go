package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/server"
)

// tokenEnv is an env whose server also serves /api/tokens and accepts API
// tokens at /oauth2/token, wired as cmd/tollgate wires it: the chain tries
// API tokens first, then the cached htpasswd users. admin is an admin
// user; admin tokens live at most 30 days.
type tokenEnv struct {
	*env
	tokens *apitoken.Tokens
}

func newTokenEnv(tb testing.TB) *tokenEnv {
	tb.Helper()
	e := newEnv(tb) // its store, users, key and log buffer; its log check at cleanup
	logger := debugLogger(e.logs)
	tokens := &apitoken.Tokens{
		Store:    e.store,
		Accounts: e.accounts,
		Limits:   apitoken.Limits{DefaultTTLDays: 30, MaxTTLDays: 365, MaxTTLDaysByRole: map[string]int{"admin": 30}, MaxPerUser: 10},
		Logger:   logger,
	}
	e.serve(tb, server.New(server.Options{
		Grant: e.grantService(exampleACL(tb)), Authn: e.accounts.Authenticator(authn.Chain{tokens, e.auth}), Logger: logger, Realm: issuer,
		APITokens: tokens, Passwords: e.accounts.Authenticator(e.auth), Accounts: e.accounts,
	}))
	return &tokenEnv{env: e, tokens: tokens}
}

// api POSTs a JSON body to an /api/tokens endpoint.
func (e *tokenEnv) api(t testing.TB, path, body string, auth func(*http.Request)) response {
	t.Helper()
	return e.request(t, http.MethodPost, path, "application/json", body, auth)
}

// jsonOf encodes v, failing the test on error.
func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// creds is the body of list and revoke with user's password.
func creds(user string) map[string]any {
	return map[string]any{"username": user, "password": passwords[user]}
}

type createResponse struct {
	Token         string `json:"token"`
	ExpiresInDays int    `json:"expires_in_days"`
	HashPrefix    string `json:"hash_prefix"`
	Role          string `json:"role"`
	Expires       string `json:"expires"`
}

// create mints a token for user through the API and checks the answer.
func (e *tokenEnv) create(t testing.TB, user, role string, ttlDays int) createResponse {
	t.Helper()
	body := creds(user)
	if role != "" {
		body["role"] = role
	}
	if ttlDays != 0 {
		body["ttl_days"] = ttlDays
	}
	r := e.api(t, "/api/tokens", jsonOf(t, body), nil)
	if r.status != http.StatusOK {
		t.Fatalf("create %s token for %s: status %d, body %s", role, user, r.status, r.body)
	}
	var c createResponse
	decodeStrict(t, r.body, &c)
	e.remember(c.Token)
	checkNoStore(t, r)
	if !strings.HasPrefix(c.Token, "tg_") || !apitoken.LooksLike(c.Token) {
		t.Errorf("token %.6s... is not a Tollgate API token", c.Token)
	}
	if want := sha256Hex(c.Token)[:16]; c.HashPrefix != want {
		t.Errorf("hash_prefix = %q, want %q", c.HashPrefix, want)
	}
	return c
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func bearer(tok string) func(*http.Request) { return header("Bearer " + tok) }

func TestAPITokenCreate(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		role     string
		ttlDays  int
		wantRole string
		wantDays int
	}{
		{name: "default role is read", user: "alice", wantRole: "read", wantDays: 30},
		{name: "write for a week", user: "alice", role: "write", ttlDays: 7, wantRole: "write", wantDays: 7},
		{name: "read at the maximum", user: "bob", role: "read", ttlDays: 365, wantRole: "read", wantDays: 365},
		{name: "admin by an admin", user: "admin", role: "admin", wantRole: "admin", wantDays: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			before := time.Now()
			c := e.create(t, tt.user, tt.role, tt.ttlDays)
			if c.Role != tt.wantRole || c.ExpiresInDays != tt.wantDays {
				t.Errorf("role %q, %d days; want %q, %d", c.Role, c.ExpiresInDays, tt.wantRole, tt.wantDays)
			}
			exp, err := time.Parse(time.RFC3339, c.Expires)
			if err != nil {
				t.Fatalf("expires %q: %v", c.Expires, err)
			}
			if want := before.Add(time.Duration(tt.wantDays) * 24 * time.Hour); exp.Sub(want).Abs() > time.Minute {
				t.Errorf("expires %v, want about %v", exp, want)
			}
		})
	}
}

func TestAPITokenCreateRefused(t *testing.T) {
	tests := []struct {
		name       string
		body       map[string]any
		auth       func(*http.Request)
		aliceToken string // "body": alice's read token goes in as the password; "bearer": as Bearer
		wantStatus int
		wantCode   string
		wantDetail bool
	}{
		{name: "admin role for a non-admin", body: map[string]any{"username": "alice", "password": passwords["alice"], "role": "admin"}, wantStatus: 403, wantCode: "DENIED"},
		{name: "ttl over the maximum", body: map[string]any{"username": "alice", "password": passwords["alice"], "ttl_days": 366}, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "ttl over the role maximum", body: map[string]any{"username": "admin", "password": passwords["admin"], "role": "admin", "ttl_days": 31}, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "negative ttl", body: map[string]any{"username": "alice", "password": passwords["alice"], "ttl_days": -1}, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "unknown role", body: map[string]any{"username": "alice", "password": passwords["alice"], "role": "owner"}, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "description too long", body: map[string]any{"username": "alice", "password": passwords["alice"], "description": strings.Repeat("d", 257)}, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "wrong password", body: map[string]any{"username": "alice", "password": passwords["bob"]}, wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "unknown user", body: map[string]any{"username": "mallory", "password": "mallory-Secret-000"}, wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "no password", body: map[string]any{"username": "alice"}, wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "no credentials", body: map[string]any{"role": "read"}, wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "an API token as the password", body: map[string]any{"username": "alice"}, aliceToken: "body", wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "an API token as the password, user token", body: map[string]any{"username": "token"}, aliceToken: "body", wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "an API token as Bearer", body: map[string]any{"role": "read"}, aliceToken: "bearer", wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "Basic credentials", body: map[string]any{"role": "read"}, auth: basic("alice"), wantStatus: 401, wantCode: "UNAUTHORIZED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			auth := tt.auth
			switch tt.aliceToken {
			case "body":
				tt.body["password"] = e.create(t, "alice", "write", 0).Token
			case "bearer":
				auth = bearer(e.create(t, "alice", "write", 0).Token)
			}
			r := e.api(t, "/api/tokens", jsonOf(t, tt.body), auth)
			checkDockerError(t, r, tt.wantStatus, tt.wantCode, tt.wantDetail)
			if strings.Contains(string(r.body), "tg_") {
				t.Errorf("a refused create answered %s", r.body)
			}
			list := e.listAll(t)
			if want := map[string]int{"body": 1, "bearer": 1}[tt.aliceToken]; len(list) != want {
				t.Errorf("%d tokens stored after a refused create, want %d", len(list), want)
			}
		})
	}
}

// listItem is one token in a list answer; Owner is a pointer to tell an
// absent key from an empty one.
type listItem struct {
	HashPrefix  string  `json:"hash_prefix"`
	Owner       *string `json:"owner"`
	Role        string  `json:"role"`
	Description string  `json:"description"`
	Created     string  `json:"created"`
	Expires     string  `json:"expires"`
	LastUsed    *string `json:"last_used"`
	Revoked     *string `json:"revoked"`
}

// list calls /api/tokens/list and decodes the answer strictly.
func (e *tokenEnv) list(t testing.TB, body string, auth func(*http.Request)) []listItem {
	t.Helper()
	r := e.api(t, "/api/tokens/list", body, auth)
	if r.status != http.StatusOK {
		t.Fatalf("list: status %d, body %s", r.status, r.body)
	}
	var l struct {
		Tokens []listItem `json:"tokens"`
	}
	decodeStrict(t, r.body, &l)
	if l.Tokens == nil {
		t.Fatalf("list body %s: tokens must be an array", r.body)
	}
	return l.Tokens
}

func (e *tokenEnv) listAll(t testing.TB) []listItem {
	t.Helper()
	return e.list(t, jsonOf(t, creds("admin")), nil)
}

// getWithToken asks GET /oauth2/token for scope with a token as the Basic
// password of user.
func (e *tokenEnv) getWithToken(t testing.TB, user, tok, scope string) response {
	t.Helper()
	q := url.Values{"service": {service}}
	if scope != "" {
		q.Set("scope", scope)
	}
	return e.get(t, q.Encode(), basicWith(user, tok))
}

// TestAPITokenUse: a token is a password at the token endpoint, capped by
// its role and by its owner's ACL.
func TestAPITokenUse(t *testing.T) {
	tests := []struct {
		name       string
		owner      string
		role       string
		username   string // "" means "token"
		scope      string
		wantAccess []token.Access
	}{
		{name: "write token pushes to the owner's repository", owner: "alice", role: "write",
			scope: "repository:alice/app:pull,push", wantAccess: []token.Access{repo("alice/app", "pull", "push")}},
		{name: "read token only pulls", owner: "alice", role: "read",
			scope: "repository:alice/app:pull,push", wantAccess: []token.Access{repo("alice/app", "pull")}},
		{name: "the owner's ACL still caps a write token", owner: "alice", role: "write",
			scope: "repository:bob/x:pull,push", wantAccess: nil},
		{name: "owner's name as the username", owner: "alice", role: "write", username: "alice",
			scope: "repository:alice/app:push", wantAccess: []token.Access{repo("alice/app", "push")}},
		{name: "write token cannot delete", owner: "admin", role: "write",
			scope: "repository:bob/x:delete,pull", wantAccess: []token.Access{repo("bob/x", "pull")}},
		{name: "write token gets no catalog", owner: "admin", role: "write",
			scope: "registry:catalog:*", wantAccess: nil},
		{name: "admin token gets everything its owner may", owner: "admin", role: "admin",
			scope:      "repository:bob/x:delete registry:catalog:*",
			wantAccess: []token.Access{repo("bob/x", "delete"), {Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			tok := e.create(t, tt.owner, tt.role, 0).Token
			user := tt.username
			if user == "" {
				user = "token"
			}
			g := e.checkGetOK(t, e.getWithToken(t, user, tok, tt.scope))
			checkAccess(t, e.verify(t, g.Token, tt.owner, service), tt.wantAccess)
		})
	}
}

func TestAPITokenUseRefused(t *testing.T) {
	tests := []struct {
		name     string
		username string
		token    func(e *tokenEnv, alice string) string
	}{
		{name: "another user's name", username: "bob"},
		{name: "empty username", username: ""},
		{name: "unknown token", username: "token", token: func(*tokenEnv, string) string { return apitoken.Generate() }},
		{name: "one-character typo", username: "token", token: func(_ *tokenEnv, tok string) string {
			c := byte('a')
			if tok[20] == 'a' {
				c = 'b'
			}
			return tok[:20] + string(c) + tok[21:]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			tok := e.create(t, "alice", "write", 0).Token
			if tt.token != nil {
				tok = tt.token(e, tok)
				e.remember(tok)
			}
			r := e.getWithToken(t, tt.username, tok, "repository:alice/app:pull")
			checkDockerError(t, r, http.StatusUnauthorized, "UNAUTHORIZED", false)
		})
	}
}

// TestAPITokenGetsNoRefreshToken: a refresh token would carry the owner's
// full rights and outlive the API token's revocation.
func TestAPITokenGetsNoRefreshToken(t *testing.T) {
	e := newTokenEnv(t)
	tok := e.create(t, "alice", "read", 0).Token
	q := url.Values{"service": {service}, "scope": {"repository:alice/app:pull"}, "offline_token": {"true"}, "client_id": {"docker"}}
	g := e.checkGetOK(t, e.get(t, q.Encode(), basicWith("token", tok)))
	if g.RefreshToken != "" {
		t.Error("GET with an API token and offline_token=true returned a refresh token")
	}
	form := url.Values{"grant_type": {"password"}, "username": {"token"}, "password": {tok}, "client_id": {"docker"},
		"service": {service}, "access_type": {"offline"}, "scope": {"repository:alice/app:pull,push"}}
	p := e.checkPostOK(t, e.post(t, form))
	if p.RefreshToken != "" {
		t.Error("password grant with an API token and access_type=offline returned a refresh token")
	}
	// The password itself still gets one.
	q.Set("offline_token", "true")
	if g := e.checkGetOK(t, e.get(t, q.Encode(), basic("alice"))); g.RefreshToken == "" {
		t.Error("alice's password no longer gets a refresh token")
	}
}

// TestAPITokenPasswordGrant: POST /oauth2/token with the token as the
// password keeps the role's cap.
func TestAPITokenPasswordGrant(t *testing.T) {
	tests := []struct {
		name      string
		role      string
		username  string
		wantScope string
	}{
		{name: "read token", role: "read", username: "token", wantScope: "repository:alice/app:pull"},
		{name: "write token as the owner", role: "write", username: "alice", wantScope: "repository:alice/app:pull,push"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			tok := e.create(t, "alice", tt.role, 0).Token
			form := url.Values{"grant_type": {"password"}, "username": {tt.username}, "password": {tok}, "client_id": {"docker"},
				"service": {service}, "scope": {"repository:alice/app:pull,push"}}
			p := e.checkPostOK(t, e.post(t, form))
			if p.Scope != tt.wantScope {
				t.Errorf("scope = %q, want %q", p.Scope, tt.wantScope)
			}
			e.verify(t, p.AccessToken, "alice", service)
		})
	}
	t.Run("wrong username", func(t *testing.T) {
		e := newTokenEnv(t)
		tok := e.create(t, "alice", "read", 0).Token
		form := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {tok}, "client_id": {"docker"}, "service": {service}}
		checkOAuthError(t, e.post(t, form), http.StatusBadRequest, "invalid_grant")
	})
}

func TestAPITokenList(t *testing.T) {
	e := newTokenEnv(t)
	a1 := e.create(t, "alice", "read", 0)
	b1 := e.create(t, "bob", "write", 7)
	a2 := e.create(t, "alice", "write", 0)

	// 1. Alice sees her two tokens, oldest first, without owner or secret.
	r := e.api(t, "/api/tokens/list", jsonOf(t, creds("alice")), nil)
	for _, tok := range []string{a1.Token, b1.Token, a2.Token} {
		if strings.Contains(string(r.body), tok) || strings.Contains(string(r.body), tok[3:20]) {
			t.Fatal("the list answer holds a token's secret")
		}
		if strings.Contains(string(r.body), sha256Hex(tok)) {
			t.Fatal("the list answer holds a whole hash")
		}
	}
	checkNoStore(t, r)
	got := e.list(t, jsonOf(t, creds("alice")), nil)
	if len(got) != 2 || got[0].HashPrefix != a1.HashPrefix || got[1].HashPrefix != a2.HashPrefix {
		t.Fatalf("alice's list = %+v, want %s then %s", got, a1.HashPrefix, a2.HashPrefix)
	}
	for _, it := range got {
		if it.Owner != nil {
			t.Errorf("a user's own list names the owner: %+v", it)
		}
		if it.LastUsed != nil || it.Revoked != nil {
			t.Errorf("unused, unrevoked token has last_used %v, revoked %v; want null", it.LastUsed, it.Revoked)
		}
		for _, ts := range []string{it.Created, it.Expires} {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				t.Errorf("time %q is not RFC 3339", ts)
			}
		}
	}
	if got[0].Role != "read" || got[1].Role != "write" {
		t.Errorf("roles %q, %q; want read, write", got[0].Role, got[1].Role)
	}

	// 2. An admin sees everyone's, with owners.
	all := e.listAll(t)
	if len(all) != 3 {
		t.Fatalf("admin's list has %d tokens, want 3", len(all))
	}
	owners := map[string]string{}
	for _, it := range all {
		if it.Owner == nil {
			t.Fatalf("admin's list item %+v has no owner", it)
		}
		owners[it.HashPrefix] = *it.Owner
	}
	if owners[a1.HashPrefix] != "alice" || owners[b1.HashPrefix] != "bob" || owners[a2.HashPrefix] != "alice" {
		t.Errorf("owners = %v", owners)
	}

	// 3. A use shows up as last_used after the batch is written.
	before := time.Now().Add(-time.Second)
	e.checkGetOK(t, e.getWithToken(t, "token", a1.Token, ""))
	if got := e.list(t, jsonOf(t, creds("alice")), nil); got[0].LastUsed != nil {
		t.Errorf("last_used = %v before the flush, want null (no write per request)", *got[0].LastUsed)
	}
	if err := e.tokens.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = e.list(t, jsonOf(t, creds("alice")), nil)
	if got[0].LastUsed == nil {
		t.Fatal("last_used is still null after the flush")
	}
	if used, err := time.Parse(time.RFC3339, *got[0].LastUsed); err != nil || used.Before(before.Truncate(time.Second)) || used.After(time.Now()) {
		t.Errorf("last_used = %q (%v), want about now", *got[0].LastUsed, err)
	}
}

func TestAPITokenListWithBearer(t *testing.T) {
	e := newTokenEnv(t)
	aliceRead := e.create(t, "alice", "read", 0)
	e.create(t, "bob", "write", 0)
	adminRead := e.create(t, "admin", "read", 0)
	adminAdmin := e.create(t, "admin", "admin", 0)

	tests := []struct {
		name      string
		tok       string
		body      string
		wantCount int
		wantOwner bool
	}{
		{name: "alice's read token lists her tokens", tok: aliceRead.Token, body: "", wantCount: 1},
		{name: "empty JSON object body", tok: aliceRead.Token, body: "{}", wantCount: 1},
		{name: "an admin's read token lists only the admin's", tok: adminRead.Token, wantCount: 2},
		{name: "an admin's admin token lists everyone's", tok: adminAdmin.Token, wantCount: 4, wantOwner: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.list(t, tt.body, bearer(tt.tok))
			if len(got) != tt.wantCount {
				t.Fatalf("%d tokens, want %d", len(got), tt.wantCount)
			}
			if hasOwner := got[0].Owner != nil; hasOwner != tt.wantOwner {
				t.Errorf("owner present = %v, want %v", hasOwner, tt.wantOwner)
			}
		})
	}
}

// revoke calls /api/tokens/revoke.
func (e *tokenEnv) revoke(t testing.TB, user, prefix string) response {
	t.Helper()
	body := creds(user)
	body["hash_prefix"] = prefix
	return e.api(t, "/api/tokens/revoke", jsonOf(t, body), nil)
}

func TestAPITokenRevoke(t *testing.T) {
	tests := []struct {
		name       string
		revoke     func(t *testing.T, e *tokenEnv, alice createResponse) response
		wantStatus int // 200: alice's token is revoked
		wantCode   string
	}{
		{name: "own token", wantStatus: 200, revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.revoke(t, "alice", a.HashPrefix)
		}},
		{name: "another user's token", wantStatus: 404, wantCode: "NOT_FOUND", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.revoke(t, "bob", a.HashPrefix)
		}},
		{name: "admin revokes anyone's", wantStatus: 200, revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.revoke(t, "admin", a.HashPrefix)
		}},
		{name: "unknown prefix", wantStatus: 404, wantCode: "NOT_FOUND", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.revoke(t, "alice", "0123456789abcdef")
		}},
		{name: "upper-case prefix", wantStatus: 400, wantCode: "INVALID_REQUEST", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.revoke(t, "alice", strings.ToUpper(a.HashPrefix))
		}},
		{name: "15 characters", wantStatus: 400, wantCode: "INVALID_REQUEST", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.revoke(t, "alice", a.HashPrefix[:15])
		}},
		{name: "whole hash", wantStatus: 400, wantCode: "INVALID_REQUEST", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.revoke(t, "alice", sha256Hex(a.Token))
		}},
		{name: "the token instead of its prefix", wantStatus: 400, wantCode: "INVALID_REQUEST", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			r := e.revoke(t, "alice", a.Token)
			if strings.Contains(string(r.body), a.Token) {
				t.Error("the answer echoes the token")
			}
			return r
		}},
		{name: "missing prefix", wantStatus: 400, wantCode: "INVALID_REQUEST", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.api(t, "/api/tokens/revoke", jsonOf(t, creds("alice")), nil)
		}},
		{name: "wrong password", wantStatus: 401, wantCode: "UNAUTHORIZED", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.api(t, "/api/tokens/revoke", jsonOf(t, map[string]any{"username": "alice", "password": "nope", "hash_prefix": a.HashPrefix}), nil)
		}},
		{name: "own token with Bearer", wantStatus: 200, revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			return e.api(t, "/api/tokens/revoke", jsonOf(t, map[string]any{"hash_prefix": a.HashPrefix}), bearer(a.Token))
		}},
		{name: "a token revokes its owner's other token", wantStatus: 200, revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			other := e.create(t, "alice", "read", 0)
			return e.api(t, "/api/tokens/revoke", jsonOf(t, map[string]any{"hash_prefix": a.HashPrefix}), bearer(other.Token))
		}},
		{name: "an admin's read token cannot revoke others'", wantStatus: 404, wantCode: "NOT_FOUND", revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			adminRead := e.create(t, "admin", "read", 0)
			return e.api(t, "/api/tokens/revoke", jsonOf(t, map[string]any{"hash_prefix": a.HashPrefix}), bearer(adminRead.Token))
		}},
		{name: "an admin's admin token revokes others'", wantStatus: 200, revoke: func(t *testing.T, e *tokenEnv, a createResponse) response {
			adminAdmin := e.create(t, "admin", "admin", 0)
			return e.api(t, "/api/tokens/revoke", jsonOf(t, map[string]any{"hash_prefix": a.HashPrefix}), bearer(adminAdmin.Token))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			alice := e.create(t, "alice", "write", 0)
			e.checkGetOK(t, e.getWithToken(t, "token", alice.Token, "repository:alice/app:pull"))

			r := tt.revoke(t, e, alice)
			after := e.getWithToken(t, "token", alice.Token, "repository:alice/app:pull")
			if tt.wantStatus != http.StatusOK {
				checkDockerError(t, r, tt.wantStatus, tt.wantCode, tt.wantStatus == http.StatusBadRequest)
				e.checkGetOK(t, after) // still works
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("revoke: status %d, body %s", r.status, r.body)
			}
			var it listItem
			decodeStrict(t, r.body, &it)
			if it.HashPrefix != alice.HashPrefix || it.Owner == nil || *it.Owner != "alice" || it.Revoked == nil {
				t.Errorf("revoke answered %s", r.body)
			}
			// The very next request is refused: no cache anywhere.
			checkDockerError(t, after, http.StatusUnauthorized, "UNAUTHORIZED", false)
			// Its owner's password still works.
			e.checkGetOK(t, e.get(t, "service="+service, basic("alice")))
			// The list shows it revoked.
			for _, item := range e.list(t, jsonOf(t, creds("alice")), nil) {
				if item.HashPrefix == alice.HashPrefix && item.Revoked == nil {
					t.Error("the list does not show the token revoked")
				}
			}
		})
	}
}

// TestAPITokenRevokedBearerRefused: a revoked token cannot manage tokens
// either.
func TestAPITokenRevokedBearerRefused(t *testing.T) {
	e := newTokenEnv(t)
	a := e.create(t, "alice", "write", 0)
	if r := e.revoke(t, "alice", a.HashPrefix); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	checkDockerError(t, e.api(t, "/api/tokens/list", "", bearer(a.Token)), http.StatusUnauthorized, "UNAUTHORIZED", false)
}

func TestAPITokenRequestErrors(t *testing.T) {
	good := `{"username":"alice","password":"` + passwords["alice"] + `"}`
	tests := []struct {
		name       string
		path       string
		body       string
		auth       func(*http.Request)
		wantStatus int
		wantCode   string
		wantDetail bool
	}{
		{name: "malformed JSON", path: "/api/tokens", body: `{"username":"alice",`, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "not JSON", path: "/api/tokens/list", body: `username=alice&password=x`, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "unknown field", path: "/api/tokens", body: `{"username":"alice","password":"x","scope":"all"}`, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "unknown field on list", path: "/api/tokens/list", body: `{"username":"alice","password":"x","all":true}`, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "wrong type", path: "/api/tokens", body: `{"username":"alice","password":"x","ttl_days":"30"}`, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "fractional ttl", path: "/api/tokens", body: `{"username":"alice","password":"x","ttl_days":1.5}`, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "two objects", path: "/api/tokens/list", body: good + good, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "an array", path: "/api/tokens/list", body: `[]`, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "empty body on create", path: "/api/tokens", body: ``, wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "empty body on list without Bearer", path: "/api/tokens/list", body: ``, wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "over 16 KiB", path: "/api/tokens", body: `{"username":"alice","password":"x","description":"` + strings.Repeat("a", 16<<10) + `"}`, wantStatus: 413, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "over 16 KiB of whitespace after the object", path: "/api/tokens/list", body: good + strings.Repeat(" ", 16<<10), wantStatus: 413, wantCode: "INVALID_REQUEST", wantDetail: true},
		{name: "wrong password", path: "/api/tokens/list", body: `{"username":"alice","password":"` + passwords["bob"] + `"}`, wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "Basic on list", path: "/api/tokens/list", body: ``, auth: basic("alice"), wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "Bearer that is no API token", path: "/api/tokens/list", body: ``, auth: bearer("eyJhbGciOiJFUzI1NiJ9.e30.sig"), wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "unknown Bearer token", path: "/api/tokens/list", body: ``, auth: bearer(apitoken.Generate()), wantStatus: 401, wantCode: "UNAUTHORIZED"},
		{name: "Bearer and body credentials", path: "/api/tokens/list", body: good, auth: bearer(apitoken.Generate()), wantStatus: 400, wantCode: "INVALID_REQUEST", wantDetail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			r := e.api(t, tt.path, tt.body, tt.auth)
			checkDockerError(t, r, tt.wantStatus, tt.wantCode, tt.wantDetail)
			if strings.Contains(string(r.body), passwords["alice"]) {
				t.Errorf("the answer %s echoes the password", r.body)
			}
		})
	}
}

func TestAPITokenRouting(t *testing.T) {
	e := newTokenEnv(t)
	for _, path := range []string{"/api/tokens", "/api/tokens/list", "/api/tokens/revoke"} {
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := e.do(t, req)
		checkDockerError(t, r, http.StatusMethodNotAllowed, "UNSUPPORTED", false)
		if got := r.header.Get("Allow"); got != "POST" {
			t.Errorf("GET %s: Allow = %q, want POST", path, got)
		}
	}
	// Without API tokens configured, the endpoints do not exist.
	plain := newEnv(t)
	req, err := http.NewRequest(http.MethodPost, plain.srv.URL+"/api/tokens", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	checkDockerError(t, plain.do(t, req), http.StatusNotFound, "NOT_FOUND", false)
}

// TestAPITokenLifecycleLogsNoSecret runs every flow, including internal
// errors, and searches the log for any token (env also checks every
// remembered secret at cleanup).
func TestAPITokenLifecycleLogsNoSecret(t *testing.T) {
	e := newTokenEnv(t)
	read := e.create(t, "alice", "read", 0)
	write := e.create(t, "alice", "write", 0)
	adm := e.create(t, "admin", "admin", 0)
	e.checkGetOK(t, e.getWithToken(t, "token", read.Token, "repository:alice/app:pull"))
	e.checkGetOK(t, e.getWithToken(t, "alice", write.Token, "repository:alice/app:push"))
	checkDockerError(t, e.getWithToken(t, "bob", write.Token, ""), http.StatusUnauthorized, "UNAUTHORIZED", false)
	e.checkPostOK(t, e.post(t, url.Values{"grant_type": {"password"}, "username": {"token"}, "password": {read.Token}, "client_id": {"docker"}, "service": {service}}))
	e.list(t, "", bearer(adm.Token))
	e.list(t, jsonOf(t, creds("alice")), nil)
	checkDockerError(t, e.api(t, "/api/tokens", jsonOf(t, map[string]any{"username": "alice", "password": read.Token}), nil),
		http.StatusUnauthorized, "UNAUTHORIZED", false)
	if r := e.revoke(t, "alice", read.HashPrefix); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	checkDockerError(t, e.getWithToken(t, "token", read.Token, ""), http.StatusUnauthorized, "UNAUTHORIZED", false)
	if err := e.tokens.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Internal errors: the store is gone.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.getWithToken(t, "token", write.Token, "repository:alice/app:pull")
	checkDockerError(t, r, http.StatusInternalServerError, "UNKNOWN", false)
	r = e.api(t, "/api/tokens", jsonOf(t, creds("alice")), nil)
	checkDockerError(t, r, http.StatusInternalServerError, "UNKNOWN", false)
	r = e.api(t, "/api/tokens/list", "", bearer(write.Token))
	checkDockerError(t, r, http.StatusInternalServerError, "UNKNOWN", false)
	for _, leak := range []string{"sql", "closed", "tg_"} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("500 body %s leaks %q", r.body, leak)
		}
	}

	logs := e.logs.String()
	if n := strings.Count(logs, `"msg":"internal error"`); n != 3 {
		t.Errorf("%d internal error log lines, want 3:\n%s", n, logs)
	}
	for _, tok := range []string{read.Token, write.Token, adm.Token} {
		if strings.Contains(logs, tok) || strings.Contains(logs, tok[3:46]) {
			t.Error("an API token is in the logs")
		}
		if strings.Contains(logs, sha256Hex(tok)) {
			t.Error("an API token's whole hash is in the logs")
		}
	}
	if strings.Contains(logs, "tg_") {
		t.Errorf("something that looks like an API token is in the logs:\n%s", logs)
	}
}

// BenchmarkGetTokenAPIToken is BenchmarkGetToken with an API token as the
// password: no credential cache, one SQLite read per request.
func BenchmarkGetTokenAPIToken(b *testing.B) {
	e := newTokenEnv(b)
	tok := e.create(b, "alice", "write", 0).Token
	benchGet(b, e.env, "service=registry.local&scope=repository:alice/app:push", basicWith("token", tok))
}
