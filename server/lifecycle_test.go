package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
)

// TestGetTokenAccountParameter: clients send account=<the login name>
// (the Docker CLI, regctl): with an API token that is "token" or the
// owner's name; anything else is refused. crane sends none.
func TestGetTokenAccountParameter(t *testing.T) {
	e := newTokenEnv(t)
	tok := e.create(t, "alice", "write", 0).Token
	e.remember(tok)
	scope := "repository:alice/app:push,pull"
	tests := []struct {
		name       string
		user       string
		secret     string
		account    string
		wantStatus int
	}{
		{"docker login -u token", "token", tok, "token", http.StatusOK},
		{"-u alice with her token", "alice", tok, "alice", http.StatusOK},
		{"-u token naming the owner", "token", tok, "alice", http.StatusOK},
		{"crane: no account", "token", tok, "", http.StatusOK},
		{"-u token naming someone else", "token", tok, "bob", http.StatusBadRequest},
		{"password, own name", "alice", passwords["alice"], "alice", http.StatusOK},
		{"password, another name", "alice", passwords["alice"], "bob", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"service": {service}, "scope": {scope}, "client_id": {"docker"}}
			if tt.account != "" {
				q.Set("account", tt.account)
			}
			r := e.get(t, q.Encode(), basicWith(tt.user, tt.secret))
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, body %s; want %d", r.status, r.body, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusOK {
				checkDockerError(t, r, tt.wantStatus, "INVALID_REQUEST", false)
				return
			}
			got := e.verify(t, e.checkGetOK(t, r).Token, "alice", service)
			checkAccess(t, got, []token.Access{repo("alice/app", "push", "pull")})
		})
	}
}

// TestGetTokenBearerAPIToken: an API token as Bearer is the Basic password
// of user "token": role cap, revocation and all. Anything else as Bearer
// (a JWT, garbage) is a 401 with the Basic challenge.
func TestGetTokenBearerAPIToken(t *testing.T) {
	e := newTokenEnv(t)
	read := e.create(t, "alice", "read", 0)
	e.remember(read.Token)
	q := url.Values{"service": {service}, "scope": {"repository:alice/app:push,pull"}, "account": {"token"}}.Encode()
	got := e.verify(t, e.checkGetOK(t, e.get(t, q, bearer(read.Token))).Token, "alice", service)
	checkAccess(t, got, []token.Access{repo("alice/app", "pull")}) // read: no push

	jwt := e.checkGetOK(t, e.get(t, "service="+service, basic("alice"))).Token
	for name, cred := range map[string]string{"a JWT": jwt, "garbage": "not-a-token", "empty": ""} {
		t.Run(name, func(t *testing.T) {
			r := e.get(t, q, header("Bearer "+cred))
			checkDockerError(t, r, http.StatusUnauthorized, "UNAUTHORIZED", false)
			if r.header.Get("WWW-Authenticate") != `Basic realm="`+issuer+`"` {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if r := e.revoke(t, "alice", read.HashPrefix); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	checkDockerError(t, e.get(t, q, bearer(read.Token)), http.StatusUnauthorized, "UNAUTHORIZED", false)
}

// TestDisabledUser: disabling refuses the password, the refresh tokens and
// the API tokens at once; enabling lets them work again.
func TestDisabledUser(t *testing.T) {
	e := newTokenEnv(t)
	ctx := context.Background()
	tok := e.create(t, "alice", "write", 0).Token
	e.remember(tok)
	rt := e.offlineToken(t, "alice", "docker", service)
	q := "service=" + service
	refreshGrant := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"crane"}, "service": {service}}
	if _, err := e.accounts.SetEnabled(ctx, "alice", false, "admin"); err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]func(*http.Request){"password": basic("alice"), "API token": basicWith("token", tok),
		"Bearer API token": bearer(tok)} {
		r := e.get(t, q, auth)
		checkDockerError(t, r, http.StatusUnauthorized, "UNAUTHORIZED", false)
		if !jsonContains(r.body, "account is disabled") {
			t.Errorf("%s: body %s, want it to say the account is disabled", name, r.body)
		}
	}
	checkOAuthError(t, e.post(t, refreshGrant), http.StatusBadRequest, "invalid_grant")
	checkDisabledGrant(t, e.post(t, passwordForm("alice", "docker", "")))
	if _, err := e.accounts.SetEnabled(ctx, "alice", true, "admin"); err != nil {
		t.Fatal(err)
	}
	e.checkGetOK(t, e.get(t, q, basic("alice")))
	e.checkGetOK(t, e.get(t, q, basicWith("token", tok)))
	e.checkGetOK(t, e.get(t, q, bearer(tok)))
	e.checkPostOK(t, e.post(t, refreshGrant))
}

// checkDisabledGrant checks the RFC 6749 answer to a grant of a disabled
// account: invalid_grant saying so, not "invalid username or password".
func checkDisabledGrant(t testing.TB, r response) {
	t.Helper()
	checkOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
	var body struct {
		Description string `json:"error_description"`
	}
	if json.Unmarshal(r.body, &body) != nil || body.Description != "account is disabled" {
		t.Errorf("error_description of %s, want \"account is disabled\"", r.body)
	}
}

// TestEngineDisabledUser: disabling refuses the Engine API's password
// grant, the account's refresh family and its access tokens; the family is
// kept, and works again once the account is enabled.
func TestEngineDisabledUser(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	ctx := context.Background()
	access, rt := e.passwordGrant(t, "alice", "anonymous")
	if _, err := e.accounts.SetEnabled(ctx, "alice", false, "admin"); err != nil {
		t.Fatal(err)
	}
	checkDisabledGrant(t, e.postEngine(t, refreshForm(rt, "anonymous")))
	checkDisabledGrant(t, e.postEngine(t, engineForm("alice", passwords["alice"])))
	if r := e.account(t, "/v1/account", bearer(access)); r.status != http.StatusUnauthorized {
		t.Errorf("/v1/account with a disabled account's engine token: %d %s, want 401", r.status, r.body)
	}
	if _, err := e.accounts.SetEnabled(ctx, "alice", true, "admin"); err != nil {
		t.Fatal(err)
	}
	e.engineTokens(t, e.postEngine(t, refreshForm(rt, "anonymous")))
	if r := e.account(t, "/v1/account", bearer(access)); r.status != http.StatusOK {
		t.Errorf("/v1/account once enabled again: %d %s, want 200", r.status, r.body)
	}
}

func jsonContains(body []byte, s string) bool {
	var v struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Errors) == 0 {
		return false
	}
	return v.Errors[0].Message == s
}

