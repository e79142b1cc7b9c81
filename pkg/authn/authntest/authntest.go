// Package authntest is an authenticator backend for tests: users with
// passwords and groups, held in memory. It answers as a real backend does:
// authn.ErrNoSuchUser for a name it does not know (a Chain falls
// through), authn.ErrBadCredentials for a wrong password (a Chain stops).
package authntest

import (
	"context"
	"crypto/subtle"

	"github.com/tollgate/tollgate/pkg/authn"
)

// User is one user of a Static backend.
type User struct {
	Password string
	Groups   []string
}

// Static is a backend of fixed users, vouching for them as Source.
type Static struct {
	Source string
	Users  map[string]User
}

var (
	_ authn.Authenticator = Static{}
	_ authn.Lookup        = Static{}
)

// Authenticate implements authn.Authenticator.
func (s Static) Authenticate(_ context.Context, name string, secret authn.Secret) (authn.Identity, error) {
	u, ok := s.Users[name]
	switch {
	case !ok:
		return authn.Identity{}, authn.ErrNoSuchUser
	case subtle.ConstantTimeCompare([]byte(u.Password), []byte(secret)) != 1:
		return authn.Identity{}, authn.ErrBadCredentials
	}
	id := authn.Identity{Kind: authn.KindUser, Name: name, Source: s.Source}
	if len(u.Groups) > 0 {
		id.Attrs = &authn.Attributes{Groups: u.Groups}
	}
	return id, nil
}

// Exists implements authn.Lookup.
func (s Static) Exists(_ context.Context, name string) (bool, error) {
	_, ok := s.Users[name]
	return ok, nil
}

// Epoch is "": the backend keeps no password versions.
func (Static) Epoch(string) string { return "" }
