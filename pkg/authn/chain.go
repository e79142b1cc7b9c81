package authn

import (
	"context"
	"errors"
	"fmt"
)

// ErrLookupUnsupported is returned by Exists when no backend involved can
// look users up.
var ErrLookupUnsupported = errors.New("authn: backend cannot look up users")

// Versioned is a backend whose user data can change. Version goes up every
// time it does (a password change, a user added or removed), so anything
// that remembers a past answer can tell it may be stale.
type Versioned interface {
	Version() uint64
}

// Chain tries its authenticators in order. It falls through to the next one
// on ErrNoSuchUser and stops on anything else: a backend that knows the user
// has the last word (cesanta/docker_auth api/authn.go).
type Chain []Authenticator

var (
	_ Authenticator = Chain(nil)
	_ Lookup        = Chain(nil)
	_ Versioned     = Chain(nil)
)

// Authenticate returns the first success, the first error other than
// ErrNoSuchUser, or ErrNoSuchUser if every member says so.
func (c Chain) Authenticate(ctx context.Context, username string, secret Secret) (Identity, error) {
	for i, a := range c {
		id, err := a.Authenticate(ctx, username, secret)
		if err == nil {
			if err := c[:i].claimed(ctx, username, id.Name); err != nil {
				return Identity{}, err
			}
			return id, nil
		}
		if !errors.Is(err, ErrNoSuchUser) {
			return Identity{}, err
		}
	}
	return Identity{}, fmt.Errorf("user %q: %w", username, ErrNoSuchUser)
}

// claimed refuses a success under name, which the login spelt username,
// when a member before the one that vouched for it knows name: that member
// decides for its user, and was not asked (a directory matches names
// regardless of case, so ALICE, with the directory's alice's password,
// would otherwise log in as the alice of an htpasswd file before it).
func (c Chain) claimed(ctx context.Context, username, name string) error {
	if name == username {
		return nil
	}
	found, err := c.Exists(ctx, name)
	switch {
	case errors.Is(err, ErrLookupUnsupported):
		return nil
	case err != nil:
		return err
	case found:
		return fmt.Errorf("user %q is %q, whom an earlier backend decides: %w", username, name, ErrBadCredentials)
	}
	return nil
}

// Exists reports whether any member that can look users up knows username.
// Members that cannot are skipped; if none can, it returns
// ErrLookupUnsupported. An error from one member does not hide a "yes" from
// another; otherwise the first error is returned.
func (c Chain) Exists(ctx context.Context, username string) (bool, error) {
	var first error
	asked := false
	for _, a := range c {
		l, ok := a.(Lookup)
		if !ok {
			continue
		}
		found, err := l.Exists(ctx, username)
		if errors.Is(err, ErrLookupUnsupported) {
			continue
		}
		asked = true
		if found && err == nil {
			return true, nil
		}
		if err != nil && first == nil {
			first = err
		}
	}
	if !asked {
		return false, ErrLookupUnsupported
	}
	return false, first
}

// Version is the sum of the members' versions. Versions only go up, so the
// sum changes whenever any member's does.
func (c Chain) Version() uint64 {
	var sum uint64
	for _, a := range c {
		if v, ok := a.(Versioned); ok {
			sum += v.Version()
		}
	}
	return sum
}
