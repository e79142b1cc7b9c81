package introspect_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/keys/keystest"
	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/introspect"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/token"
)

func lookup(k *keys.Key) introspect.KeyLookup {
	return func(kid string) (string, any, bool) {
		if kid != k.ID() {
			return "", nil, false
		}
		return k.Algorithm(), k.VerificationKey(), true
	}
}

func TestRegistryTokens(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	k := keystest.Key(t, "ES256")
	s := &introspect.Service{Registry: lookup(k), Issuer: "tollgate"}
	mint := func(m *token.Minter) string {
		t.Helper()
		sc, err := scope.Parse("repository:alice/app:pull,push")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := m.Mint(token.Grant{Subject: "alice", Audience: []string{"registry.local"}, Access: []scope.Scope{sc}})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw
	}
	good := mint(&token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: k})
	res, err := s.Introspect(ctx, authn.Identity{Name: "alice"}, good, "")
	if err != nil || !res.Active || res.Subject != "alice" || res.Scope == nil || *res.Scope != "repository:alice/app:pull,push" ||
		res.TokenType != introspect.TypeBearer || len(res.Audience) != 1 || res.Audience[0] != "registry.local" {
		t.Fatalf("Introspect = %+v (scope %v), %v", res, res.Scope, err)
	}
	for name, raw := range map[string]string{
		"another key":    mint(&token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: keystest.Key(t, "ES256")}),
		"another issuer": mint(&token.Minter{Issuer: "someone", TTL: time.Minute, Signer: k}),
		"expired":        mint(&token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: k, Now: func() time.Time { return now.Add(-time.Hour) }}),
	} {
		if res, err := s.Introspect(ctx, authn.Identity{Name: "admin", Admin: true}, raw, ""); err != nil || res.Active {
			t.Errorf("%s: Introspect = %+v, %v; want inactive", name, res, err)
		}
	}
	if res, _ := s.Introspect(ctx, authn.Identity{Name: "bob"}, good, ""); res.Active {
		t.Error("bob sees alice's token")
	}
	if res, _ := s.Introspect(ctx, authn.Identity{Name: "admin", Admin: true, Role: "read"}, good, ""); res.Active {
		t.Error("an admin's read API token sees alice's token")
	}
	if err := s.Revoke(ctx, authn.Identity{Name: "alice"}, good, introspect.HintAccessToken); !errors.Is(err, introspect.ErrUnsupportedTokenType) {
		t.Errorf("Revoke of an access token = %v, want ErrUnsupportedTokenType", err)
	}
	if err := s.Revoke(ctx, authn.Identity{Name: "alice"}, good, ""); err != nil {
		t.Errorf("Revoke without hint = %v, want nil", err)
	}
}

// credentials is a store with accounts alice and bob, alice's API token and
// Docker identity token, and the introspection service over them.
type credentials struct {
	st       *sqlite.Store
	s        *introspect.Service
	accounts *accounts.Service
	alice    authn.Identity // alice logged in with her password
	apiToken string
	refresh  string
}

func newCredentials(t *testing.T) credentials {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	accts := &accounts.Service{Store: st}
	alice, err := accts.Admit(ctx, authn.Identity{Name: "alice", Source: "htpasswd"})
	if err != nil {
		t.Fatal(err)
	}
	tokens := &apitoken.Tokens{Store: st}
	raw, _, err := tokens.Create(ctx, alice, "read", 10, "ci")
	if err != nil {
		t.Fatal(err)
	}
	docker := &refresh.Tokens{Store: st, TTL: time.Hour}
	issued, err := docker.Issue(ctx, alice, "docker", "registry.local")
	if err != nil {
		t.Fatal(err)
	}
	s := &introspect.Service{Docker: docker, APITokens: tokens, Accounts: accts, Issuer: "tollgate"}
	return credentials{st: st, s: s, accounts: accts, alice: alice, apiToken: raw, refresh: issued.Raw}
}

var (
	bobCaller   = authn.Identity{Name: "bob", Source: "htpasswd"}
	adminCaller = authn.Identity{Name: "root", Source: "htpasswd", Admin: true}
	client      = authn.Identity{Kind: authn.KindClient, Name: "registry-sidecar", Source: "client"}
)

