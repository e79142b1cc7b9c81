package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
)

func genKey(t *testing.T, alg string) *keys.Key {
	t.Helper()
	k, err := keys.Generate(keys.Options{Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func clock(at time.Time) func() time.Time { return func() time.Time { return at } }

func TestMintClaims(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	whole := now.Truncate(time.Second)
	for _, alg := range []string{"HS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			k := genKey(t, alg)
			toks := &engine.Tokens{Issuer: "anchore-engine", Audience: "anchore", TTL: time.Hour, Key: k, Now: clock(now)}
			tok, err := toks.Mint(authn.Identity{Name: "alice"}, nil)
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
			for claim, want := range map[string]any{"iss": "anchore-engine", "sub": "alice", "aud": "anchore", "scope": "",
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
			if _, ok := c["role"]; ok {
				t.Errorf("role claim %v for a password identity", c["role"])
			}
		})
	}
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k := genKey(t, "HS256")
	toks := &engine.Tokens{Issuer: "tollgate-engine", TTL: time.Hour, Key: k, Now: clock(now)}
	good, err := toks.Mint(authn.Identity{Name: "bob", Role: "read"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := toks.Verify(good.Raw)
	if err != nil || id != (authn.Identity{Name: "bob", Source: engine.Source, Role: "read"}) {
		t.Fatalf("Verify = %+v, %v; want bob with role read", id, err)
	}

	other := &engine.Tokens{Issuer: "tollgate-engine", TTL: time.Hour, Key: genKey(t, "HS256"), Now: clock(now)}
	foreign, _ := other.Mint(authn.Identity{Name: "bob"}, nil)
	otherIss := &engine.Tokens{Issuer: "someone-else", TTL: time.Hour, Key: k, Now: clock(now)}
	wrongIss, _ := otherIss.Mint(authn.Identity{Name: "bob"}, nil)
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

type recorder struct{ events []store.AuditEvent }

func (r *recorder) Record(ev store.AuditEvent) { r.events = append(r.events, ev) }

type dir struct{ users []string }

func (d dir) Exists(_ context.Context, name string) (bool, error) {
	return slices.Contains(d.users, name), nil
}
func (d dir) Users() []string { return d.users }

func TestServiceIssueAccountsAndAudit(t *testing.T) {
	rec := &recorder{}
	s := &engine.Service{
		Tokens:  &engine.Tokens{Issuer: "e", TTL: time.Minute, Key: genKey(t, "HS256")},
		Clients: []string{"anchorectl"},
		Admins:  []string{"admin"},
		Users:   dir{users: []string{"admin", "alice"}},
		Audit:   rec,
	}
	for id, want := range map[string]bool{"anonymous": true, "anchorectl": true, "docker": false, "": false} {
		if got := s.KnownClient(id); got != want {
			t.Errorf("KnownClient(%q) = %v, want %v", id, got, want)
		}
	}
	tok, err := s.Issue(engine.Request{Identity: authn.Identity{Name: "alice"}, ClientID: "anonymous"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 1 || rec.events[0].Kind != audit.TokenIssued || rec.events[0].ClientID != "anonymous" || rec.events[0].Subject != "alice" {
		t.Errorf("audit = %+v, want one token.issued for alice by anonymous", rec.events)
	}
	if id, err := s.Verify(context.Background(), tok.Raw); err != nil || id.Name != "alice" {
		t.Errorf("Verify = %+v, %v", id, err)
	}
	s.Users = dir{users: []string{"admin"}} // alice removed
	if _, err := s.Verify(context.Background(), tok.Raw); !errors.Is(err, engine.ErrInvalidToken) {
		t.Errorf("Verify of a removed user's token = %v, want ErrInvalidToken", err)
	}
	if _, err := s.Issue(engine.Request{}); err == nil {
		t.Error("Issue for the anonymous caller succeeded")
	}
	if got := s.Account("admin"); got != (engine.Account{Name: "admin", Type: engine.TypeAdmin, State: engine.StateEnabled}) {
		t.Errorf("Account(admin) = %+v", got)
	}
	if got := s.Account("alice").Type; got != engine.TypeUser {
		t.Errorf("Account(alice).Type = %q", got)
	}
	for _, tc := range []struct {
		id   authn.Identity
		want bool
	}{
		{authn.Identity{Name: "admin"}, true},
		{authn.Identity{Name: "admin", Role: "admin"}, true},
		{authn.Identity{Name: "admin", Role: "read"}, false},
		{authn.Identity{Name: "alice"}, false},
	} {
		if got := s.MayList(tc.id); got != tc.want {
			t.Errorf("MayList(%+v) = %v, want %v", tc.id, got, tc.want)
		}
	}
	all, err := s.Accounts()
	if err != nil || len(all) != 1 || all[0].Name != "admin" {
		t.Errorf("Accounts = %+v, %v", all, err)
	}
}
