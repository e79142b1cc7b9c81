package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
)

// FamilyPrefix marks the Engine API's rotating refresh tokens (Prefix marks
// Docker identity tokens), so that secret scanners spot them and the two
// never mix.
const FamilyPrefix = "tge_"

// DefaultFamilyTTL is the lifetime of a refresh token family.
const DefaultFamilyTTL = 720 * time.Hour

// Families issues and rotates rotating refresh tokens. Each password grant
// starts a family; each use marks the token used and issues the next one of
// its family; a used token presented again revokes the whole family (RFC
// 6819 §5.2.2.3, OAuth 2.0 Security BCP §4.14.2), so of a thief and the
// client, whoever comes second stops both. A family ends TTL after the
// password grant: rotation does not extend it.
type Families struct {
	Store store.EngineRefreshTokens
	TTL   time.Duration    // 0 means DefaultFamilyTTL
	Now   func() time.Time // nil means time.Now
}

// FamilyIssued is a new token of a family: Raw goes to the client once.
type FamilyIssued struct {
	Raw       string
	FamilyID  string
	ExpiresAt time.Time
}

// Start issues the first token of a new family for id, bound to its
// account, its password epoch and clientID.
func (f *Families) Start(ctx context.Context, id authn.Identity, clientID string) (FamilyIssued, error) {
	if id.AccountID == "" {
		return FamilyIssued{}, ErrNoAccount
	}
	family, err := token.NewID()
	if err != nil {
		return FamilyIssued{}, err
	}
	now := f.now()
	return f.create(ctx, store.EngineRefreshToken{FamilyID: family, Subject: id.Name, AccountID: id.AccountID,
		Epoch: id.Epoch, ClientID: clientID, CreatedAt: now, ExpiresAt: now.Add(f.ttl())})
}

// Rotate uses raw, for clientID: it is marked used and the next token of
// its family is issued. A token used before revokes its family. Every
// refusal wraps ErrInvalid; store failures are returned as they are.
func (f *Families) Rotate(ctx context.Context, raw, clientID string) (FamilyIssued, error) {
	if !LooksLikeFamily(raw) {
		return FamilyIssued{}, fmt.Errorf("%w: not an engine refresh token", ErrInvalid)
	}
	now := f.now()
	rec, err := f.Store.UseEngineRefreshToken(ctx, Hash(raw), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return FamilyIssued{}, fmt.Errorf("%w: unknown", ErrInvalid)
	case errors.Is(err, store.ErrConflict):
		if _, err := f.Store.RevokeEngineRefreshFamily(ctx, rec.FamilyID, now); err != nil {
			return FamilyIssued{}, err
		}
		return FamilyIssued{}, fmt.Errorf("%w: already used; its family is revoked", ErrInvalid)
	case err != nil:
		return FamilyIssued{}, err
	}
	if !rec.RevokedAt.IsZero() || !now.Before(rec.ExpiresAt) {
		return FamilyIssued{}, fmt.Errorf("%w: expired or revoked", ErrInvalid)
	}
	if rec.ClientID != clientID {
		// RFC 6749 §6: the token is bound to the client it was issued to.
		return FamilyIssued{}, fmt.Errorf("%w: issued to another client", ErrInvalid)
	}
	rec.CreatedAt = now
	return f.create(ctx, rec)
}

// Lookup returns the record of raw, or an error wrapping store.ErrNotFound
// when raw is not a token of a family we know. It does not check that the
// token is usable.
func (f *Families) Lookup(ctx context.Context, raw string) (store.EngineRefreshToken, error) {
	if !LooksLikeFamily(raw) {
		return store.EngineRefreshToken{}, fmt.Errorf("engine refresh token: %w", store.ErrNotFound)
	}
	return f.Store.EngineRefreshToken(ctx, Hash(raw))
}

// RevokeFamily revokes every token of the family (RFC 7009 §2.1: revoking a
// refresh token may revoke the tokens of the same grant).
func (f *Families) RevokeFamily(ctx context.Context, familyID string) error {
	_, err := f.Store.RevokeEngineRefreshFamily(ctx, familyID, f.now())
	return err
}

// Usable reports whether rec is good at the clock's now.
func (f *Families) Usable(rec store.EngineRefreshToken) bool { return rec.Usable(f.now()) }

// LooksLikeFamily reports whether raw has the shape of a family's token.
func LooksLikeFamily(raw string) bool { return looksLike(raw, FamilyPrefix) }

// create stores a new token of rec's family (its hash, its times) and
// returns it.
func (f *Families) create(ctx context.Context, rec store.EngineRefreshToken) (FamilyIssued, error) {
	raw, err := newRaw(FamilyPrefix)
	if err != nil {
		return FamilyIssued{}, err
	}
	rec.Hash, rec.UsedAt, rec.RevokedAt = Hash(raw), time.Time{}, time.Time{}
	if err := f.Store.CreateEngineRefreshToken(ctx, rec); err != nil {
		return FamilyIssued{}, fmt.Errorf("issue engine refresh token: %w", err)
	}
	return FamilyIssued{Raw: raw, FamilyID: rec.FamilyID, ExpiresAt: rec.ExpiresAt}, nil
}

func (f *Families) ttl() time.Duration {
	if f.TTL > 0 {
		return f.TTL
	}
	return DefaultFamilyTTL
}

func (f *Families) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}