// TestAPITokens: a live API token introspects active with its owner, role
// and expiry, for its owner, an admin and a registered client; revoking it
// (RFC 7009) works for its owner and admins, is refused to anyone else, and
// leaves it inactive.
func TestAPITokens(t *testing.T) {
	ctx := context.Background()
	c := newCredentials(t)
	for _, caller := range []authn.Identity{c.alice, adminCaller, client} {
		res, err := c.s.Introspect(ctx, caller, c.apiToken, "")
		if err != nil || !res.Active || res.Username != "alice" || res.Role != "read" || res.TokenType != introspect.TypeAPIToken ||
			res.ExpiresAt.Sub(res.IssuedAt) != 10*24*time.Hour || res.Subject == "" {
			t.Errorf("%s: Introspect = %+v, %v; want alice's live read token", caller.Name, res, err)
		}
	}
	if res, _ := c.s.Introspect(ctx, bobCaller, c.apiToken, ""); res.Active {
		t.Error("bob sees alice's API token")
	}
	for _, caller := range []authn.Identity{bobCaller, client, {Name: "root", Admin: true, Role: "read"}} {
		if err := c.s.Revoke(ctx, caller, c.apiToken, ""); !errors.Is(err, introspect.ErrNotYours) {
			t.Errorf("%+v revokes alice's token: err = %v, want ErrNotYours", caller, err)
		}
	}
	if res, _ := c.s.Introspect(ctx, c.alice, c.apiToken, ""); !res.Active {
		t.Fatal("a refused revocation revoked the token")
	}
	if err := c.s.Revoke(ctx, c.alice, c.apiToken, ""); err != nil {
		t.Fatalf("alice revokes her token: %v", err)
	}
	if res, err := c.s.Introspect(ctx, c.alice, c.apiToken, ""); err != nil || res.Active {
		t.Errorf("revoked token: Introspect = %+v, %v; want inactive", res, err)
	}
	if err := c.s.Revoke(ctx, bobCaller, c.apiToken, ""); !errors.Is(err, introspect.ErrNotYours) {
		t.Errorf("bob revokes a revoked token of alice: err = %v, want ErrNotYours", err)
	}
	if err := c.s.Revoke(ctx, bobCaller, apitoken.Generate(), ""); err != nil {
		t.Errorf("an unknown token: err = %v, want nil (RFC 7009 §2.2)", err)
	}
}

// TestRevokeByAdminAndAccountEnd: an admin revokes anyone's refresh token;
// the credentials of a removed account introspect inactive.
func TestRevokeByAdminAndAccountEnd(t *testing.T) {
	ctx := context.Background()
	c := newCredentials(t)
	if err := c.s.Revoke(ctx, bobCaller, c.refresh, ""); !errors.Is(err, introspect.ErrNotYours) {
		t.Errorf("bob revokes alice's refresh token: err = %v, want ErrNotYours", err)
	}
	if err := c.s.Revoke(ctx, adminCaller, c.refresh, ""); err != nil {
		t.Fatalf("admin revokes: %v", err)
	}
	if res, _ := c.s.Introspect(ctx, c.alice, c.refresh, ""); res.Active {
		t.Error("revoked refresh token active")
	}
	if res, _ := c.s.Introspect(ctx, c.alice, c.apiToken, ""); !res.Active {
		t.Fatal("API token inactive before the account ended")
	}
	if _, _, err := c.accounts.Remove(ctx, "alice", "test", "test"); err != nil {
		t.Fatal(err)
	}
	newAlice, err := c.accounts.Admit(ctx, authn.Identity{Name: "alice", Source: "htpasswd"}) // the name added again
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := c.s.Introspect(ctx, newAlice, c.apiToken, ""); res.Active {
		t.Error("the API token of a removed account is active for the new alice")
	}
	if err := c.s.Revoke(ctx, newAlice, c.apiToken, ""); !errors.Is(err, introspect.ErrNotYours) {
		t.Errorf("the new alice revokes the earlier alice's token: err = %v, want ErrNotYours", err)
	}
}

// TestRegistryTokenOfAnEarlierAccount: a registry token names its subject
// only by name, so one issued before the name's account was made (to a
// user since removed and added again) is inactive: adding a name again
// revives nothing. A token of the new account is active.
func TestRegistryTokenOfAnEarlierAccount(t *testing.T) {
	ctx := context.Background()
	c := newCredentials(t)
	k := keystest.Key(t, "ES256")
	c.s.Registry, c.s.Issuer = lookup(k), "tollgate"
	mint := func(at time.Time) string {
		t.Helper()
		m := &token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: k, Now: func() time.Time { return at }}
		tok, err := m.Mint(token.Grant{Subject: "alice", Audience: []string{"registry.local"}})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw
	}
	old := mint(time.Now())
	if res, err := c.s.Introspect(ctx, adminCaller, old, ""); err != nil || !res.Active {
		t.Fatalf("alice's registry token before her removal: %+v, %v; want active", res, err)
	}
	// alice is removed, and the name added again two seconds later (iat
	// has whole seconds).
	later := func() time.Time { return time.Now().Add(2 * time.Second) }
	c.accounts.Now, c.s.Now = later, later
	if _, _, err := c.accounts.Remove(ctx, "alice", "test", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.accounts.Ensure(ctx, "alice", "htpasswd"); err != nil {
		t.Fatal(err)
	}
	if res, err := c.s.Introspect(ctx, adminCaller, old, ""); err != nil || res.Active {
		t.Errorf("the old alice's registry token after the name was added again: %+v, %v; want inactive", res, err)
	}
	if res, err := c.s.Introspect(ctx, adminCaller, mint(later()), ""); err != nil || !res.Active {
		t.Errorf("the new alice's registry token: %+v, %v; want active", res, err)
	}
}

