package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
)

// RefreshPrefix marks engine refresh tokens (tgr_ marks Docker identity
// tokens), so that secret scanners spot them and the two never mix.
const RefreshPrefix = "tge_"

// DefaultRefreshTTL is the lifetime of a refresh token family.
const DefaultRefreshTTL = 720 * time.Hour

// ErrRefreshInvalid means a refresh token is unknown, malformed, expired,
// revoked, already used (then its family is revoked), issued to another
// client, or its user is gone. The caller answers invalid_grant.
var ErrRefreshInvalid = errors.New("engine: refresh token invalid")

// Refreshes issues and rotates the refresh tokens of the Engine API. Each
// password grant starts a family; each use marks the token used and issues
// the next one of its family; a used token presented again revokes the whole
// family (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP §4.14.2), so of a
// thief and the client, whoever comes second stops both. A family ends
// TTL after the password grant: rotation does not extend it.
type Refreshes struct {
	Store store.EngineRefreshTokens
	TTL   time.Duration    // 0 means DefaultRefreshTTL
	Now   func() time.Time // nil means time.Now
}

// RefreshIssued is a new refresh token: Raw goes to the client once.
type RefreshIssued struct {
	Raw       string
	FamilyID  string
	ExpiresAt time.Time
}

// Start issues the first token of a new family for id, bound to its
// account and password epoch.
func (r *Refreshes) Start(ctx context.Context, id authn.Identity, clientID string) (RefreshIssued, error) {
	if id.AccountID == "" {
		return RefreshIssued{}, ErrNoAccount
	}
	family, err := newID()
	if err != nil {
		return RefreshIssued{}, err
	}
	now := r.now()
	return r.create(ctx, store.EngineRefreshToken{FamilyID: family, Subject: id.Name, AccountID: id.AccountID,
		Epoch: id.Epoch, ClientID: clientID, CreatedAt: now, ExpiresAt: now.Add(r.ttl())})
}

// Rotate uses raw, for clientID: it is marked used and the next token of
// its family is issued. It returns the used token's record (who it stands
// for) and the new token. A token used before revokes its family. Every
// refusal wraps ErrRefreshInvalid; store failures are returned as they are.
func (r *Refreshes) Rotate(ctx context.Context, raw, clientID string) (store.EngineRefreshToken, RefreshIssued, error) {
	if !LooksLikeRefresh(raw) {
		return store.EngineRefreshToken{}, RefreshIssued{}, fmt.Errorf("%w: not an engine refresh token", ErrRefreshInvalid)
	}
	now := r.now()
	rec, err := r.Store.UseEngineRefreshToken(ctx, refresh.Hash(raw), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.EngineRefreshToken{}, RefreshIssued{}, fmt.Errorf("%w: unknown", ErrRefreshInvalid)
	case errors.Is(err, store.ErrConflict):
		if _, err := r.Store.RevokeEngineRefreshFamily(ctx, rec.FamilyID, now); err != nil {
			return store.EngineRefreshToken{}, RefreshIssued{}, err
		}
		return store.EngineRefreshToken{}, RefreshIssued{}, fmt.Errorf("%w: already used; its family is revoked", ErrRefreshInvalid)
	case err != nil:
		return store.EngineRefreshToken{}, RefreshIssued{}, err
	}
	if !rec.RevokedAt.IsZero() || !now.Before(rec.ExpiresAt) {
		return store.EngineRefreshToken{}, RefreshIssued{}, fmt.Errorf("%w: expired or revoked", ErrRefreshInvalid)
	}
	if rec.ClientID != clientID {
		// RFC 6749 §6: the token is bound to the client it was issued to.
		return store.EngineRefreshToken{}, RefreshIssued{}, fmt.Errorf("%w: issued to another client", ErrRefreshInvalid)
	}
	next, err := r.create(ctx, store.EngineRefreshToken{FamilyID: rec.FamilyID, Subject: rec.Subject,
		AccountID: rec.AccountID, Epoch: rec.Epoch, ClientID: rec.ClientID, CreatedAt: now, ExpiresAt: rec.ExpiresAt})
	if err != nil {
		return store.EngineRefreshToken{}, RefreshIssued{}, err
	}
	return rec, next, nil
}

// Lookup returns the record of raw, or an error wrapping store.ErrNotFound
// when raw is not an engine refresh token we know. It does not check
// that the token is usable.
func (r *Refreshes) Lookup(ctx context.Context, raw string) (store.EngineRefreshToken, error) {
	if !LooksLikeRefresh(raw) {
		return store.EngineRefreshToken{}, fmt.Errorf("engine refresh token: %w", store.ErrNotFound)
	}
	return r.Store.EngineRefreshToken(ctx, refresh.Hash(raw))
}

