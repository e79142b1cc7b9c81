package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys/keystest"
	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/audit/audittest"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/token"
)

func clock(at time.Time) func() time.Time { return func() time.Time { return at } }

func TestMintClaims(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	whole := now.Truncate(time.Second)
	for _, alg := range []string{"HS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			k := keystest.Key(t, alg)
			toks := &engine.Tokens{Issuer: "anchore-engine", Audience: "anchore", TTL: time.Hour, Key: k, Now: clock(now)}
			tok, err := toks.Mint(authn.Identity{Name: "alice", AccountID: "6c1d2c1e-0000-4000-8000-000000000001"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.IssuedAt.Equal(whole) || !tok.ExpiresAt.Equal(whole.Add(time.Hour)) {
				t.Errorf("lifetime %v..%v", tok.IssuedAt, tok.ExpiresAt)
			}
			c := jwt.MapClaims{}
			_, err = jwt.ParseWithClaims(tok.Raw, c, func(*jwt.Token) (any, error) { return k.VerificationKey(), nil },
				jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(clock(now)))
			if err != nil {
				t.Fatalf("golang-jwt does not verify: %v", err)
			}
			for claim, want := range map[string]any{"iss": "anchore-engine", "sub": "6c1d2c1e-0000-4000-8000-000000000001",
				"username": "alice", "aud": "anchore", "scope": "",
				"iat": float64(whole.Unix()), "nbf": float64(whole.Unix()), "exp": float64(whole.Add(time.Hour).Unix())} {
				got := c[claim]
				if l, ok := got.([]any); ok && len(l) == 1 {
					got = l[0]
				}
				if got != want {
					t.Errorf("%s = %v, want %v", claim, c[claim], want)
				}
			}
			if jti, _ := c["jti"].(string); len(jti) != 22 {
				t.Errorf("jti = %v, want 128 bits base64url", c["jti"])
			}
			for _, absent := range []string{"role", "api_token"} {
				if _, ok := c[absent]; ok {
					t.Errorf("%s claim %v for a password identity", absent, c[absent])
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k := keystest.Key(t, "HS256")
	toks := &engine.Tokens{Issuer: "tollgate-engine", TTL: time.Hour, Key: k, Now: clock(now)}
	bob := authn.Identity{Kind: authn.KindAPIToken, Name: "bob", AccountID: "acct-bob", Role: "read", TokenID: "0123456789abcdef"}
	good, err := toks.Mint(bob, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := toks.Verify(good.Raw)
	bob.Source = engine.Source
	if err != nil || v.Identity != bob || !v.IssuedAt().Equal(now) {
		t.Fatalf("Verify = %+v, %v; want %+v issued at %v", v, err, bob, now)
	}
	if _, err := toks.Mint(authn.Identity{Name: "carol"}, nil); !errors.Is(err, engine.ErrNoAccount) {
		t.Errorf("Mint without an account: err = %v, want ErrNoAccount", err)
	}

	other := &engine.Tokens{Issuer: "tollgate-engine", TTL: time.Hour, Key: keystest.Key(t, "HS256"), Now: clock(now)}
	foreign, _ := other.Mint(bob, nil)
	otherIss := &engine.Tokens{Issuer: "someone-else", TTL: time.Hour, Key: k, Now: clock(now)}
	wrongIss, _ := otherIss.Mint(bob, nil)
	// A registry token signed with the same key and issuer: no scope claim.
	reg, err := (&token.Minter{Issuer: "tollgate-engine", TTL: time.Hour, Signer: k, Now: clock(now)}).Mint(token.Grant{Subject: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	withAud := &engine.Tokens{Issuer: "tollgate-engine", Audience: "anchore", TTL: time.Hour, Key: k, Now: clock(now)}

	for name, tc := range map[string]struct {
		v   *engine.Tokens
		raw string
	}{
		"expired":          {&engine.Tokens{Issuer: "tollgate-engine", Key: k, Now: clock(now.Add(2 * time.Hour))}, good.Raw},
		"not yet valid":    {&engine.Tokens{Issuer: "tollgate-engine", Key: k, Now: clock(now.Add(-time.Minute))}, good.Raw},
		"another secret":   {toks, foreign.Raw},
		"another issuer":   {toks, wrongIss.Raw},
		"registry token":   {toks, reg.Raw},
		"missing audience": {withAud, good.Raw},
		"garbage":          {toks, "not.a.jwt"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := tc.v.Verify(tc.raw); !errors.Is(err, engine.ErrInvalidToken) {
				t.Errorf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

// accountsFixture is an accounts.Service over SQLite with users admin
// (an administrator) and alice.
func accountsFixture(t *testing.T, users ...string) (*accounts.Service, *userSet) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &userSet{names: users}
	return &accounts.Service{Store: st, Users: u, Admins: []string{"admin"}}, u
}

// userSet is accounts.Users over a list of names, without epochs.
type userSet struct{ names []string }

func (u *userSet) Exists(_ context.Context, name string) (bool, error) {
	return slices.Contains(u.names, name), nil
}
func (u *userSet) Epoch(string) string { return "" }

// login is the identity a password login of name gets.
func login(t *testing.T, a *accounts.Service, name string) authn.Identity {
	t.Helper()
	id, err := a.Admit(context.Background(), authn.Identity{Name: name, Source: "htpasswd"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestServiceIssueAccountsAndAudit(t *testing.T) {
	ctx := context.Background()
	rec := &audittest.Recorder{}
	accts, users := accountsFixture(t, "admin", "alice")
	s := &engine.Service{
		Tokens:   &engine.Tokens{Issuer: "e", TTL: time.Minute, Key: keystest.Key(t, "HS256")},
		Clients:  []string{"anchorectl"},
		Accounts: accts,
		Listing:  accts.Store,
		Audit:    rec,
	}
	for id, want := range map[string]bool{"anonymous": true, "anchorectl": true, "docker": false, "": false} {
		if got := s.KnownClient(id); got != want {
			t.Errorf("KnownClient(%q) = %v, want %v", id, got, want)
		}
	}
	alice, admin := login(t, accts, "alice"), login(t, accts, "admin")
	core := s.Pipeline(nil, nil).Service
	res, err := core.Issue(ctx, grant.Request{GrantType: grant.TypePassword, Identity: alice, ClientID: "anonymous"})
	if err != nil {
		t.Fatal(err)
	}
	tok := res.Token
	if len(rec.Events()) != 1 || rec.Events()[0].Kind != audit.TokenIssued || rec.Events()[0].ClientID != "anonymous" || rec.Events()[0].Subject != "alice" {
		t.Errorf("audit = %+v, want one token.issued for alice by anonymous", rec.Events())
	}
	if id, err := s.Verify(ctx, tok.Raw); err != nil || id.Name != "alice" || id.AccountID != alice.AccountID {
		t.Errorf("Verify = %+v, %v", id, err)
	}
	if _, err := core.Issue(ctx, grant.Request{GrantType: grant.TypePassword}); err == nil {
		t.Error("Issue for the anonymous caller succeeded")
	}
	if got, err := s.Account(ctx, admin); err != nil || got.Type != store.AccountAdmin || got.State != store.AccountEnabled || got.ID != admin.AccountID {
		t.Errorf("Account(admin) = %+v, %v", got, err)
	}
	readOnly := admin
	readOnly.Role = "read"
	if got, _ := s.Account(ctx, readOnly); got.Type != store.AccountUser {
		t.Errorf("Account(admin through a read token).Type = %q, want user: never more than the credential", got.Type)
	}
	if got, _ := s.Account(ctx, alice); got.Type != store.AccountUser {
		t.Errorf("Account(alice).Type = %q", got.Type)
	}
	for _, tc := range []struct {
		id   authn.Identity
		want bool
	}{
		{admin, true},
		{authn.Identity{Name: "admin", Admin: true, Role: "admin"}, true},
		{readOnly, false},
		{alice, false},
	} {
		if got := s.MayList(tc.id); got != tc.want {
			t.Errorf("MayList(%+v) = %v, want %v", tc.id, got, tc.want)
		}
	}
	all, err := s.ListAccounts(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "admin" || all[0].Type != store.AccountAdmin || all[1].Name != "alice" {
		t.Errorf("ListAccounts = %+v, %v", all, err)
	}
	users.names = []string{"admin"} // alice removed
	if _, err := s.Verify(ctx, tok.Raw); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("Verify of a removed user's token = %v, want ErrBadCredentials", err)
	}
}

// TestVerifyFollowsTheAccount: an engine token is good only while its
// account is the one it was issued to, is enabled and had no
// revoke-tokens since, and the API token it came from is good.
func TestVerifyFollowsTheAccount(t *testing.T) {
	ctx := context.Background()
	accts, _ := accountsFixture(t, "alice")
	now := time.Now()
	checker := &tokenChecker{}
	s := &engine.Service{Tokens: &engine.Tokens{Issuer: "e", TTL: time.Hour, Key: keystest.Key(t, "HS256"), Now: func() time.Time { return now }},
		Accounts: accts, APITokens: checker}
	alice := login(t, accts, "alice")
	mint := func(id authn.Identity) string {
		tok, err := s.Tokens.Mint(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw
	}
	viaToken := alice
	viaToken.Role, viaToken.TokenID = "read", "0123456789abcdef"
	byPassword, byAPIToken := mint(alice), mint(viaToken)
	steps := []struct {
		name            string
		change          func()
		password, token error
	}{
		{"as issued", func() {}, nil, nil},
		{"its API token revoked", func() { checker.err = authn.ErrBadCredentials }, nil, authn.ErrBadCredentials},
		{"disabled", func() { mustDo(t)(accts.SetEnabled(ctx, "alice", false, "t")) }, authn.ErrDisabled, authn.ErrDisabled},
		{"enabled", func() { mustDo(t)(accts.SetEnabled(ctx, "alice", true, "t")); checker.err = nil }, nil, nil},
		{"revoke-tokens of kind engine", func() {
			accts.Now = func() time.Time { return now.Add(time.Second) }
			if _, err := accts.RevokeTokens(ctx, "alice", store.KindEngineRefresh, "t"); err != nil {
				t.Fatal(err)
			}
		}, authn.ErrBadCredentials, authn.ErrBadCredentials},
	}
	for _, st := range steps {
		st.change()
		if _, err := s.Verify(ctx, byPassword); !errors.Is(err, st.password) || (st.password == nil) != (err == nil) {
			t.Errorf("%s: password token: err = %v, want %v", st.name, err, st.password)
		}
		if _, err := s.Verify(ctx, byAPIToken); !errors.Is(err, st.token) || (st.token == nil) != (err == nil) {
			t.Errorf("%s: API-token token: err = %v, want %v", st.name, err, st.token)
		}
	}
	now = now.Add(2 * time.Second)
	if _, err := s.Verify(ctx, mint(alice)); err != nil {
		t.Errorf("a token issued after the revocation: %v", err)
	}
}

type tokenChecker struct{ err error }

func (c *tokenChecker) Check(context.Context, string) error { return c.err }

func mustDo(t *testing.T) func(store.Account, error) {
	return func(_ store.Account, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}
