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
	"strconv"
	"strings"

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
// is an empty result, never an error) and stores in rules[k], when rules is
// not nil, the index of the rule that decided requested[k] (-1: none
// matched). *authz.ACL implements it, and *authz.Holder, which lets a
// reload swap the ACL under running requests.
type Authorizer interface {
	AuthorizeRules(req authz.Request, requested []scope.Scope, rules []int) []scope.Scope
}

// Auditor receives audit events; it must not block (audit.Recorder).
type Auditor interface {
	Record(ev store.AuditEvent)
	// FailedLogin counts a refused login from ev.ClientIP under the name
	// ev.Subject; the log gets one row per address and minute.
	FailedLogin(ev store.AuditEvent)
}

// Observer is told how token requests end, for metrics. Its methods run on
// the request path, in the caller's goroutine, with the caller's context:
// they must be cheap and must not block.
type Observer interface {
	// Issued is told of every token minted and how much of the request it
	// grants.
	Issued(ctx context.Context, req Request, outcome Outcome)
	// RefreshRefused is told when Redeem refuses a refresh token
	// (ErrRefreshInvalid); internal failures are not refusals.
	RefreshRefused(ctx context.Context)
}

// Outcome is how much of what was asked a token grants, counted in actions.
type Outcome uint8

// Outcomes.
const (
	GrantedAll  Outcome = iota // every action asked, or nothing was asked (docker login)
	GrantedSome                // some of the actions asked
	GrantedNone                // none of a non-empty request
)

// RefreshSource is the Identity.Source of the identities Redeem returns.
const RefreshSource = "refresh_token"

// Admitter checks an identity against its account (accounts.Service):
// a refresh token is good only while its account lives, is enabled and
// has the password it was issued under. Confirm reads the account from
// the store whatever a cache says, before a refresh token is made.
type Admitter interface {
	Admit(ctx context.Context, id authn.Identity) (authn.Identity, error)
	Confirm(ctx context.Context, id authn.Identity) (authn.Identity, error)
}

// Service issues tokens.
type Service struct {
	Audit    Auditor // optional
	Authz    Authorizer
	Minter   *token.Minter
	Refresh  *refresh.Tokens
	Accounts Admitter // checks the account a refresh token was issued to
	Services []string // accepted audiences; empty accepts any
	Observer Observer // optional: told how requests end (metrics)
}

// Request is one token request, already parsed and authenticated.
type Request struct {
	Identity authn.Identity
	Service  string
	Scopes   []scope.Scope
	ClientIP netip.Addr
	ClientID string
	Offline  bool // also issue a refresh token (authenticated callers without a Role only)
	// WantRules asks for Result.Rules even without an auditor (for logs).
	WantRules bool
}

// Result is what the endpoint renders.
type Result struct {
	Token        token.Token
	Granted      []scope.Scope
	RefreshToken string // empty unless one was issued
	// Rules holds, parallel to Request.Scopes, the index of the ACL rule
	// that decided each scope (-1: none matched, default deny). It is nil
	// unless the Service audits or the Request asked (WantRules).
	Rules []int
}

// Issue authorizes and mints (distribution token.md: the token lists the
// intersection of what was asked and what is allowed).
func (s *Service) Issue(ctx context.Context, req Request) (Result, error) {
	if err := s.CheckService(req.Service); err != nil {
		return Result{}, err
	}
	// A role-capped identity (an API token) gets no refresh token: one would
	// carry its owner's full rights and outlive the token's revocation.
	offline := req.Offline && !req.Identity.Anonymous() && req.Identity.Role == ""
	if offline && s.Accounts != nil { // a lasting credential: the account as the store has it now
		id, err := s.Accounts.Confirm(ctx, req.Identity)
		if err != nil {
			return Result{}, err
		}
		req.Identity = id
	}
	// The deciding rules cost one small slice, paid only when someone reads them.
	var rules []int
	if (s.Audit != nil || req.WantRules) && len(req.Scopes) > 0 {
		rules = make([]int, len(req.Scopes))
	}
	granted := s.Authz.AuthorizeRules(authz.Request{
		Account:  req.Identity.Name,
		Service:  req.Service,
		ClientIP: req.ClientIP,
	}, req.Scopes, rules)
	granted = authz.LimitByRole(req.Identity.Role, granted)
	tok, err := s.Minter.Mint(token.Grant{Subject: req.Identity.Name, Audience: req.Service, Access: granted,
		NotBefore: req.Identity.NotBefore})
	if err != nil {
		return Result{}, err
	}
	if s.Audit != nil {
		s.record(audit.TokenIssued, req, granted, ruleDetail(req, rules))
	}
	res := Result{Token: tok, Granted: granted, Rules: rules}
	if offline {
		issued, err := s.Refresh.Issue(ctx, req.Identity, req.ClientID, req.Service)
		if err != nil {
			return Result{}, err
		}
		res.RefreshToken = issued.Raw
	}
	if s.Observer != nil {
		s.Observer.Issued(ctx, req, outcome(req.Scopes, granted))
	}
	return res, nil
}

