package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/store"
)

// Errors of the lifecycle operations; test with errors.Is.
var (
	ErrNotFound    = errors.New("accounts: no such account")
	ErrInvalidType = errors.New("accounts: type must be admin, user or service")
	ErrInvalidMail = errors.New("accounts: invalid email address")
)

// maxEmail bounds an email address (RFC 5321 §4.5.3.1.3: 254 in a path).
const maxEmail = 254

// Create makes a new account for a user being added to the user file (of
// source FileSource). An account already under that name belonged to an
// earlier user of the name: it is removed first, with everything it held,
// so the new user starts with nothing.
func (s *Service) Create(ctx context.Context, name, email, typ, actor string) (store.Account, error) {
	if err := checkProfile(email, typ); err != nil {
		return store.Account{}, err
	}
	if _, _, err := s.Remove(ctx, name, actor, "the name is being added again"); err != nil && !errors.Is(err, ErrNotFound) {
		return store.Account{}, err
	}
	acct := s.newAccount(name, email, typ, FileSource)
	if err := s.Store.CreateAccount(ctx, acct); err != nil {
		return store.Account{}, fmt.Errorf("create account %q: %w", name, err)
	}
	s.record(ctx, audit.UserAdded, actor, name, "type="+typ)
	return acct, nil
}

// Profile is what Update changes; nil fields stay as they are.
type Profile struct {
	Email *string
	Type  *string
}

// Update changes the email address and type of name's account, creating
// the account (of no known source) if the user has none yet.
func (s *Service) Update(ctx context.Context, name string, p Profile, actor string) (store.Account, error) {
	acct, err := s.Ensure(ctx, name, "")
	if err != nil {
		return store.Account{}, err
	}
	email, typ := acct.Email, acct.Type
	if p.Email != nil {
		email = *p.Email
	}
	if p.Type != nil {
		typ = *p.Type
	}
	if err := checkProfile(email, typ); err != nil {
		return store.Account{}, err
	}
	return s.change(ctx, acct, actor, audit.UserUpdated, store.AccountChange{Email: p.Email, Type: p.Type})
}

// SetEnabled enables or disables name's account. A disabled account's
// password, refresh tokens, API tokens and engine tokens are refused until
// it is enabled again; nothing is revoked. A user with no account yet gets
// one, of no known source.
func (s *Service) SetEnabled(ctx context.Context, name string, enabled bool, actor string) (store.Account, error) {
	kind, state := audit.UserDisabled, store.AccountDisabled
	if enabled {
		kind, state = audit.UserEnabled, store.AccountEnabled
	}
	acct, err := s.Ensure(ctx, name, "")
	if err != nil {
		return store.Account{}, err
	}
	return s.change(ctx, acct, actor, kind, store.AccountChange{State: &state})
}

// change applies c to acct in the store (only the fields c sets: changes
// made meanwhile by others stay), forgets the cached account and audits the
// change as kind.
func (s *Service) change(ctx context.Context, acct store.Account, actor, kind string, c store.AccountChange) (store.Account, error) {
	c.At = s.now()
	acct, err := s.Store.UpdateAccount(ctx, acct.ID, c)
	if err != nil {
		return store.Account{}, fmt.Errorf("update account %q: %w", acct.Name, err)
	}
	s.forget(acct.Name)
	s.record(ctx, kind, actor, acct.Name, fmt.Sprintf("type=%s state=%s", acct.Type, acct.State))
	return acct, nil
}

// RevokeTokens ends the credentials of the given kinds that name holds,
// without anyone knowing them. With store.KindEngineRefresh, engine access
// tokens issued until now are refused too (TokensNotBefore), wherever
// Tollgate checks them. ErrNotFound when name has no account.
func (s *Service) RevokeTokens(ctx context.Context, name string, kinds store.CredentialKinds, actor string) (store.Revoked, error) {
	acct, err := s.existing(ctx, name)
	if err != nil {
		return store.Revoked{}, err
	}
	now := s.now()
	if kinds&store.KindEngineRefresh != 0 {
		// Access tokens carry whole seconds (iat): count the current one as
		// revoked, so none issued before now slips through (new ones are
		// issued at TokensNotBefore at the earliest, see AdmitToken).
		c := store.AccountChange{TokensNotBefore: now.Truncate(time.Second).Add(time.Second), At: now}
		if _, err := s.Store.UpdateAccount(ctx, acct.ID, c); err != nil {
			return store.Revoked{}, fmt.Errorf("update account %q: %w", name, err)
		}
		s.forget(name)
	}
	r, err := s.Store.RevokeCredentials(ctx, acct.ID, kinds, "", now)
	if err != nil {
		return store.Revoked{}, err
	}
	s.record(ctx, audit.UserTokensRevoked, actor, name, "kinds="+KindNames(kinds)+" "+revokedDetail(r))
	return r, nil
}

