package apitoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/store"
)

// Errors the HTTP layer maps to client errors.
var (
	ErrInvalidRole     = errors.New("apitoken: unknown role")                                               // 400
	ErrRoleNotAllowed  = errors.New("apitoken: role not allowed for this user")                             // 403
	ErrTTL             = errors.New("apitoken: ttl_days out of range")                                      // 400
	ErrDescription     = errors.New("apitoken: invalid description")                                        // 400
	ErrInvalidPrefix   = errors.New("apitoken: hash prefix must be 16 lowercase hex")                       // 400
	ErrNotFound        = errors.New("apitoken: no such token")                                              // 404
	ErrAmbiguousPrefix = errors.New("apitoken: hash prefix matches several tokens")                         // 409
	ErrTooMany         = errors.New("apitoken: too many live tokens")                                       // 409
	ErrNoAccount       = fmt.Errorf("apitoken: the owner's account is not known: %w", store.ErrUnavailable) // 503
)

// MaxDescription bounds a token's description, in bytes.
const MaxDescription = 256

// Defaults used when a Limits field is zero.
const (
	DefaultTTLDays    = 30
	DefaultMaxTTL     = 365
	DefaultMaxPerUser = 100
)

// DefaultFlushEvery is how often Run writes last-used times.
const DefaultFlushEvery = 30 * time.Second

// Limits bound the lifetime of new tokens, in days, and how many live
// tokens (neither revoked nor expired) a user may hold.
type Limits struct {
	DefaultTTLDays   int            // when the request names none; 0 means DefaultTTLDays
	MaxTTLDays       int            // for every role; 0 means DefaultMaxTTL
	MaxTTLDaysByRole map[string]int // lower maxima for some roles
	MaxPerUser       int            // live tokens per user; 0 means DefaultMaxPerUser
}

// Tokens creates, lists, revokes and verifies API tokens over a store. Use
// it by pointer; the zero value of each optional field is usable.
type Tokens struct {
	Store  store.APITokens
	Limits Limits
	Audit  Auditor // optional: records creations and revocations
	// Accounts, when set, confirms the owner's account in the store before
	// a token is made (accounts.Service.Confirm), whatever a cache said.
	Accounts Confirmer

	Now        func() time.Time // nil means time.Now
	FlushEvery time.Duration    // how often Run writes last-used times; 0 means DefaultFlushEvery
	Logger     *slog.Logger     // flush and audit-write failures; nil discards
	// Revoked, when set, is called after a token is revoked: what
	// remembers grants (token reuse) forgets them.
	Revoked func()

	mu   sync.Mutex
	used map[string]time.Time // hash → latest use not yet written
}

// Confirmer checks an identity against its account in the store.
type Confirmer interface {
	Confirm(ctx context.Context, id authn.Identity) (authn.Identity, error)
}

// Auditor stores audit events before the reply (audit.Recorder.Write).
type Auditor interface {
	Write(ctx context.Context, ev store.AuditEvent) error
}

// Create mints a token for owner, an authenticated password user with an
// account. An empty role means read; ttlDays 0 means the default, capped at
// the role's maximum. Only an admin (owner.Admin) gets an admin token. It
// returns the token, to be shown once, and its record.
func (t *Tokens) Create(ctx context.Context, owner authn.Identity, role string, ttlDays int, description string) (string, store.APIToken, error) {
	if role == "" {
		role = authz.RoleRead
	}
	if !authz.ValidRole(role) {
		return "", store.APIToken{}, fmt.Errorf("%w %q: want read, write or admin", ErrInvalidRole, role)
	}
	if role == authz.RoleAdmin && !owner.Admin {
		return "", store.APIToken{}, fmt.Errorf("%w: only admin users may create admin tokens", ErrRoleNotAllowed)
	}
	ttl, err := t.ttlDays(role, ttlDays)
	if err != nil {
		return "", store.APIToken{}, err
	}
	if len(description) > MaxDescription || !utf8.ValidString(description) {
		return "", store.APIToken{}, fmt.Errorf("%w: at most %d bytes of UTF-8", ErrDescription, MaxDescription)
	}
	if t.Accounts != nil {
		if owner, err = t.Accounts.Confirm(ctx, owner); err != nil {
			return "", store.APIToken{}, err
		}
	}
	if owner.AccountID == "" {
		return "", store.APIToken{}, ErrNoAccount
	}
	raw := Generate()
	now := t.now()
	rec := store.APIToken{
		Hash:        Hash(raw),
		Owner:       owner.Name,
		AccountID:   owner.AccountID,
		Role:        role,
		Description: description,
		CreatedAt:   now,
		ExpiresAt:   now.Add(time.Duration(ttl) * 24 * time.Hour),
	}
	err = t.Store.CreateAPIToken(ctx, rec, t.maxPerUser())
	if errors.Is(err, store.ErrLimit) {
		return "", store.APIToken{}, fmt.Errorf("%w: at most %d per user; revoke one first", ErrTooMany, t.maxPerUser())
	}
	if err != nil {
		return "", store.APIToken{}, fmt.Errorf("create API token: %w", err)
	}
	t.record(ctx, audit.APITokenCreated, owner.Name, rec)
	return raw, rec, nil
}

