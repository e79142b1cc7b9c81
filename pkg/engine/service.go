package engine

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
)

// AnonymousClient is the public client every Engine API client uses
// (anchore-cli, anchorectl send client_id=anonymous). It is always
// accepted and needs no secret.
const AnonymousClient = "anonymous"

// Accounts are the accounts behind engine tokens (accounts.Service).
type Accounts interface {
	// Admit checks an identity against its account (see accounts.Service).
	Admit(ctx context.Context, id authn.Identity) (authn.Identity, error)
	// Confirm is Admit reading the account from the store, before a
	// refresh family is made.
	Confirm(ctx context.Context, id authn.Identity) (authn.Identity, error)
	// AdmitToken is Admit for an access token issued at issuedAt.
	AdmitToken(ctx context.Context, id authn.Identity, issuedAt time.Time) (authn.Identity, error)
	// Get returns the account named name.
	Get(ctx context.Context, name string) (store.Account, error)
	// IsAdmin reports whether the account is an administrator.
	IsAdmin(acct store.Account) bool
}

// AccountLister lists every account, for /v1/accounts.
type AccountLister interface {
	ListAccounts(ctx context.Context) ([]store.Account, error)
}

// TokenChecker tells whether an API token, named by its hash prefix, is
// still good (apitoken.Tokens.Check).
type TokenChecker interface {
	Check(ctx context.Context, tokenID string) error
}

// Service is the Engine API (Anchore Engine's dialect): its grants over
// the one grant pipeline, and its account calls.
type Service struct {
	Tokens   *Tokens
	Clients  []string // public client_ids accepted besides AnonymousClient
	Accounts Accounts
	Listing  AccountLister // nil: /v1/accounts lists nothing
	// APITokens checks the API token an engine token was minted from.
	APITokens TokenChecker
	Audit     grant.Auditor // optional
	// Refresh, when set, gives password grants a rotating refresh token;
	// nil: no refresh tokens.
	Refresh *refresh.Families
	// Registered serves client_credentials for the registered clients;
	// nil turns that grant off.
	Registered *client.Registry
	// Workloads serves the token exchange of CI and Kubernetes identity
	// tokens (RFC 8693); nil turns that grant off.
	Workloads grant.Workloads
}

// AuditDetail marks the audit events of this API.
const AuditDetail = "engine api"

// KnownClient reports whether clientID is a public client of the API.
func (s *Service) KnownClient(clientID string) bool {
	return clientID == AnonymousClient || slices.Contains(s.Clients, clientID)
}

// Grants is the table of /v1/oauth/token: the password grant of public
// clients always; refresh_token when the API issues refresh tokens;
// client_credentials, authenticated by the client's secret, when it has
// registered clients; the token exchange of identity tokens when it trusts
// issuers of them. users authenticates passwords and API tokens.
func (s *Service) Grants(users authn.Authenticator) grant.Table {
	t := grant.Table{{Type: grant.TypePassword, Auth: grant.PublicAuth, Handler: grant.Password{Authn: users}}}
	if s.Refresh != nil {
		t = append(t, grant.Grant{Type: grant.TypeRefreshToken, Auth: grant.PublicAuth, Audit: "refresh",
			Handler: grant.RotatingRefresh{Families: s.Refresh, Accounts: s.Accounts}})
	}
	if s.Registered != nil {
		t = append(t, grant.Grant{Type: grant.TypeClientCredentials, Auth: grant.ConfidentialAuth,
			Audit: "client_credentials", Handler: grant.ClientCredentials{Clients: s.Registered}})
	}
	if s.Workloads != nil {
		t = append(t, grant.Grant{Type: grant.TypeTokenExchange, Auth: grant.PublicAuth,
			Audit: "token_exchange", Handler: grant.TokenExchange{Workloads: s.Workloads}})
	}
	return t
}

// Pipeline is the grant pipeline of /v1/oauth/token: the Engine claims
// profile, audited as AuditDetail, told to observer (nil: none).
func (s *Service) Pipeline(users authn.Authenticator, observer grant.Observer) *grant.Pipeline {
	tokens := s.Tokens
	if tokens == nil {
		tokens = &Tokens{} // described only (discovery), never minting
	}
	core := &grant.Service{Audit: s.Audit, Minter: tokens.Minter(), Families: s.Refresh, Accounts: s.Accounts,
		Audience: tokens.Audience, AuditDetail: AuditDetail, Observer: observer}
	return &grant.Pipeline{Grants: s.Grants(users), Service: core}
}

// Verify turns a bearer engine token into the identity it was issued to:
// the token must verify (ErrInvalidToken otherwise), its account must
// still be the one it was issued to, enabled, and have had no
// revoke-tokens since it was issued, and the API token it came from, if
// any, must still be good. Those refusals wrap authn.ErrBadCredentials
// (authn.ErrDisabled for a disabled account); store failures are returned
// as they are.
func (s *Service) Verify(ctx context.Context, raw string) (authn.Identity, error) {
	v, err := s.Tokens.Verify(raw)
	if err != nil {
		return authn.Identity{}, err
	}
	return s.Admit(ctx, v)
}

// Admit is Verify for a token already verified: it checks the account and
// the API token v stands for.
func (s *Service) Admit(ctx context.Context, v Verified) (authn.Identity, error) {
	id, err := s.Accounts.AdmitToken(ctx, v.Identity, v.IssuedAt())
	if err != nil {
		return authn.Identity{}, err
	}
	if id.TokenID != "" && s.APITokens != nil {
		if err := s.APITokens.Check(ctx, id.TokenID); err != nil {
			return authn.Identity{}, err
		}
	}
	return id, nil
}

// Account is an account as the Engine API shows it to a caller.
type Account struct {
	store.Account
	Type string // admin, user or service: admin only for an admin acting as one
}

// Account describes the caller's own account: never more than its
// credential grants, so the account of an admin seen through a read or
// write API token is of type user.
func (s *Service) Account(ctx context.Context, id authn.Identity) (Account, error) {
	if id.Kind == authn.KindWorkload {
		return Account{}, ErrNotAnAccount
	}
	acct, err := s.Accounts.Get(ctx, id.Name)
	if err != nil {
		return Account{}, err
	}
	return s.describe(acct, id), nil
}

// describe is acct as the caller id sees it: an admin only when id may
// act as one (authn.Identity.ActsAsAdmin, the one admin rule).
func (s *Service) describe(acct store.Account, id authn.Identity) Account {
	id.Admin = s.Accounts.IsAdmin(acct)
	switch {
	case id.ActsAsAdmin():
		return Account{Account: acct, Type: store.AccountAdmin}
	case acct.Type == store.AccountAdmin:
		return Account{Account: acct, Type: store.AccountUser}
	}
	return Account{Account: acct, Type: acct.Type}
}

// MayList reports whether id may list every account: an admin, with its
// password or an engine token from it, or with an admin API token.
func (s *Service) MayList(id authn.Identity) bool { return id.ActsAsAdmin() }

// ErrNotAnAccount: the caller is a workload (an identity token of a
// trusted issuer), which has no account to describe.
var ErrNotAnAccount = errors.New("a workload has no account: /v1/account describes users")

// ErrNoDirectory means accounts cannot be listed: no lister is set.
var ErrNoDirectory = errors.New("engine: no account list")

// ListAccounts describes every account, sorted by name (disabled ones too).
func (s *Service) ListAccounts(ctx context.Context) ([]Account, error) {
	if s.Listing == nil {
		return nil, ErrNoDirectory
	}
	all, err := s.Listing.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(all))
	for _, a := range all {
		out = append(out, s.describe(a, authn.Identity{}))
	}
	return out, nil
}
