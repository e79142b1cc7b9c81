package engine

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
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

// Auditor receives audit events; it must not block (audit.Recorder).
type Auditor interface {
	Record(ev store.AuditEvent)
	// FailedLogin counts a refused login from ev.ClientIP under the name
	// ev.Subject; the log gets one row per address and minute.
	FailedLogin(ev store.AuditEvent)
}

// Service issues engine tokens and describes accounts.
type Service struct {
	Tokens   *Tokens
	Clients  []string // public client_ids accepted besides AnonymousClient
	Accounts Accounts
	Listing  AccountLister // nil: /v1/accounts lists nothing
	// APITokens checks the API token an engine token was minted from.
	APITokens TokenChecker
	Audit     Auditor // optional
	// Refresh, when set, gives password grants a rotating refresh token
	// (refresh.go); nil: no refresh tokens.
	Refresh *Refreshes
	// Registered serves client_credentials for the registered clients;
	// nil turns that grant off.
	Registered *Clients
}

// Request is one token request, already authenticated.
type Request struct {
	Identity authn.Identity
	ClientID string
	ClientIP netip.Addr
}

// auditDetail marks the audit events of this API.
const auditDetail = "engine api"

// KnownClient reports whether clientID is a public client of the API.
func (s *Service) KnownClient(clientID string) bool {
	return clientID == AnonymousClient || slices.Contains(s.Clients, clientID)
}

// Issue mints a token for an authenticated request and records it. No
// engine scopes are defined yet, so the token's scope is empty.
func (s *Service) Issue(req Request) (Token, error) {
	tok, err := s.Tokens.Mint(req.Identity, nil)
	if err != nil {
		return Token{}, err
	}
	s.record(audit.TokenIssued, req, auditDetail)
	return tok, nil
}

// Denied records a refused token request; reason must hold no secret. A
// failed login goes to FailedLogin instead.
func (s *Service) Denied(req Request, reason string) {
	s.record(audit.TokenDenied, req, auditDetail+": "+reason)
}

// FailedLogin records a refused login (a wrong password, an unknown user,
// an invalid API token or refresh token) under the name req.Identity
// carries, aggregated per client address and minute.
func (s *Service) FailedLogin(req Request) {
	failedLogin(s.Audit, req.Identity.Name, req.ClientIP)
}

// failedLogin hands a refused login to a, when there is one.
func failedLogin(a Auditor, name string, ip netip.Addr) {
	if a == nil {
		return
	}
	ev := store.AuditEvent{Subject: name}
	if ip.IsValid() {
		ev.ClientIP = ip.String()
	}
	a.FailedLogin(ev)
}

func (s *Service) record(kind string, req Request, detail string) {
	if s.Audit == nil {
		return
	}
	if req.Identity.Role != "" {
		detail += " role=" + req.Identity.Role
	}
	ev := store.AuditEvent{
		Kind:     kind,
		Subject:  req.Identity.Name,
		ClientID: req.ClientID,
		Service:  s.Tokens.Audience,
		Detail:   detail,
	}
	if req.ClientIP.IsValid() {
		ev.ClientIP = req.ClientIP.String()
	}
	s.Audit.Record(ev)
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
	acct, err := s.Accounts.Get(ctx, id.Name)
	if err != nil {
		return Account{}, err
	}
	return s.describe(acct, id.Role), nil
}

// describe is acct as a caller whose credential has role sees it.
func (s *Service) describe(acct store.Account, role string) Account {
	typ := acct.Type
	if s.Accounts.IsAdmin(acct) {
		typ = store.AccountAdmin
	}
	if typ == store.AccountAdmin && role != "" && role != authz.RoleAdmin {
		typ = store.AccountUser
	}
	return Account{Account: acct, Type: typ}
}

// MayList reports whether id may list every account: an admin, with its
// password or an engine token from it, or with an admin API token.
func (s *Service) MayList(id authn.Identity) bool { return id.ActsAsAdmin() }

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
		out = append(out, s.describe(a, ""))
	}
	return out, nil
}
