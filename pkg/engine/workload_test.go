package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys/keystest"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
)

// workloads vouches for any subject token as the workload ci:github:acme/app.
type workloads struct{}

func (workloads) Verify(context.Context, string) (authn.Identity, error) {
	return authn.Identity{Kind: authn.KindWorkload, Name: "ci:github:acme/app", Source: "federation",
		Attrs: &authn.Attributes{Claims: map[string]string{"repository_owner": "acme"}, Policy: "p"}}, nil
}

// The token exchange gives a workload an engine token whose sub is its
// name, with no refresh token; the account calls refuse that token and
// the workload itself, which has no account.
func TestWorkloadTokenExchange(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	toks := &engine.Tokens{Issuer: "anchore-engine", TTL: time.Hour, Key: keystest.Key(t, "HS256"), Now: clock(now)}
	eng := &engine.Service{Tokens: toks, Workloads: workloads{}}
	if _, ok := eng.Grants(nil).Find(grant.TypeTokenExchange); !ok {
		t.Fatal("the token exchange is not offered with Workloads set")
	}
	res, err := eng.Pipeline(nil, nil).Token(context.Background(), grant.Request{GrantType: grant.TypeTokenExchange,
		ClientID: engine.AnonymousClient, SubjectToken: "eyJ.x.y", SubjectTokenType: grant.TokenTypeIDToken})
	if err != nil {
		t.Fatal(err)
	}
	if res.RefreshToken != "" {
		t.Error("a workload got a refresh token")
	}
	c, err := toks.VerifyAny(res.Token.Raw)
	if err != nil || c.Subject != "ci:github:acme/app" || c.Identity == nil || c.Identity.Kind != authn.KindWorkload ||
		c.Identity.Claims["repository_owner"] != "acme" {
		t.Fatalf("claims %+v (identity %+v), %v", c, c.Identity, err)
	}
	if _, err := toks.Verify(res.Token.Raw); !errors.Is(err, engine.ErrInvalidToken) {
		t.Errorf("Verify of a workload's token: %v, want ErrInvalidToken", err)
	}
	if _, err := eng.Account(context.Background(), res.Identity); !errors.Is(err, engine.ErrNotAnAccount) {
		t.Errorf("Account of a workload: %v, want ErrNotAnAccount", err)
	}
}