func (t *Tokens) maxPerUser() int {
	if t.Limits.MaxPerUser > 0 {
		return t.Limits.MaxPerUser
	}
	return DefaultMaxPerUser
}

// ttlDays applies the limits to a requested lifetime.
func (t *Tokens) ttlDays(role string, requested int) (int, error) {
	maxDays := t.Limits.MaxTTLDays
	if maxDays <= 0 {
		maxDays = DefaultMaxTTL
	}
	if m, ok := t.Limits.MaxTTLDaysByRole[role]; ok && m > 0 {
		maxDays = min(maxDays, m)
	}
	switch {
	case requested < 0 || requested > maxDays:
		return 0, fmt.Errorf("%w: %d; %s tokens live 1 to %d days", ErrTTL, requested, role, maxDays)
	case requested > 0:
		return requested, nil
	}
	def := t.Limits.DefaultTTLDays
	if def <= 0 {
		def = DefaultTTLDays
	}
	return min(def, maxDays), nil
}

// List returns a page of owner's tokens, oldest first, expired and revoked
// ones included: those of owner's account, not of an earlier user of the
// name.
func (t *Tokens) List(ctx context.Context, owner authn.Identity, page store.Page) ([]store.APIToken, error) {
	if owner.AccountID == "" {
		return nil, ErrNoAccount // "" would list everyone's
	}
	return t.list(ctx, owner.AccountID, page)
}

// ListAll returns a page of every user's tokens, for admins.
func (t *Tokens) ListAll(ctx context.Context, page store.Page) ([]store.APIToken, error) {
	return t.list(ctx, "", page)
}

func (t *Tokens) list(ctx context.Context, accountID string, page store.Page) ([]store.APIToken, error) {
	toks, err := t.Store.ListAPITokens(ctx, accountID, page)
	if err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	return toks, nil
}

// Revoke revokes the token whose hash starts with prefix for caller. Unless
// the caller acts as an admin, it must be of the caller's account: another
// user's token is ErrNotFound, as is an unknown one (or one of an earlier
// user of the name), so a caller learns nothing about tokens that are not
// theirs. Revoking a revoked token succeeds and keeps the first revocation
// time.
func (t *Tokens) Revoke(ctx context.Context, caller authn.Identity, prefix string) (store.APIToken, error) {
	if !ValidHashPrefix(prefix) {
		return store.APIToken{}, ErrInvalidPrefix // not echoed: it may be a token pasted by mistake
	}
	filter := caller.AccountID
	if caller.ActsAsAdmin() {
		filter = ""
	} else if filter == "" {
		return store.APIToken{}, ErrNotFound
	}
	rec, err := t.Store.RevokeAPIToken(ctx, prefix, filter, t.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.APIToken{}, fmt.Errorf("%w: %s", ErrNotFound, prefix)
	case errors.Is(err, store.ErrConflict):
		return store.APIToken{}, fmt.Errorf("%w: %s", ErrAmbiguousPrefix, prefix)
	case err != nil:
		return store.APIToken{}, fmt.Errorf("revoke API token: %w", err)
	}
	if t.Revoked != nil {
		t.Revoked()
	}
	t.record(ctx, audit.APITokenRevoked, caller.Name, rec)
	return rec, nil
}

// record audits a change to rec made by actor before the caller replies;
// only the hash prefix identifies the token. The change itself is already
// committed, so a failed audit write is logged rather than undoing it.
func (t *Tokens) record(ctx context.Context, kind, actor string, rec store.APIToken) {
	if t.Audit == nil {
		return
	}
	err := t.Audit.Write(ctx, store.AuditEvent{
		Kind:    kind,
		Subject: actor,
		Detail: fmt.Sprintf("hash_prefix=%s owner=%s role=%s expires=%s",
			HashPrefix(rec.Hash), rec.Owner, rec.Role, rec.ExpiresAt.UTC().Format(time.RFC3339)),
	})
	if err != nil && t.Logger != nil {
		t.Logger.ErrorContext(ctx, "audit write failed", "kind", kind, "hash_prefix", HashPrefix(rec.Hash), "error", err)
	}
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}
