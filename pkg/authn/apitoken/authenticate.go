package apitoken

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/store"
)

// Username is the account name a client may send with any token
// (`docker login -u token -p tg_…`); the owner's own name works too.
const Username = "token"

// Source is the Identity.Source of token callers.
const Source = "apitoken"

var _ authn.Authenticator = (*Tokens)(nil)

// errNotAToken is the answer to a secret that is no API token, made once.
var errNotAToken = fmt.Errorf("not an API token: %w", authn.ErrNoSuchUser)

// Authenticate verifies an API token given as the password.
//
// A secret that does not look like a token is ErrNoSuchUser, so an
// authn.Chain falls through to the password backends. A well-formed token
// that is unknown, expired or revoked, or sent with a username other than
// Username or its owner's is ErrBadCredentials (the chain stops: a token is
// never tried as a password). Store failures are returned as they are.
// Nothing is cached; the use is noted for the next Flush.
//
// The identity names the account the token was issued to (AccountID):
// accounts.Service.Admit, which every caller runs next, refuses it when
// that account is gone, disabled or no longer a user.
func (t *Tokens) Authenticate(ctx context.Context, username string, secret authn.Secret) (authn.Identity, error) {
	// 1. Only strings of the token form are ours.
	if !LooksLike(string(secret)) {
		return authn.Identity{}, errNotAToken // every password login passes here: no allocation
	}
	// 2. Look it up: one indexed read, every time.
	hash := Hash(string(secret))
	rec, err := t.Store.APIToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return authn.Identity{}, fmt.Errorf("unknown API token: %w", authn.ErrBadCredentials)
	}
	if err != nil {
		return authn.Identity{}, fmt.Errorf("API token lookup: %w", err)
	}
	// 3. Check who may send it and whether it is still good.
	prefix := HashPrefix(hash)
	if username != Username && username != rec.Owner {
		return authn.Identity{}, fmt.Errorf("API token %s sent under another user name: %w", prefix, authn.ErrBadCredentials)
	}
	now := t.now()
	if err := usable(rec, now); err != nil {
		return authn.Identity{}, err
	}
	// 4. Note the use for the next batch.
	t.touch(hash, now)
	return Identity(rec), nil
}

// usable refuses an expired or revoked token, or one of an unknown role.
func usable(rec store.APIToken, now time.Time) error {
	prefix := HashPrefix(rec.Hash)
	if !rec.Usable(now) {
		return fmt.Errorf("API token %s expired or revoked: %w", prefix, authn.ErrBadCredentials)
	}
	if !authz.ValidRole(rec.Role) {
		return fmt.Errorf("API token %s has unknown role %q: %w", prefix, rec.Role, authn.ErrBadCredentials)
	}
	return nil
}

// Lookup returns the record of a good token (as Authenticate would accept
// it, with any user name) without noting a use: for introspection. Refusals
// wrap authn.ErrBadCredentials; store failures are returned as they are.
func (t *Tokens) Lookup(ctx context.Context, raw string) (store.APIToken, error) {
	if !LooksLike(raw) {
		return store.APIToken{}, fmt.Errorf("not an API token: %w", authn.ErrBadCredentials)
	}
	rec, err := t.Store.APIToken(ctx, Hash(raw))
	if errors.Is(err, store.ErrNotFound) {
		return store.APIToken{}, fmt.Errorf("unknown API token: %w", authn.ErrBadCredentials)
	}
	if err != nil {
		return store.APIToken{}, fmt.Errorf("API token lookup: %w", err)
	}
	return rec, usable(rec, t.now())
}

// Identity is who the token rec stands for, before accounts.Service.Admit.
func Identity(rec store.APIToken) authn.Identity {
	return authn.Identity{Kind: authn.KindAPIToken, Name: rec.Owner, Source: Source, Role: rec.Role, AccountID: rec.AccountID, TokenID: HashPrefix(rec.Hash)}
}

// Check tells whether the token whose hash prefix is tokenID is still
// good (what was minted from it, such as an engine token, lives only as
// long): nil, or an error wrapping authn.ErrBadCredentials. Store failures
// are returned as they are.
func (t *Tokens) Check(ctx context.Context, tokenID string) error {
	if !ValidHashPrefix(tokenID) {
		return fmt.Errorf("malformed API token reference: %w", authn.ErrBadCredentials)
	}
	rec, err := t.Store.FindAPIToken(ctx, tokenID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("API token %s: %w", tokenID, authn.ErrBadCredentials)
	}
	if err != nil {
		return fmt.Errorf("API token lookup: %w", err)
	}
	return usable(rec, t.now())
}
