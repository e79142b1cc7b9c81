package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
)

// DefaultCacheTTL is how long a password login trusts an account it read.
const DefaultCacheTTL = time.Second

// maxCached bounds the password logins' account cache.
const maxCached = 10000

// Users are the password users: whether a name is one, and the epoch of
// its password ("" when the backend keeps none). *htpasswd.File is one.
type Users interface {
	authn.Lookup
	Epoch(name string) string
}

// Profiles are user backends that can tell a user's groups and labels
// without the password (a directory): a stored credential (an API token,
// a refresh token, an engine token) then reaches the ACL's group: and
// ${labels:NAME} rules as the user's password does. nil attributes: none.
type Profiles interface {
	Profile(ctx context.Context, name string) (*authn.Attributes, error)
}

// SessionEnder ends every web UI session of a user (store.Sessions).
type SessionEnder interface {
	DeleteUserSessions(ctx context.Context, subject string) (int64, error)
}

// Auditor stores an audit event before the caller replies (audit.Recorder).
type Auditor interface {
	Write(ctx context.Context, ev store.AuditEvent) error
}

// Service keeps accounts. Use it by pointer; optional fields may be nil.
type Service struct {
	Store  store.Accounts
	Users  Users    // nil: every name is a user, no epochs
	Admins []string // users.admins: administrators whatever their account's type
	Audit  Auditor  // records lifecycle changes
	Logger *slog.Logger
	// FileVersion, when set, is the version of the user file (it goes up on
	// every change): a removal is confirmed once it stays put.
	FileVersion func() uint64
	// CacheTTL is how long a password login trusts an account it read; 0
	// reads the store every time. Either way a store that does not answer
	// is replaced by the last account read.
	CacheTTL time.Duration
	Now      func() time.Time
	// Sessions, when set, are the web UI's sessions: a new password ends
	// the user's (signed in with the old one).
	Sessions SessionEnder
	// Changed, when set, is called after every change this service makes
	// to an account (added, disabled, enabled, tokens revoked, password
	// changed, removed): what remembers grants (token reuse) forgets them.
	Changed func()

	mu      sync.Mutex
	cache   map[string]cachedAccount
	pending map[string]int // removals Apply is confirming, by name

	lastWarned atomic.Int64 // Unix ns of the last "store away" warning, to log one per warnEvery
}

// warnEvery spaces the warnings of password logins going on without the
// store: under load there would be one per request.
const warnEvery = 10 * time.Second

type cachedAccount struct {
	acct store.Account
	at   time.Time
}

// Admit checks an authenticated identity against its account and returns
// it with AccountID and Admin filled in. For an identity a stored
// credential vouched for (AccountID set), the account is read from the
// store: it must still be the one the credential was issued to, and the
// name must still be a user. A disabled account is authn.ErrDisabled; an
// ended one, or a refresh token of an earlier password, wraps
// authn.ErrBadCredentials. Store failures are returned as they are, except
// for password logins, which fall back to the last account read (or, with
// none, go on without one: the password was right and the store is away).
func (s *Service) Admit(ctx context.Context, id authn.Identity) (authn.Identity, error) {
	return s.admit(ctx, id, time.Time{})
}

// Confirm is Admit reading the account from the store for every identity,
// password logins included (never the cache): what makes a new lasting
// credential (an API token, a refresh token) must not slip through the
// cache's window after a disable or a revocation made elsewhere. Store
// failures are returned as they are.
func (s *Service) Confirm(ctx context.Context, id authn.Identity) (authn.Identity, error) {
	if id.Anonymous() {
		return id, nil
	}
	var acct store.Account
	var err error
	if id.AccountID == "" {
		acct, err = s.Ensure(ctx, id.Name, id.Source)
	} else {
		acct, err = s.bound(ctx, id)
	}
	if err != nil {
		return authn.Identity{}, err
	}
	if err := s.check(acct, id, time.Time{}); err != nil {
		return authn.Identity{}, err
	}
	s.remember(id.Name, acct, s.now())
	return s.fill(id, acct), nil
}

// AdmitToken is Admit for an access token issued at issuedAt: one issued
// before the account's last revoke-tokens is refused too.
func (s *Service) AdmitToken(ctx context.Context, id authn.Identity, issuedAt time.Time) (authn.Identity, error) {
	return s.admit(ctx, id, issuedAt)
}