// PasswordChanged ends the refresh tokens and engine refresh families name
// got with an earlier password (those not of its current epoch). API tokens
// are separate credentials and stay. Unless always, nothing is audited when
// nothing was ended (several replicas see the same change).
func (s *Service) PasswordChanged(ctx context.Context, name, actor string, always bool) (store.Revoked, error) {
	epoch := ""
	if s.Users != nil {
		epoch = s.Users.Epoch(name)
	}
	return s.PasswordChangedTo(ctx, name, epoch, actor, always)
}

// PasswordChangedTo is PasswordChanged for a password whose epoch is
// known before the user backend has it (`tollgate users passwd` ends the
// old credentials before it writes the file, so that a watching server
// finds nothing left to end).
func (s *Service) PasswordChangedTo(ctx context.Context, name, epoch, actor string, always bool) (store.Revoked, error) {
	acct, err := s.existing(ctx, name)
	if err != nil {
		return store.Revoked{}, err
	}
	r, err := s.Store.RevokeCredentials(ctx, acct.ID, store.KindRefresh|store.KindEngineRefresh, epoch, s.now())
	if err != nil {
		return store.Revoked{}, err
	}
	if s.Sessions != nil { // the web UI's sessions were signed in with the old password
		if _, err := s.Sessions.DeleteUserSessions(ctx, name); err != nil {
			return store.Revoked{}, err
		}
	}
	if always || r.Total() > 0 {
		s.record(ctx, audit.UserPasswordChanged, actor, name, revokedDetail(r))
	}
	return r, nil
}

// Remove deletes name's account and revokes everything bound to it, in one
// transaction, and audits why. It reports whether there was an account;
// ErrNotFound (wrapped) when there was none.
func (s *Service) Remove(ctx context.Context, name, actor, why string) (store.Revoked, bool, error) {
	acct, err := s.existing(ctx, name)
	if err != nil {
		return store.Revoked{}, false, err
	}
	r, err := s.Store.DeleteAccount(ctx, acct.ID, s.now())
	if errors.Is(err, store.ErrNotFound) { // another replica was first
		return store.Revoked{}, false, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return store.Revoked{}, false, err
	}
	s.forget(name)
	s.record(ctx, audit.UserRemoved, actor, name, revokedDetail(r)+" reason="+why)
	return r, true, nil
}

// existing reads name's account; ErrNotFound when there is none.
func (s *Service) existing(ctx context.Context, name string) (store.Account, error) {
	acct, err := s.Store.Account(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return acct, err
}

// record tells Changed and audits a change to user's account made by
// actor. The change is committed already, so a failed write is logged,
// never undone.
func (s *Service) record(ctx context.Context, kind, actor, user, detail string) {
	if s.Changed != nil {
		s.Changed()
	}
	if s.Audit == nil {
		return
	}
	ev := store.AuditEvent{Kind: kind, Subject: actor, Detail: "user=" + user + " " + detail}
	if err := s.Audit.Write(ctx, ev); err != nil {
		s.logger().ErrorContext(ctx, "audit write failed", "kind", kind, "user", user, "error", err)
	}
}

func revokedDetail(r store.Revoked) string {
	return fmt.Sprintf("ended refresh_tokens=%d engine_refresh_tokens=%d api_tokens=%d",
		r.RefreshTokens, r.EngineRefreshTokens, r.APITokens)
}

// Kind names, as `tollgate users revoke-tokens` and the admin API take them.
var kindNames = []struct {
	name string
	kind store.CredentialKinds
}{
	{"refresh", store.KindRefresh},
	{"engine", store.KindEngineRefresh},
	{"api", store.KindAPIToken},
}

// ParseKinds reads kind names ("refresh", "engine", "api"); none means all.
func ParseKinds(names []string) (store.CredentialKinds, error) {
	if len(names) == 0 {
		return store.AllKinds, nil
	}
	var k store.CredentialKinds
	for _, n := range names {
		i := indexKind(n)
		if i < 0 {
			return 0, fmt.Errorf("unknown credential kind %q: want refresh, engine or api", n)
		}
		k |= kindNames[i].kind
	}
	return k, nil
}

func indexKind(name string) int {
	for i, kn := range kindNames {
		if kn.name == name {
			return i
		}
	}
	return -1
}

// KindNames names kinds, comma-separated, in a fixed order.
func KindNames(kinds store.CredentialKinds) string {
	var names []string
	for _, kn := range kindNames {
		if kinds&kn.kind != 0 {
			names = append(names, kn.name)
		}
	}
	return strings.Join(names, ",")
}

// checkProfile validates an email address and an account type.
func checkProfile(email, typ string) error {
	switch typ {
	case store.AccountAdmin, store.AccountUser, store.AccountService:
	default:
		return fmt.Errorf("%w: %q", ErrInvalidType, typ)
	}
	if email == "" {
		return nil
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || len(email) > maxEmail ||
		strings.ContainsFunc(email, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%w: %q", ErrInvalidMail, email)
	}
	return nil
}
