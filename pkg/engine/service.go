package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/store"
)

// AnonymousClient is the public client every Engine API client uses
// (anchore-cli, anchorectl send client_id=anonymous). It is always
// accepted and needs no secret.
const AnonymousClient = "anonymous"

// Account types and states (Anchore's account model).
const (
	TypeAdmin    = "admin"
	TypeUser     = "user"
	StateEnabled = "enabled"
)

// Directory lists the users (the htpasswd file).
type Directory interface {
	authn.Lookup
	Users() []string
}

// Auditor receives audit events; it must not block (audit.Recorder).
type Auditor interface {
	Record(ev store.AuditEvent)
}

// Service issues engine tokens and describes accounts.
type Service struct {
	Tokens  *Tokens
	Clients []string // public client_ids accepted besides AnonymousClient
	Admins  []string // users.admins
	Users   Directory
	Audit   Auditor // optional
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

// Denied records a refused token request; reason must hold no secret.
func (s *Service) Denied(req Request, reason string) {
	s.record(audit.TokenDenied, req, auditDetail+": "+reason)
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

// Verify turns a bearer engine token into the identity it was issued to.
// A token whose user has left the directory is refused (ErrInvalidToken).
func (s *Service) Verify(ctx context.Context, raw string) (authn.Identity, error) {
	id, err := s.Tokens.Verify(raw)
	if err != nil {
		return authn.Identity{}, err
	}
	if s.Users != nil {
		ok, err := s.Users.Exists(ctx, id.Name)
		if err != nil {
			return authn.Identity{}, err
		}
		if !ok {
			return authn.Identity{}, fmt.Errorf("%w: its user no longer exists", ErrInvalidToken)
		}
	}
	return id, nil
}

// Account is what Tollgate knows of an account. It has no e-mail address
// nor creation and update times: those stay unknown, never invented.
type Account struct {
	Name  string
	Type  string // TypeAdmin or TypeUser
	State string // StateEnabled: a user in the directory can log in
}

// Account describes the account of name.
func (s *Service) Account(name string) Account {
	typ := TypeUser
	if slices.Contains(s.Admins, name) {
		typ = TypeAdmin
	}
	return Account{Name: name, Type: typ, State: StateEnabled}
}

// MayList reports whether id may list every account: an admin, with its
// password or an engine token from it, or with an admin API token.
func (s *Service) MayList(id authn.Identity) bool {
	return slices.Contains(s.Admins, id.Name) && (id.Role == "" || id.Role == authz.RoleAdmin)
}

// ErrNoDirectory means accounts cannot be listed: no directory is set.
var ErrNoDirectory = errors.New("engine: no user directory to list")

// Accounts describes every user of the directory, sorted by name.
func (s *Service) Accounts() ([]Account, error) {
	if s.Users == nil {
		return nil, ErrNoDirectory
	}
	names := s.Users.Users()
	out := make([]Account, 0, len(names))
	for _, n := range names {
		out = append(out, s.Account(n))
	}
	return out, nil
}
