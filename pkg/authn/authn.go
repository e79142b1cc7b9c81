package authn

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/verify"
)

// Sentinel errors. A Chain falls through on ErrNoSuchUser and stops on
// ErrBadCredentials (a backend that knows the user has the last word).
var (
	ErrNoSuchUser     = errors.New("authn: no such user")
	ErrBadCredentials = errors.New("authn: wrong credentials")
	// ErrDisabled: the credentials are right, but the account is disabled
	// (`tollgate users disable`). Only a caller who proved them learns it.
	ErrDisabled = errors.New("authn: account disabled")
	// ErrUnavailable: the backend cannot decide now (an identity-token
	// issuer or a directory that does not answer). Callers answer 503 or
	// temporarily_unavailable, never "wrong password", and charge no
	// failure to anyone.
	ErrUnavailable = errors.New("authn: backend unavailable")
)

// Secret is a credential (password, token). It never prints itself.
type Secret string

// String hides the secret from fmt and logs.
func (Secret) String() string { return "***" }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return "***" }

// LogValue hides the secret from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("***") }

// Kinds of caller (Identity.Kind). Users (and their API tokens) and
// registered clients live in separate namespaces: a name is one or the
// other (`tollgate clients add` refuses a user's name).
const (
	KindUser     = verify.KindUser     // a user with a password (htpasswd, a directory)
	KindAPIToken = verify.KindAPIToken // a user's API token, capped by its role
	KindClient   = verify.KindClient   // a registered client (client_credentials)
	KindWorkload = verify.KindWorkload // a CI job or pod vouched for by a federated issuer
)

// Identity is who a request authenticated as: one value for every kind of
// caller, carried into every token minted for it (Claim). The zero
// Identity is anonymous.
type Identity struct {
	Kind   string // KindUser, KindAPIToken, KindClient, KindWorkload; "" for anonymous
	Name   string // account or client name; empty for anonymous
	Source string // backend that vouched for it, e.g. "htpasswd"
	Role   string // when set, caps what the identity may do (API token roles: read, write, admin)
	// Attrs are the groups and labels the backend vouched for (a
	// directory's groups, an identity token's claims), which the ACL
	// matches (group:, ${labels:NAME}); nil: none. Shared, never modified:
	// an Identity stays a comparable value.
	Attrs *Attributes

	// AccountID is the stored account the identity belongs to (a UUID,
	// never reused). A stored credential (API token, refresh token) names
	// the account it was issued to and is good only while that account
	// lives; a password login gets its account from the accounts package.
	AccountID string
	// Admin: the account is an administrator (users.admins, or an account
	// of type admin). What it may do as one is ActsAsAdmin.
	Admin bool
	// Epoch is the version of the password the identity was proved with,
	// or was issued under (a refresh token's); "" when unknown. Refresh
	// tokens record it, and a new password ends them.
	Epoch string
	// TokenID names the API token that vouched for the identity (its hash
	// prefix), so that what is minted from it can be checked against it.
	TokenID string
	// NotBefore is the account's last revoke-tokens: access tokens issued
	// to the identity carry it as their earliest issue time, so that one
	// minted in the very second of a revocation is not taken for older.
	NotBefore time.Time
}

// Attributes are an identity's groups and labels, and what vouched for a
// workload.
type Attributes struct {
	Groups []string
	Labels map[string]string
	// Claims are a workload's identity-token claims that decided
	// (verify.Identity.Claims), which the ACL reads as ${claims:NAME}.
	Claims map[string]string
	// Rule names the federation trust rule that vouched for a workload
	// as the configuration does ("issuers[0].rules[1]"), for the audit log;
	// Policy fingerprints its issuer and rule, so that what is issued to the
	// workload (a refresh token) ends when either changes or goes.
	Rule   string
	Policy string
	// Email and Type are what a directory says of a user (its mail, and
	// admin or user from its admin group), kept in the user's account;
	// "" leaves the account's as it is.
	Email string
	Type  string
}

// Groups are the identity's groups (nil: none).
func (id Identity) Groups() []string {
	if id.Attrs == nil {
		return nil
	}
	return id.Attrs.Groups
}

// Labels are the identity's labels (nil: none).
func (id Identity) Labels() map[string]string {
	if id.Attrs == nil {
		return nil
	}
	return id.Attrs.Labels
}

// Claims are a workload's identity-token claims (nil: none).
func (id Identity) Claims() map[string]string {
	if id.Attrs == nil {
		return nil
	}
	return id.Attrs.Claims
}

// Claim is the identity as tokens carry it (verify.IdentityClaim); nil for
// the anonymous caller. The ID of a client or a workload, which have no
// account, is its name.
func (id Identity) Claim() *verify.Identity {
	if id.Anonymous() {
		return nil
	}
	c := &verify.Identity{Kind: id.Kind, ID: id.AccountID, Name: id.Name, Role: id.Role, Source: id.Source,
		Groups: id.Groups(), Labels: id.Labels(), Claims: id.Claims(), APIToken: id.TokenID}
	if c.Kind == "" {
		c.Kind = KindUser
	}
	if id.Accountless() {
		c.ID = id.Name
	}
	return c
}

// Accountless reports whether the identity stands for no stored account:
// a registered client or a workload is its name, and nothing bound to an
// account (a refresh-token family, an account check) applies to it.
func (id Identity) Accountless() bool { return id.Kind == KindClient || id.Kind == KindWorkload }

// Anonymous reports whether the identity is the anonymous caller.
func (id Identity) Anonymous() bool { return id.Name == "" }

// ActsAsAdmin reports whether the identity may act as an administrator:
// an admin account, with its password (or a token made from it) or with an
// API token of the admin role — never through a read or write token.
func (id Identity) ActsAsAdmin() bool {
	return id.Admin && (id.Role == "" || id.Role == authz.RoleAdmin)
}

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
