package grant_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/authntest"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/token"
)

// deviceGrant is a test-only grant type: one Handler.
type deviceGrant struct{ users authn.Authenticator }

func (g deviceGrant) Authenticate(ctx context.Context, req *grant.Request) (authn.Identity, error) {
	id, err := g.users.Authenticate(ctx, req.Username, req.Password)
	return id, grant.Credentials(err, "")
}

// claimsSigner keeps the claims it signs.
type claimsSigner struct{ claims jwt.Claims }

func (s *claimsSigner) Sign(c jwt.Claims) (string, error) { s.claims = c; return "signed", nil }

// A new grant is one handler plus one table line; a new backend is one
// Authenticator in the chain. Budgets, the ACL, minting, the identity claim,
// audit and metrics come from the pipeline.
func TestAddingAGrantAndABackend(t *testing.T) {
	signer := &claimsSigner{}
	svc := &grant.Service{Authz: allowAll{}, Minter: &token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: signer}}
	users := authn.Chain{authntest.Static{Source: "team", Users: map[string]authntest.User{ // the backend: one line
		"carol": {Password: "let-me-in", Groups: []string{"ops"}}}}}
	p := &grant.Pipeline{Service: svc, Grants: grant.Table{
		{Type: "urn:example:device", Auth: grant.PublicAuth, Handler: deviceGrant{users}}, // the grant: one line
	}}
	sc, _ := scope.Parse("repository:ops/app:pull")
	res, err := p.Token(context.Background(), grant.Request{GrantType: "urn:example:device", Username: "carol",
		Password: "let-me-in", Service: "registry", Scopes: []scope.Scope{sc}})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := signer.claims.(token.Claims)
	if !ok || c.Identity == nil || c.Identity.Source != "team" || len(c.Identity.Groups) != 1 || c.Identity.Groups[0] != "ops" ||
		len(res.Granted) != 1 {
		t.Fatalf("claims %+v, granted %v: want carol's identity with group ops and the pull", signer.claims, res.Granted)
	}
	if names := p.Grants.Names(); len(names) != 1 || names[0] != "urn:example:device" {
		t.Errorf("table names %v", names)
	}
	_, err = p.Token(context.Background(), grant.Request{GrantType: "urn:example:device", Username: "carol", Password: "no"})
	if e, ok := grant.AsError(err); !ok || e.Refusal != grant.FailedLogin {
		t.Errorf("wrong password: %v, want a failed login", err)
	}
	if _, err := p.Token(context.Background(), grant.Request{GrantType: "password"}); err == nil {
		t.Error("a grant type not in the table was served")
	}
}

// allowAll grants whatever is asked.
type allowAll struct{}

func (allowAll) AuthorizeRules(_ authz.Request, requested []scope.Scope, _ []int) []scope.Scope {
	return requested
}