// TestPasswordChangeEndsRefreshTokens: a new password in the htpasswd file
// (by any means) ends the Docker identity tokens of the old one; API
// tokens survive it.
func TestPasswordChangeEndsRefreshTokens(t *testing.T) {
	e := newTokenEnv(t)
	tok := e.create(t, "alice", "read", 0).Token
	e.remember(tok)
	rt := e.offlineToken(t, "alice", "docker", service)
	passwords := map[string]string{"alice": "alice-new-password"}
	e.setPassword(t, "alice", passwords["alice"])
	refreshGrant := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"docker"}, "service": {service}}
	checkOAuthError(t, e.post(t, refreshGrant), http.StatusBadRequest, "invalid_grant")
	e.checkGetOK(t, e.get(t, "service="+service, basicWith("token", tok)))
	e.checkGetOK(t, e.get(t, "service="+service, basicWith("alice", passwords["alice"])))
}

// TestAdminRevokesAndDisables: POST /api/users/{name}/revoke-tokens,
// /disable and /enable, for administrators only.
func TestAdminRevokesAndDisables(t *testing.T) {
	e := newTokenEnv(t)
	tok := e.create(t, "alice", "write", 0).Token
	e.remember(tok)
	rt := e.offlineToken(t, "alice", "docker", service)
	adminRead := e.create(t, "admin", "read", 0).Token
	adminToken := e.create(t, "admin", "admin", 0).Token
	e.remember(adminRead)
	e.remember(adminToken)
	call := func(path, body string, auth func(*http.Request)) response {
		t.Helper()
		return e.api(t, "/api/users/"+path, body, auth)
	}
	for name, auth := range map[string]func(*http.Request){
		"a user": basic("bob"), "an admin's read token": bearer(adminRead), "the user herself": basic("alice"),
	} {
		if r := call("alice/revoke-tokens", "", auth); r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, body %s; want 403", name, r.status, r.body)
		}
	}
	checkDockerError(t, call("alice/revoke-tokens", "", nil), http.StatusUnauthorized, "UNAUTHORIZED", false)
	checkDockerError(t, call("alice/revoke-tokens", `{"kinds":["passwords"]}`, basic("admin")), http.StatusBadRequest, "INVALID_REQUEST", true)
	checkDockerError(t, call("nobody/disable", "", basic("admin")), http.StatusNotFound, "NOT_FOUND", false)

	r := call("alice/revoke-tokens", `{"kinds":["api"]}`, bearer(adminToken))
	if r.status != http.StatusOK || !json.Valid(r.body) {
		t.Fatalf("revoke api: %d %s", r.status, r.body)
	}
	var got struct {
		Revoked struct {
			RefreshTokens int `json:"refresh_tokens"`
			APITokens     int `json:"api_tokens"`
		} `json:"revoked"`
	}
	_ = json.Unmarshal(r.body, &got)
	if got.Revoked.APITokens != 1 || got.Revoked.RefreshTokens != 0 {
		t.Errorf("revoked %s, want alice's one API token only", r.body)
	}
	checkDockerError(t, e.get(t, "service="+service, basicWith("token", tok)), http.StatusUnauthorized, "UNAUTHORIZED", false)
	refreshGrant := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"docker"}, "service": {service}}
	e.checkPostOK(t, e.post(t, refreshGrant))
	if r := call("alice/revoke-tokens", "", basic("admin")); r.status != http.StatusOK {
		t.Fatalf("revoke all: %d %s", r.status, r.body)
	}
	checkOAuthError(t, e.post(t, refreshGrant), http.StatusBadRequest, "invalid_grant")

	if r := call("bob/disable", "", basic("admin")); r.status != http.StatusOK || !json.Valid(r.body) {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	checkDockerError(t, e.get(t, "service="+service, basic("bob")), http.StatusUnauthorized, "UNAUTHORIZED", false)
	if r := call("bob/enable", "", basic("admin")); r.status != http.StatusOK {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	e.checkGetOK(t, e.get(t, "service="+service, basic("bob")))
}

// TestAPITokenLimitAndPages: at most api_tokens.max_per_user live tokens
// (10 here), a clear 409; listings come in pages.
func TestAPITokenLimitAndPages(t *testing.T) {
	e := newTokenEnv(t)
	for range 10 {
		e.remember(e.create(t, "bob", "read", 0).Token)
	}
	r := e.api(t, "/api/tokens", jsonOf(t, creds("bob")), nil)
	checkDockerError(t, r, http.StatusConflict, "TOO_MANY_TOKENS", true)
	seen := map[string]bool{}
	after := ""
	for pages := 0; pages < 10; pages++ {
		body := creds("bob")
		body["limit"], body["after"] = 4, after
		r := e.api(t, "/api/tokens/list", jsonOf(t, body), nil)
		var page struct {
			Tokens []listItem `json:"tokens"`
			Next   string     `json:"next"`
		}
		decodeStrict(t, r.body, &page)
		if len(page.Tokens) > 4 {
			t.Fatalf("page of %d", len(page.Tokens))
		}
		for _, it := range page.Tokens {
			if seen[it.HashPrefix] {
				t.Fatalf("token %s listed twice", it.HashPrefix)
			}
			seen[it.HashPrefix] = true
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(seen) != 10 {
		t.Errorf("listed %d tokens over the pages, want 10", len(seen))
	}
	body := creds("bob")
	body["after"] = "!!not-a-cursor"
	checkDockerError(t, e.api(t, "/api/tokens/list", jsonOf(t, body), nil), http.StatusBadRequest, "INVALID_REQUEST", true)
	if !apitoken.ValidHashPrefix(func() string {
		for k := range seen {
			return k
		}
		return ""
	}()) {
		t.Error("listed hash prefixes are not hash prefixes")
	}
}

// TestResourceServerIntrospects: a registered client (a resource server)
// authenticates to introspection with its client credentials (RFC 7662
// §2.1) and sees the tokens it is sent; it may not revoke a user's token;
// the API token, once revoked by its owner, introspects inactive.
func TestResourceServerIntrospects(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	hash, err := bcrypt.GenerateFromPassword([]byte("rs-secret-0123456789"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateClient(context.Background(), store.Client{ID: "resource-server", SecretHash: string(hash),
		Audiences: []string{"x"}, Scopes: []string{"y"}}); err != nil {
		t.Fatal(err)
	}
	rs := basicWith("resource-server", "rs-secret-0123456789")
	tok := e.create(t, "alice", "read", 7)
	e.remember(tok.Token)
	got := e.introspect(t, tok.Token, rs)
	checkClaims(t, "API token", got, map[string]any{"active": true, "username": "alice", "role": "read",
		"sub": e.accountID(t, "alice"), "token_type": "api_token"})
	if got["exp"] == nil || got["iat"] == nil {
		t.Errorf("API token introspection %v: want exp and iat", got)
	}
	checkOAuthError(t, e.revokeToken(t, tok.Token, "", rs), http.StatusBadRequest, "unauthorized_client")
	checkOAuthError(t, e.tokenCall(t, "/oauth2/introspect", url.Values{"token": {tok.Token}},
		basicWith("resource-server", "wrong")), http.StatusUnauthorized, "invalid_client")
	if r := e.revokeToken(t, tok.Token, "", basic("alice")); r.status != http.StatusOK {
		t.Fatalf("alice revokes her token: %d %s", r.status, r.body)
	}
	if got := e.introspect(t, tok.Token, rs); got["active"] != false {
		t.Errorf("revoked API token: %v, want inactive", got)
	}
	checkDockerError(t, e.get(t, "service="+service, basicWith("token", tok.Token)), http.StatusUnauthorized, "UNAUTHORIZED", false)
}