// TestEngineTokenWithoutUsername: an engine token signed before accounts
// (sub is the name, no username claim) verifies but names no account: it
// introspects inactive, never as an error. A current one is active.
func TestEngineTokenWithoutUsername(t *testing.T) {
	ctx := context.Background()
	c := newCredentials(t)
	k := keystest.Key(t, "ES256")
	tokens := &engine.Tokens{Issuer: "tollgate-engine", TTL: time.Hour, Key: k}
	c.s.Engine = &engine.Service{Tokens: tokens, Accounts: c.accounts}
	now := time.Now().Truncate(time.Second)
	empty := ""
	legacy, err := k.Sign(engine.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "tollgate-engine", Subject: "alice",
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))},
		Scope: &empty})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.s.Introspect(ctx, adminCaller, legacy, ""); err != nil || res.Active {
		t.Errorf("engine token without username: Introspect = %+v, %v; want inactive, no error", res, err)
	}
	cur, err := tokens.Mint(c.alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.s.Introspect(ctx, adminCaller, cur.Raw, ""); err != nil || !res.Active || res.Username != "alice" ||
		res.Subject != c.alice.AccountID {
		t.Errorf("current engine token: Introspect = %+v, %v; want alice's, active", res, err)
	}
}

// TestRegistryTokenMintedInTheSecondOfARevocation: iat has whole seconds,
// so a registry token minted right after a revoke-tokens, in the same
// second, says it was issued at the revocation's end (token.Grant's
// NotBefore, a second ahead): it is active at once; one minted before the
// revocation in that second is not.
func TestRegistryTokenMintedInTheSecondOfARevocation(t *testing.T) {
	ctx := context.Background()
	c := newCredentials(t)
	k := keystest.Key(t, "ES256")
	c.s.Registry = lookup(k)
	second := time.Now().Truncate(time.Second)
	c.accounts.Now = func() time.Time { return second.Add(100 * time.Millisecond) }
	c.s.Now = func() time.Time { return second.Add(300 * time.Millisecond) }
	mint := func(at time.Time, notBefore time.Time) string {
		t.Helper()
		m := &token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: k, Now: func() time.Time { return at }}
		tok, err := m.Mint(token.Grant{Subject: "alice", Audience: []string{"registry.local"}, NotBefore: notBefore})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw
	}
	before := mint(second.Add(50*time.Millisecond), time.Time{})
	if _, err := c.accounts.RevokeTokens(ctx, "alice", store.AllKinds, "admin"); err != nil {
		t.Fatal(err)
	}
	id, err := c.accounts.Admit(ctx, authn.Identity{Name: "alice", Source: "htpasswd"})
	if err != nil {
		t.Fatal(err)
	}
	after := mint(second.Add(200*time.Millisecond), id.NotBefore)
	if res, err := c.s.Introspect(ctx, adminCaller, after, ""); err != nil || !res.Active {
		t.Errorf("registry token minted after the revocation, same second: %+v, %v; want active", res, err)
	}
	if res, err := c.s.Introspect(ctx, adminCaller, before, ""); err != nil || res.Active {
		t.Errorf("registry token minted before the revocation, same second: %+v, %v; want inactive", res, err)
	}
}

// TestDisabledAccountTokensInactive: while an account is disabled, every
// kind of token it holds introspects inactive (and nothing is revoked:
// enabled again, they are active again).
func TestDisabledAccountTokensInactive(t *testing.T) {
	ctx := context.Background()
	c := newCredentials(t)
	k := keystest.Key(t, "ES256")
	c.s.Registry = lookup(k)
	engTokens := &engine.Tokens{Issuer: "tollgate-engine", TTL: time.Hour, Key: keystest.Key(t, "ES256")}
	c.s.Engine = &engine.Service{Tokens: engTokens, Accounts: c.accounts, Refresh: &refresh.Families{Store: c.st, TTL: time.Hour}}
	reg, err := (&token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: k}).Mint(token.Grant{Subject: "alice", Audience: []string{"registry.local"}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engTokens.Mint(c.alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	engRefresh, err := c.s.Engine.Refresh.Start(ctx, c.alice, "anonymous")
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"API token": c.apiToken, "Docker refresh token": c.refresh, "registry token": reg.Raw,
		"engine token": eng.Raw, "engine refresh token": engRefresh.Raw}
	check := func(want bool) {
		t.Helper()
		for kind, raw := range tokens {
			if res, err := c.s.Introspect(ctx, adminCaller, raw, ""); err != nil || res.Active != want {
				t.Errorf("%s: Introspect = %+v, %v; want active %v", kind, res, err, want)
			}
		}
	}
	check(true)
	if _, err := c.accounts.SetEnabled(ctx, "alice", false, "admin"); err != nil {
		t.Fatal(err)
	}
	check(false)
	if _, err := c.accounts.SetEnabled(ctx, "alice", true, "admin"); err != nil {
		t.Fatal(err)
	}
	check(true)
}