// Redeem turns a refresh token into the identity it was issued to. The
// token is good only for the service it was issued for (distribution
// oauth.md), while its account lives and is enabled, and until its user's
// password changes; what that subject may do is decided afresh by Issue. A
// disabled account is authn.ErrDisabled.
func (s *Service) Redeem(ctx context.Context, raw, service string) (_ authn.Identity, err error) {
	if s.Observer != nil {
		defer func() {
			if errors.Is(err, refresh.ErrInvalid) {
				s.Observer.RefreshRefused(ctx)
			}
		}()
	}
	rec, err := s.Refresh.Redeem(ctx, raw)
	if err != nil {
		return authn.Identity{}, err
	}
	if rec.Service != "" && rec.Service != service {
		return authn.Identity{}, fmt.Errorf("%w: issued for another service", refresh.ErrInvalid)
	}
	id := authn.Identity{Name: rec.Subject, Source: RefreshSource, AccountID: rec.AccountID, Epoch: rec.Epoch}
	if s.Accounts == nil {
		return id, nil
	}
	id, err = s.Accounts.Admit(ctx, id)
	if errors.Is(err, authn.ErrBadCredentials) {
		return authn.Identity{}, fmt.Errorf("%w: %v", refresh.ErrInvalid, err)
	}
	return id, err
}

// Denied records a refused request (malformed credentials, a disabled
// account); reason must hold no secret. A failed login goes to
// FailedLogin instead.
func (s *Service) Denied(req Request, reason string) {
	s.record(audit.TokenDenied, req, nil, reason)
}

// FailedLogin records a refused login (a wrong password, an unknown user,
// an invalid API token or refresh token) under the name req.Identity
// carries (the one tried), aggregated per client address and minute so
// that password guessing cannot flood the audit log.
func (s *Service) FailedLogin(req Request) {
	if s.Audit == nil {
		return
	}
	ev := store.AuditEvent{Subject: req.Identity.Name}
	if req.ClientIP.IsValid() {
		ev.ClientIP = req.ClientIP.String()
	}
	s.Audit.FailedLogin(ev)
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

// ruleDetail names the rule that decided each requested scope, as in
// "rules=repository:alice/app:1 repository:bob/x:-1" (-1: no rule matched,
// default deny), followed by " role=read" when a role capped the grant.
// Scope names hold no spaces, and the rule follows the last colon.
func ruleDetail(req Request, rules []int) string {
	if len(rules) == 0 && req.Identity.Role == "" {
		return ""
	}
	n := len("rules=") + len(" role=") + len(req.Identity.Role)
	for _, sc := range req.Scopes {
		n += len(sc.Type) + len(sc.Class) + len(sc.Name) + 8
	}
	var b strings.Builder
	b.Grow(n) // the only allocation
	var num [20]byte
	if len(rules) > 0 {
		b.WriteString("rules=")
		for k, sc := range req.Scopes {
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(sc.Type)
			if sc.Class != "" {
				b.WriteByte('(')
				b.WriteString(sc.Class)
				b.WriteByte(')')
			}
			b.WriteByte(':')
			b.WriteString(sc.Name)
			b.WriteByte(':')
			b.Write(strconv.AppendInt(num[:0], int64(rules[k]), 10))
		}
	}
	if req.Identity.Role != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("role=")
		b.WriteString(req.Identity.Role)
	}
	return b.String()
}

// outcome compares the actions granted with those asked; granted is a
// subset of requested (authz never grants what was not asked).
func outcome(requested, granted []scope.Scope) Outcome {
	asked, got := 0, 0
	for _, s := range requested {
		asked += len(s.Actions)
	}
	for _, s := range granted {
		got += len(s.Actions)
	}
	switch {
	case got >= asked:
		return GrantedAll
	case got == 0:
		return GrantedNone
	}
	return GrantedSome
}

// CheckAccount enforces that an "account" parameter, when given with
// credentials, names who logged in (distribution token.md). Clients send
// the login name the user typed: the Docker CLI and regctl always do, so
// `docker login -u token -p tg_…` asks with account=token. It is accepted
// when it equals the Basic username (login) or the authenticated account's
// name, and refused when it names anyone else.
func CheckAccount(id authn.Identity, login, account string) error {
	if account == "" || id.Anonymous() || account == id.Name || account == login {
		return nil
	}
	return ErrAccountMismatch
}

// CheckService tells whether tokens are issued for service (token.services;
// an empty list accepts any). Endpoints call it while parsing, so that a
// request for a foreign service fails before any password is checked;
// Issue checks again, as the core must not rely on its callers.
func (s *Service) CheckService(service string) error {
	if len(s.Services) == 0 || slices.Contains(s.Services, service) {
		return nil
	}
	if service == "" {
		return fmt.Errorf("%w: the service parameter is required", ErrUnknownService)
	}
	return fmt.Errorf("%w: %q", ErrUnknownService, service)
}
