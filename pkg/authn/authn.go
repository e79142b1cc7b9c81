package authn

import (
	"context"
	"errors"
	"log/slog"
)

// Sentinel errors. A Chain falls through on ErrNoSuchUser and stops on
// ErrBadCredentials (a backend that knows the user has the last word).
var (
	ErrNoSuchUser     = errors.New("authn: no such user")
	ErrBadCredentials = errors.New("authn: wrong credentials")
)

// Secret is a credential (password, token). It never prints itself.
type Secret string

// String hides the secret from fmt and logs.
func (Secret) String() string { return "***" }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return "***" }

// LogValue hides the secret from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("***") }

// Identity is who a request authenticated as. The zero Identity is anonymous.
type Identity struct {
	Name   string // account name; empty for anonymous
	Source string // backend that vouched for it, e.g. "htpasswd"
	Role   string // when set, caps what the identity may do (API token roles: read, write, admin)
}

// Anonymous reports whether the identity is the anonymous caller.
func (id Identity) Anonymous() bool { return id.Name == "" }

// Authenticator verifies a username and secret.
//
// It returns ErrNoSuchUser when the user is unknown to this backend and
// ErrBadCredentials when the user is known but the secret is wrong; any other
// error is an internal failure.
type Authenticator interface {
	Authenticate(ctx context.Context, username string, secret Secret) (Identity, error)
}

// Lookup tells whether an account still exists, without a secret. Refresh
// tokens use it so a removed user's tokens stop working.
type Lookup interface {
	Exists(ctx context.Context, username string) (bool, error)
}
