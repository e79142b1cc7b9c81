package introspect_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/introspect"
	"github.com/tollgate/tollgate/pkg/scope"
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
	k := genKey(t, "ES256")
	s := &introspect.Service{Registry: lookup(k), Issuer: "tollgate", Admins: []string{"admin"}}
	mint := func(m *token.Minter) string {
		t.Helper()
		sc, err := scope.Parse("repository:alice/app:pull,push")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := m.Mint(token.Grant{Subject: "alice", Audience: "registry.local", Access: []scope.Scope{sc}})
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
		"another key":    mint(&token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: genKey(t, "ES256")}),
		"another issuer": mint(&token.Minter{Issuer: "someone", TTL: time.Minute, Signer: k}),
		"expired":        mint(&token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: k, Now: func() time.Time { return now.Add(-time.Hour) }}),
	} {
		if res, err := s.Introspect(ctx, authn.Identity{Name: "admin"}, raw, ""); err != nil || res.Active {
			t.Errorf("%s: Introspect = %+v, %v; want inactive", name, res, err)
		}
	}
	if res, _ := s.Introspect(ctx, authn.Identity{Name: "bob"}, good, ""); res.Active {
		t.Error("bob sees alice's token")
	}
	if res, _ := s.Introspect(ctx, authn.Identity{Name: "admin", Role: "read"}, good, ""); res.Active {
		t.Error("an admin's read API token sees alice's token")
	}
	if err := s.Revoke(ctx, authn.Identity{Name: "alice"}, good, introspect.HintAccessToken); !errors.Is(err, introspect.ErrUnsupportedTokenType) {
		t.Errorf("Revoke of an access token = %v, want ErrUnsupportedTokenType", err)
	}
	if err := s.Revoke(ctx, authn.Identity{Name: "alice"}, good, ""); err != nil {
		t.Errorf("Revoke without hint = %v, want nil", err)
	}
}