func (s *Service) admit(ctx context.Context, id authn.Identity, issuedAt time.Time) (authn.Identity, error) {
	if id.Anonymous() {
		return id, nil
	}
	var acct store.Account
	var err error
	if id.AccountID == "" {
		acct = s.cached(ctx, id.Name, id.Source)
	} else {
		acct, err = s.bound(ctx, id)
	}
	if err != nil {
		return authn.Identity{}, err
	}
	if acct.ID == "" { // password login while the store is away
		id.Admin = s.IsAdmin(store.Account{Name: id.Name})
		return id, nil
	}
	if err := s.check(acct, id, issuedAt); err != nil {
		return authn.Identity{}, err
	}
	if id.AccountID == "" {
		acct = s.syncProfile(ctx, acct, id)
	} else {
		var err error
		if acct, err = s.profile(ctx, acct, &id); err != nil {
			return authn.Identity{}, err
		}
	}
	return s.fill(id, acct), nil
}

// profile gives a stored credential's identity the groups and labels its
// user has now, when the user backends can tell them; a backend that
// cannot answer fails the request (503), as it would a password.
//
// The account's type follows the directory's too (its admin group), so an
// administrator taken out of it loses the rights through every credential,
// not only at the next password login.
func (s *Service) profile(ctx context.Context, acct store.Account, id *authn.Identity) (store.Account, error) {
	p, ok := s.Users.(Profiles)
	if !ok || id.Attrs != nil {
		return acct, nil
	}
	attrs, err := p.Profile(ctx, id.Name)
	if err != nil || attrs == nil {
		return acct, err
	}
	id.Attrs = &authn.Attributes{Groups: attrs.Groups, Labels: attrs.Labels}
	if attrs.Type != "" && attrs.Type != acct.Type {
		acct = s.syncProfile(ctx, acct, authn.Identity{Name: id.Name, Source: "directory",
			Attrs: &authn.Attributes{Type: attrs.Type}})
	}
	return acct, nil
}

// syncProfile keeps in acct what the backend that vouched for id says of
// the user (a directory's mail, and its type from the admin group), when
// it differs, so that /v1/account and every admin check read it; the
// change is audited with the backend as its actor. A store that fails
// leaves the account as it was (the login goes on).
func (s *Service) syncProfile(ctx context.Context, acct store.Account, id authn.Identity) store.Account {
	a := id.Attrs
	if a == nil || (a.Email == "" || a.Email == acct.Email) && (a.Type == "" || a.Type == acct.Type) {
		return acct
	}
	var c store.AccountChange
	if a.Email != "" && a.Email != acct.Email && checkProfile(a.Email, acct.Type) == nil {
		c.Email = &a.Email
	}
	if a.Type != "" && a.Type != acct.Type {
		c.Type = &a.Type
	}
	if c.Email == nil && c.Type == nil {
		return acct
	}
	changed, err := s.change(ctx, acct, "("+id.Source+")", audit.UserUpdated, c)
	if err != nil {
		s.logger().WarnContext(ctx, "account not updated from the user backend", "user", acct.Name, "error", err)
		return acct
	}
	s.remember(acct.Name, changed, s.now())
	return changed
}

// fill completes id with what its account says.
func (s *Service) fill(id authn.Identity, acct store.Account) authn.Identity {
	id.AccountID, id.Admin, id.NotBefore = acct.ID, s.IsAdmin(acct), acct.TokensNotBefore
	return id
}

// bound reads the account a stored credential names.
func (s *Service) bound(ctx context.Context, id authn.Identity) (store.Account, error) {
	acct, err := s.Store.Account(ctx, id.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Account{}, fmt.Errorf("accounts: %q was removed: %w", id.Name, authn.ErrBadCredentials)
	case err != nil:
		return store.Account{}, err
	case acct.ID != id.AccountID:
		return store.Account{}, fmt.Errorf("accounts: issued to an earlier account named %q: %w", id.Name, authn.ErrBadCredentials)
	}
	// Users includes the OpenID Connect providers (SourceUsers) for the
	// accounts they made: a UI session of such a user is checked as any.
	if s.Users != nil {
		ok, err := s.Users.Exists(ctx, id.Name)
		if err != nil {
			return store.Account{}, err
		}
		if !ok {
			return store.Account{}, fmt.Errorf("accounts: %q is no longer a user: %w", id.Name, authn.ErrBadCredentials)
		}
	}
	return acct, nil
}

