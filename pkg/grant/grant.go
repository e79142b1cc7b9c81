// Package grant is the core every token endpoint shares: given who the
// caller is (authenticated by the caller of this package), what it asks for
// and for which service, it authorizes the request against the ACL, mints the
// signed token and, when asked, issues a refresh token. The HTTP dialects in
// server/ only parse requests into a Request and render the Result.
package grant

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
)

// Errors the endpoints map to client errors.
var (
	ErrUnknownService  = errors.New("service not served by this token server")
	ErrAccountMismatch = errors.New("account does not match the authenticated user")
	ErrRefreshInvalid  = refresh.ErrInvalid
)

// Authorizer returns the granted subset of the requested scopes (a denial
// is an empty result, never an error).
type Authorizer interface {
	Authorize(req authz.Request, requested []scope.Scope) []scope.Scope
}

// Auditor receives audit events; it must not block.
type Auditor interface {
	Record(ev store.AuditEvent)
}

// Service issues tokens.
type Service struct {
	Audit    Auditor // optional
	Authz    Authorizer
	Minter   *token.Minter
	Refresh  *refresh.Tokens
	Users    authn.Lookup // checks a refresh token's subject still exists
	Services []string     // accepted audiences; empty accepts any
}

// Request is one token request, already parsed and authenticated.
type Request struct {
	Identity authn.Identity
	Service  string
	Scopes   []scope.Scope
	ClientIP netip.Addr
	ClientID string
	Offline  bool // also issue a refresh token (authenticated callers without a Role only)
}

// Result is what the endpoint renders.
type Result struct {
	Token        token.Token
	Granted      []scope.Scope
	RefreshToken string // empty unless one was issued
}

// Issue authorizes and mints (distribution token.md: the token lists the
// intersection of what was asked and what is allowed).
func (s *Service) Issue(ctx context.Context, req Request) (Result, error) {
	if err := s.checkService(req.Service); err != nil {
		return Result{}, err
	}
	granted := s.Authz.Authorize(authz.Request{
		Account:  req.Identity.Name,
		Service:  req.Service,
		ClientIP: req.ClientIP,
	}, req.Scopes)
	granted = authz.LimitByRole(req.Identity.Role, granted)
	tok, err := s.Minter.Mint(token.Grant{Subject: req.Identity.Name, Audience: req.Service, Access: granted})
	if err != nil {
		return Result{}, err
	}
	s.record(audit.TokenIssued, req, granted, "")
	res := Result{Token: tok, Granted: granted}
	// A role-capped identity (an API token) gets no refresh token: one would
	// carry its owner's full rights and outlive the token's revocation.
	if req.Offline && !req.Identity.Anonymous() && req.Identity.Role == "" {
		issued, err := s.Refresh.Issue(ctx, req.Identity.Name, req.ClientID, req.Service)
		if err != nil {
			return Result{}, err
		}
		res.RefreshToken = issued.Raw
	}
	return res, nil
}

// Redeem turns a refresh token into the identity it was issued to. The
// token is good only for the service it was issued for (distribution
// oauth.md) and its subject must still exist; what that subject may do is
// decided afresh by Issue.
func (s *Service) Redeem(ctx context.Context, raw, service string) (authn.Identity, error) {
	rec, err := s.Refresh.Redeem(ctx, raw)
	if err != nil {
		return authn.Identity{}, err
	}
	if rec.Service != "" && rec.Service != service {
		return authn.Identity{}, fmt.Errorf("%w: issued for another service", refresh.ErrInvalid)
	}
	if s.Users != nil {
		ok, err := s.Users.Exists(ctx, rec.Subject)
		if err != nil {
			return authn.Identity{}, err
		}
		if !ok {
			return authn.Identity{}, fmt.Errorf("%w: its user no longer exists", refresh.ErrInvalid)
		}
	}
	return authn.Identity{Name: rec.Subject, Source: "refresh_token"}, nil
}

// Denied records a refused request (wrong credentials, malformed input
// after authentication); reason must hold no secret.
func (s *Service) Denied(req Request, reason string) {
	s.record(audit.TokenDenied, req, nil, reason)
}

func (s *Service) record(kind string, req Request, granted []scope.Scope, detail string) {
	if s.Audit == nil {
		return
	}
	ev := store.AuditEvent{
		Kind:      kind,
		Subject:   req.Identity.Name,
		ClientID:  req.ClientID,
		Service:   req.Service,
		Requested: scope.Join(req.Scopes),
		Granted:   scope.Join(granted),
		Detail:    detail,
	}
	if req.ClientIP.IsValid() {
		ev.ClientIP = req.ClientIP.String()
	}
	s.Audit.Record(ev)
}

// CheckAccount enforces that an "account" parameter, when given with
// credentials, names the authenticated user (distribution token.md).
func CheckAccount(id authn.Identity, account string) error {
	if account == "" || id.Anonymous() || account == id.Name {
		return nil
	}
	return ErrAccountMismatch
}

func (s *Service) checkService(service string) error {
	if len(s.Services) == 0 || slices.Contains(s.Services, service) {
		return nil
	}
	if service == "" {
		return fmt.Errorf("%w: the service parameter is required", ErrUnknownService)
	}
	return fmt.Errorf("%w: %q", ErrUnknownService, service)
}
