package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/keys/keystest"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/store"
)

// clientMap is a ClientStore over a map.
type clientMap map[string]store.Client

func (m clientMap) Client(_ context.Context, id string) (store.Client, error) {
	c, ok := m[id]
	if !ok {
		return store.Client{}, store.ErrNotFound
	}
	return c, nil
}

func TestClientsAuthenticateAndIssue(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	st := clientMap{
		"svc":    {ID: "svc", SecretHash: string(hash), Audiences: []string{"b", "c"}, Scopes: []string{"read", "write"}},
		"public": {ID: "public", Audiences: []string{"b"}, Scopes: []string{"read"}},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k := keystest.Key(t, "HS256")
	toks := &engine.Tokens{Issuer: "anchore-engine", TTL: time.Hour, Key: k, Now: clock(now)}
	clients := client.New(st, bcrypt.MinCost)
	eng := &engine.Service{Tokens: toks, Registered: clients}
	pipeline := eng.Pipeline(nil, nil)

	for _, tc := range []struct{ name, id, secret string }{
		{"unknown client", "nobody", "right-secret"},
		{"wrong secret", "svc", "wrong-secret"},
		{"empty secret", "svc", ""},
		{"client without a secret", "public", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pipeline.Token(context.Background(), grant.Request{GrantType: grant.TypeClientCredentials,
				ClientID: tc.id, ClientSecret: authn.Secret(tc.secret)})
			if !errors.Is(err, oautherrors.ErrInvalidClient) {
				t.Errorf("err = %v, want invalid_client", err)
			}
		})
	}

	for _, tc := range []struct {
		name, scope, audience string
		wantErr               error
		wantScopes, wantAud   []string
	}{
		{"everything", "", "", nil, []string{"read", "write"}, []string{"b", "c"}},
		{"subset", "write  write", "c", nil, []string{"write"}, []string{"c"}},
		{"scope not allowed", "read admin", "", oautherrors.ErrInvalidScope, nil, nil},
		{"audience not allowed", "", "d", grant.ErrInvalidTarget, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := pipeline.Token(context.Background(), grant.Request{GrantType: grant.TypeClientCredentials,
				ClientID: "svc", ClientSecret: "right-secret", Scope: strings.Fields(tc.scope), Service: tc.audience})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tok := res.Token
			var c engine.Claims
			if _, err := jwt.ParseWithClaims(tok.Raw, &c, func(*jwt.Token) (any, error) { return k.VerificationKey(), nil },
				jwt.WithTimeFunc(clock(now))); err != nil {
				t.Fatal(err)
			}
			if c.Subject != "svc" || c.ClientID != "svc" || c.GrantType != engine.GrantClientCredentials ||
				!slices.Equal([]string(c.Audience), tc.wantAud) || c.Scope == nil ||
				!slices.Equal(strings.Fields(*c.Scope), tc.wantScopes) || !slices.Equal(res.Scope, tc.wantScopes) {
				t.Errorf("claims %+v, granted %v", c, res.Scope)
			}
			if c.Identity == nil || c.Identity.Kind != authn.KindClient || c.Identity.ID != "svc" {
				t.Errorf("identity claim %+v, want a client's", c.Identity)
			}
			// An account's API must not take it for a user's token.
			if _, err := toks.Verify(tok.Raw); !errors.Is(err, engine.ErrInvalidToken) {
				t.Errorf("Tokens.Verify of a client token: %v, want ErrInvalidToken", err)
			}
		})
	}
}