// check applies the account's state, the password epoch and
// TokensNotBefore to id.
func (s *Service) check(acct store.Account, id authn.Identity, issuedAt time.Time) error {
	if !acct.Enabled() {
		return fmt.Errorf("accounts: %q: %w", acct.Name, authn.ErrDisabled)
	}
	if id.Epoch != "" && s.Users != nil {
		if cur := s.Users.Epoch(id.Name); cur != "" && cur != id.Epoch {
			return fmt.Errorf("accounts: issued under an earlier password of %q: %w", id.Name, authn.ErrBadCredentials)
		}
	}
	if !issuedAt.IsZero() && issuedAt.Before(acct.TokensNotBefore) {
		return fmt.Errorf("accounts: issued before the tokens of %q were revoked: %w", id.Name, authn.ErrBadCredentials)
	}
	return nil
}

// IsAdmin reports whether acct is an administrator: of type admin, or
// listed in Admins.
func (s *Service) IsAdmin(acct store.Account) bool {
	return acct.Type == store.AccountAdmin || slices.Contains(s.Admins, acct.Name)
}

// Get returns the account named name, read from the store (ErrNotFound
// wrapped when there is none).
func (s *Service) Get(ctx context.Context, name string) (store.Account, error) {
	return s.Store.Account(ctx, name)
}

// Ensure returns the account named name, creating it (type user, enabled)
// when there is none, of the source given: the user backend that vouched
// for the user (authn.Identity.Source), or "" when none did (an
// administrator's change). An existing account keeps its source. Of
// several replicas creating it at once, one wins and the others read its
// account.
func (s *Service) Ensure(ctx context.Context, name, source string) (store.Account, error) {
	acct, err := s.Store.Account(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return acct, err
	}
	acct = s.newAccount(name, "", store.AccountUser, source)
	err = s.Store.CreateAccount(ctx, acct)
	if errors.Is(err, store.ErrConflict) {
		return s.Store.Account(ctx, name)
	}
	return acct, err
}

func (s *Service) newAccount(name, email, typ, source string) store.Account {
	now := s.now()
	return store.Account{ID: uuid.NewString(), Name: name, Email: email, Type: typ, State: store.AccountEnabled,
		CreatedAt: now, UpdatedAt: now, Source: source}
}

// cached returns name's account for a password login: from the cache while
// fresh, else ensured in the store (of source, when new). A store that does
// not answer is replaced by the last account read, or by none (the zero
// Account).
func (s *Service) cached(ctx context.Context, name, source string) store.Account {
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[name]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < s.CacheTTL {
		return c.acct
	}
	acct, err := s.Ensure(ctx, name, source)
	if err != nil {
		s.warnStoreAway(ctx, now, err)
		return c.acct
	}
	s.remember(name, acct, now)
	return acct
}

func (s *Service) warnStoreAway(ctx context.Context, now time.Time, err error) {
	last := s.lastWarned.Load()
	if now.UnixNano()-last < int64(warnEvery) || !s.lastWarned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	s.logger().WarnContext(ctx, "accounts not readable; password logins go on with the last account known of each user",
		"error", err)
}

func (s *Service) remember(name string, acct store.Account, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil || len(s.cache) >= maxCached {
		s.cache = make(map[string]cachedAccount) // bounded: start over rather than grow
	}
	s.cache[name] = cachedAccount{acct: acct, at: at}
}

// forget drops name from the cache, after a change made here.
func (s *Service) forget(name string) {
	s.mu.Lock()
	delete(s.cache, name)
	s.mu.Unlock()
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Authenticator returns inner with Admit applied to every identity it
// vouches for: the one place a password or an API token meets its account.
func (s *Service) Authenticator(inner authn.Authenticator) authn.Authenticator {
	return gate{inner: inner, s: s}
}

type gate struct {
	inner authn.Authenticator
	s     *Service
}

func (g gate) Authenticate(ctx context.Context, username string, secret authn.Secret) (authn.Identity, error) {
	id, err := g.inner.Authenticate(ctx, username, secret)
	if err != nil {
		return authn.Identity{}, err
	}
	return g.s.Admit(ctx, id)
}
