package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/store"
)

// TestReviewDisableElsewhereStopsNewCredentials (found in review; making
// an API token reads the account from the store, never the cache): an
// operator answers a
// stolen password with `tollgate users disable alice` and `tollgate users
// revoke-tokens alice` (or the admin API on another replica): both act on
// the store through another accounts.Service than the server's. A password
// login the server made a moment before keeps alice's account in its cache
// for users.account_cache_ttl, and in that window the thief mints an API
// token with the password. The token outlives the whole response (disable,
// revoke-tokens, then enable once the password is reset), since API tokens
// survive a password change.
func TestReviewDisableElsewhereStopsNewCredentials(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	ctx := context.Background()
	// The CLI, or another replica, over the same store.
	elsewhere := &accounts.Service{Store: e.store, Users: e.users, Admins: []string{"admin"}}

	e.checkGetOK(t, e.get(t, "service="+service, basic("alice"))) // the thief, or alice, logs in
	if _, err := elsewhere.SetEnabled(ctx, "alice", false, "(cli)"); err != nil {
		t.Fatal(err)
	}
	if _, err := elsewhere.RevokeTokens(ctx, "alice", store.AllKinds, "(cli)"); err != nil {
		t.Fatal(err)
	}
	body := creds("alice")
	body["role"] = "write"
	r := e.api(t, "/api/tokens", jsonOf(t, body), nil)
	if r.status == http.StatusOK {
		t.Errorf("POST /api/tokens with the password of a disabled user: 200; want 401 (the account was disabled before)")
	}
	// Every other lasting credential the password could make is refused
	// the same way: a Docker identity token, an engine refresh family.
	if r := e.get(t, "service="+service+"&offline_token=true", basic("alice")); r.status == http.StatusOK {
		t.Errorf("GET offline_token=true with the password of a disabled user: 200 %s; want 401", r.body)
	}
	checkDisabledGrant(t, e.postEngine(t, engineForm("alice", passwords["alice"])))

	var created createResponse
	if r.status == http.StatusOK {
		decodeStrict(t, r.body, &created)
		e.remember(created.Token)
	}
	// The operator resets the password (API tokens survive that) and enables alice.
	if _, err := elsewhere.SetEnabled(ctx, "alice", true, "(cli)"); err != nil {
		t.Fatal(err)
	}
	if created.Token != "" {
		time.Sleep(1100 * time.Millisecond) // past users.account_cache_ttl
		if r := e.get(t, "service="+service, basicWith("token", created.Token)); r.status == http.StatusOK {
			t.Errorf("the API token minted after disable and revoke-tokens still works after enable")
		}
	}
}

// TestReviewIntrospectionClientNotLockedOut (found in review; fixed: a
// client's failures spend the address budget only): a resource server calls
// /oauth2/introspect with its registered client credentials. Registered
// clients are exempt from the per-name failure budget at /v1/oauth/token;
// at /oauth2/introspect and /oauth2/revoke a guesser failing under the
// client's ID from other addresses locks the resource server out.
func TestReviewIntrospectionClientNotLockedOut(t *testing.T) {
	const secret = serviceASecret
	e := newServiceAEnv(t)
	tok := e.create(t, "alice", "read", 0).Token
	form := url.Values{"token": {tok}}
	for range 2 { // the name budget's burst, all from one address
		r := e.tokenCall(t, "/oauth2/introspect", form, with(basicWith("service-a", "not-the-secret-0123456789"), from(addrB)))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("wrong secret from %s: status %d, body %s; want 401", addrB, r.status, r.body)
		}
	}
	r := e.tokenCall(t, "/oauth2/introspect", form, with(basicWith("service-a", secret), from(addrA)))
	if r.status != http.StatusOK {
		t.Errorf("the resource server, right secret, own address, after failures elsewhere: status %d, body %s; want 200",
			r.status, r.body)
	}
}

// TestReviewLoginRightAfterRevokeTokens (found in review; fixed: a token
// minted in that second is issued at TokensNotBefore): revoke-tokens refuses engine
// access tokens issued before the next whole second. A user (or a client
// retrying after its 401) who logs in again within that second gets an
// engine token that /v1/account refuses for its whole lifetime.
func TestReviewLoginRightAfterRevokeTokens(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	ctx := context.Background()
	for time.Now().Nanosecond() > 200*int(time.Millisecond) { // start early in a second
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := e.accounts.RevokeTokens(ctx, "alice", store.AllKinds, "admin"); err != nil {
		t.Fatal(err)
	}
	access, _ := e.passwordGrant(t, "alice", "anonymous") // issued after the revocation
	time.Sleep(1100 * time.Millisecond)
	if r := e.account(t, "/v1/account", bearer(access)); r.status != http.StatusOK {
		t.Errorf("an engine token issued after revoke-tokens: /v1/account %d %s; want 200", r.status, r.body)
	}
}

// TestReviewUsersAPIDeclaredOversizedBody (found in review; fixed): the
// admin users API was missing
// from bodyLimits, and revoke-tokens read its body before it checked any
// credential, so an anonymous caller declaring a large body holds the
// request until server.read_timeout instead of getting 413 at once.
func TestReviewUsersAPIDeclaredOversizedBody(t *testing.T) {
	e := newEngineEnv(t, engineOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/api/users/alice/revoke-tokens",
		stalledBody{strings.NewReader(`{"kinds":["api"`), ctx.Done()})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1 << 30
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no answer within 3 s to a declared 1 GiB body: %v; want 413 at once", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
}
