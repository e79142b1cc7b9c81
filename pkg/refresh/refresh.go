package refresh

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
)

// Prefix marks Tollgate refresh tokens so secret scanners can spot them.
const Prefix = "tgr_"

// ErrInvalid means the token is unknown, expired, revoked or malformed. The
// caller answers invalid_grant; the reason stays in the wrapped message.
var ErrInvalid = errors.New("refresh token invalid")

// Issued is a new token: Raw goes to the client once, never stored.
type Issued struct {
	Raw       string
	ExpiresAt time.Time
}

// Tokens issues and redeems refresh tokens over a store.
type Tokens struct {
	Store store.RefreshTokens
	TTL   time.Duration
	Now   func() time.Time // nil means time.Now
}

// ErrNoAccount: the subject's account is not known (the store was away
// when it logged in), so no token can be bound to it. It is
// store.ErrUnavailable: try again later.
var ErrNoAccount = fmt.Errorf("refresh token: the account is not known: %w", store.ErrUnavailable)

// Issue creates a token for the identity, bound to its account and to the
// epoch of the password it proved; a workload's, to the trust rule that
// vouched for it and the claims it carried (Binding).
func (t *Tokens) Issue(ctx context.Context, id authn.Identity, clientID, service string) (Issued, error) {
	binding, err := bindingOf(id)
	if err != nil {
		return Issued{}, err
	}
	if id.AccountID == "" && binding == "" {
		return Issued{}, ErrNoAccount
	}
	raw, err := newRaw(Prefix)
	if err != nil {
		return Issued{}, err
	}
	now := t.now()
	rec := store.RefreshToken{
		Hash: Hash(raw), Subject: id.Name, AccountID: id.AccountID, Epoch: id.Epoch,
		ClientID: clientID, Service: service, Binding: binding, CreatedAt: now, ExpiresAt: now.Add(t.TTL),
	}
	if err := t.Store.CreateRefreshToken(ctx, rec); err != nil {
		return Issued{}, fmt.Errorf("issue refresh token: %w", err)
	}
	return Issued{Raw: raw, ExpiresAt: rec.ExpiresAt}, nil
}

// Redeem returns the stored record of a usable token, or an error wrapping
// ErrInvalid. Store failures are returned as they are (not ErrInvalid).
func (t *Tokens) Redeem(ctx context.Context, raw string) (store.RefreshToken, error) {
	if !looksLike(raw, Prefix) {
		return store.RefreshToken{}, fmt.Errorf("%w: not a Tollgate refresh token", ErrInvalid)
	}
	rec, err := t.Store.RefreshToken(ctx, Hash(raw))
	if errors.Is(err, store.ErrNotFound) {
		return store.RefreshToken{}, fmt.Errorf("%w: unknown", ErrInvalid)
	}
	if err != nil {
		return store.RefreshToken{}, err
	}
	if !rec.Usable(t.now()) {
		return store.RefreshToken{}, fmt.Errorf("%w: expired or revoked", ErrInvalid)
	}
	return rec, nil
}

// Revoke revokes the token; unknown tokens are not an error (RFC 7009 §2.2).
func (t *Tokens) Revoke(ctx context.Context, raw string) error {
	err := t.Store.RevokeRefreshToken(ctx, Hash(raw), t.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// Hash is the stored form of a token: hex SHA-256.
func Hash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// newRaw returns prefix + 256 random bits, base64url.
func newRaw(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("refresh token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// looksLike reports whether raw has the shape of a token with prefix.
func looksLike(raw, prefix string) bool {
	return strings.HasPrefix(raw, prefix) && len(raw) <= 256
}
