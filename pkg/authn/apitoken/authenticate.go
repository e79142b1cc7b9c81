package apitoken

import (
	"context"
	"errors"
	"fmt"

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

// Authenticate verifies an API token given as the password.
//
// A secret that does not look like a token is ErrNoSuchUser, so an
// authn.Chain falls through to the password backends. A well-formed token
// that is unknown, expired or revoked, whose owner no longer exists, or sent
// with a username other than Username or its owner's is ErrBadCredentials
// (the chain stops: a token is never tried as a password). Store and lookup
// failures are returned as they are. Nothing is cached; the use is noted for
// the next Flush.
func (t *Tokens) Authenticate(ctx context.Context, username string, secret authn.Secret) (authn.Identity, error) {
	// 1. Only strings of the token form are ours.
	if !LooksLike(string(secret)) {
		return authn.Identity{}, fmt.Errorf("not an API token: %w", authn.ErrNoSuchUser)
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
		return authn.Identity{}, fmt.Errorf("API token %s sent as user %q: %w", prefix, username, authn.ErrBadCredentials)
	}
	now := t.now()
	if !rec.Usable(now) {
		return authn.Identity{}, fmt.Errorf("API token %s expired or revoked: %w", prefix, authn.ErrBadCredentials)
	}
	if !authz.ValidRole(rec.Role) {
		return authn.Identity{}, fmt.Errorf("API token %s has unknown role %q: %w", prefix, rec.Role, authn.ErrBadCredentials)
	}
	// 4. Its owner must still be a user.
	if t.Users != nil {
		ok, err := t.Users.Exists(ctx, rec.Owner)
		if err != nil {
			return authn.Identity{}, fmt.Errorf("API token owner lookup: %w", err)
		}
		if !ok {
			return authn.Identity{}, fmt.Errorf("API token %s: owner no longer exists: %w", prefix, authn.ErrBadCredentials)
		}
	}
	// 5. Note the use for the next batch.
	t.touch(hash, now)
	return authn.Identity{Name: rec.Owner, Source: Source, Role: rec.Role}, nil
}