// RevokeFamily revokes every token of the family (RFC 7009 §2.1: revoking a
// refresh token may revoke the tokens of the same grant).
func (r *Refreshes) RevokeFamily(ctx context.Context, familyID string) error {
	_, err := r.Store.RevokeEngineRefreshFamily(ctx, familyID, r.now())
	return err
}

// Usable reports whether rec is good at the clock's now.
func (r *Refreshes) Usable(rec store.EngineRefreshToken) bool { return rec.Usable(r.now()) }

// LooksLikeRefresh reports whether raw has the shape of an engine refresh token.
func LooksLikeRefresh(raw string) bool {
	return strings.HasPrefix(raw, RefreshPrefix) && len(raw) <= 256
}

func (r *Refreshes) create(ctx context.Context, rec store.EngineRefreshToken) (RefreshIssued, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return RefreshIssued{}, fmt.Errorf("engine: refresh token: %w", err)
	}
	raw := RefreshPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	rec.Hash = refresh.Hash(raw)
	if err := r.Store.CreateEngineRefreshToken(ctx, rec); err != nil {
		return RefreshIssued{}, fmt.Errorf("engine: issue refresh token: %w", err)
	}
	return RefreshIssued{Raw: raw, FamilyID: rec.FamilyID, ExpiresAt: rec.ExpiresAt}, nil
}

func (r *Refreshes) ttl() time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return DefaultRefreshTTL
}

func (r *Refreshes) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// admitRefresh checks the account of the family raw belongs to; an ended
// account, or a family of an earlier password, revokes the family.
func (s *Service) admitRefresh(ctx context.Context, raw string) (authn.Identity, error) {
	rec, err := s.Refresh.Lookup(ctx, raw)
	if errors.Is(err, store.ErrNotFound) {
		return authn.Identity{}, fmt.Errorf("%w: unknown", ErrRefreshInvalid)
	}
	if err != nil {
		return authn.Identity{}, err
	}
	id, err := s.Accounts.Admit(ctx, authn.Identity{Name: rec.Subject, Source: RefreshSource,
		AccountID: rec.AccountID, Epoch: rec.Epoch})
	if errors.Is(err, authn.ErrBadCredentials) {
		if err := s.Refresh.RevokeFamily(ctx, rec.FamilyID); err != nil {
			return authn.Identity{}, err
		}
		return authn.Identity{}, fmt.Errorf("%w: %v", ErrRefreshInvalid, err)
	}
	return id, err
}

// RefreshSource is the Identity.Source of an identity a refresh token
// stands for.
const RefreshSource = "engine_refresh_token"

// StartRefresh issues the refresh token of a password grant: only to a
// password user, never to an identity with a Role (an API token), whose
// tokens must not outlive its revocation (as pkg/grant rules for Docker
// identity tokens). ok is false when none is issued.
func (s *Service) StartRefresh(ctx context.Context, req Request) (issued RefreshIssued, ok bool, err error) {
	if s.Refresh == nil || req.Identity.Anonymous() || req.Identity.Role != "" {
		return RefreshIssued{}, false, nil
	}
	id, err := s.Accounts.Confirm(ctx, req.Identity)
	if err != nil {
		return RefreshIssued{}, false, err
	}
	issued, err = s.Refresh.Start(ctx, id, req.ClientID)
	if err != nil {
		return RefreshIssued{}, false, err
	}
	return issued, true, nil
}

// RefreshGrant serves grant_type=refresh_token (RFC 6749 §6): it rotates
// raw, checks the account the family was issued to (Accounts.Admit: an
// ended account, or an earlier password, revokes the family) and mints an
// access token for it, audited like Issue. Refusals wrap
// ErrRefreshInvalid; a disabled account is authn.ErrDisabled (the family
// stays, for when it is enabled again).
func (s *Service) RefreshGrant(ctx context.Context, raw string, req Request) (Token, RefreshIssued, error) {
	if s.Refresh == nil {
		return Token{}, RefreshIssued{}, fmt.Errorf("%w: refresh tokens are off", ErrRefreshInvalid)
	}
	// The account first: a disabled one must keep its unused token.
	id, err := s.admitRefresh(ctx, raw)
	if err != nil {
		return Token{}, RefreshIssued{}, err
	}
	_, next, err := s.Refresh.Rotate(ctx, raw, req.ClientID)
	if err != nil {
		return Token{}, RefreshIssued{}, err
	}
	req.Identity = id
	tok, err := s.Tokens.Mint(req.Identity, nil)
	if err != nil {
		return Token{}, RefreshIssued{}, err
	}
	s.record(audit.TokenIssued, req, auditDetail+": refresh")
	return tok, next, nil
}
