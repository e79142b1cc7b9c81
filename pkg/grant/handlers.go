package grant

import (
	"context"
	"errors"
	"fmt"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
)

// Get serves the Docker token protocol's GET (distribution token.md):
// HTTP Basic with a password or an API token, an API token as Bearer, or
// nobody (the anonymous caller).
type Get struct{ Authn authn.Authenticator }

// Messages of refused GET credentials.
const (
	msgMalformed       = "malformed credentials: use HTTP Basic, or Bearer with an API token"
	msgBearerNotToken  = "a Bearer credential here must be an API token (tg_…); log in with HTTP Basic"
	msgAccountMismatch = "account does not match the authenticated user"
)

// Authenticate implements Handler.
func (h Get) Authenticate(ctx context.Context, req *Request) (authn.Identity, error) {
	switch {
	case req.Username == "" && req.Password == "":
		return authn.Identity{}, nil
	case req.Username == "":
		return authn.Identity{}, &Error{Code: oautherrors.ErrInvalidClient, Message: msgMalformed, Refusal: Denied}
	case req.Bearer && !apitoken.LooksLike(string(req.Password)):
		req.Username = "" // not a user's password: the address's budget only
		return authn.Identity{}, &Error{Code: oautherrors.ErrInvalidGrant, Message: msgBearerNotToken, Refusal: FailedLogin}
	}
	id, err := h.Authn.Authenticate(ctx, req.Username, req.Password)
	if err != nil {
		return authn.Identity{}, Credentials(err, "")
	}
	if err := CheckAccount(id, req.Username, req.Account); err != nil {
		return authn.Identity{}, &Error{Code: oautherrors.ErrInvalidRequest, Message: msgAccountMismatch, Cause: err}
	}
	return id, nil
}

// Password serves grant_type=password (RFC 6749 §4.3): a user's password,
// or an API token as the password.
type Password struct{ Authn authn.Authenticator }

// Authenticate implements Handler.
func (h Password) Authenticate(ctx context.Context, req *Request) (authn.Identity, error) {
	id, err := h.Authn.Authenticate(ctx, req.Username, req.Password)
	return id, Credentials(err, "")
}

// DockerRefresh serves grant_type=refresh_token with Docker identity
// tokens (distribution oauth.md): they do not rotate, every client reuses
// the one docker login obtained, and access_type=offline echoes it back.
type DockerRefresh struct{ Service *Service }

// Authenticate implements Handler.
func (h DockerRefresh) Authenticate(ctx context.Context, req *Request) (authn.Identity, error) {
	id, err := h.Service.Redeem(ctx, req.RefreshToken, req.Service)
	if err != nil {
		return authn.Identity{}, Credentials(err, "refresh token is invalid, expired or revoked")
	}
	if req.Offline {
		req.NextRefresh = req.RefreshToken
	}
	return id, nil
}

// RotatingRefresh serves grant_type=refresh_token with the Engine API's
// rotating tokens (RFC 6749 §6): the token presented is used up and the
// next of its family issued; a used one presented again revokes the family
// (RFC 6819 §5.2.2.3). The account comes first: a disabled one keeps its
// unused token; an ended account, or an earlier password, revokes the
// family.
type RotatingRefresh struct {
	Families *refresh.Families
	Accounts Admitter
}

// RotatingSource is the Identity.Source of an identity a rotating
// refresh token stands for.
const RotatingSource = "engine_refresh_token"

// Authenticate implements Handler.
func (h RotatingRefresh) Authenticate(ctx context.Context, req *Request) (authn.Identity, error) {
	id, err := h.admit(ctx, req.RefreshToken)
	if err == nil {
		req.NextRefresh, err = h.rotate(ctx, req)
	}
	if err != nil {
		return authn.Identity{}, Credentials(err, "refresh token is invalid, expired, used or revoked")
	}
	return id, nil
}

func (h RotatingRefresh) rotate(ctx context.Context, req *Request) (string, error) {
	next, err := h.Families.Rotate(ctx, req.RefreshToken, req.ClientID)
	return next.Raw, err
}

// admit checks the account of the family raw belongs to.
func (h RotatingRefresh) admit(ctx context.Context, raw string) (authn.Identity, error) {
	rec, err := h.Families.Lookup(ctx, raw)
	if errors.Is(err, store.ErrNotFound) {
		return authn.Identity{}, fmt.Errorf("%w: unknown", refresh.ErrInvalid)
	}
	if err != nil {
		return authn.Identity{}, err
	}
	id, err := h.Accounts.Admit(ctx, authn.Identity{Kind: authn.KindUser, Name: rec.Subject, Source: RotatingSource,
		AccountID: rec.AccountID, Epoch: rec.Epoch})
	if errors.Is(err, authn.ErrBadCredentials) {
		if err := h.Families.RevokeFamily(ctx, rec.FamilyID); err != nil {
			return authn.Identity{}, err
		}
		return authn.Identity{}, fmt.Errorf("%w: %v", refresh.ErrInvalid, err)
	}
	return id, err
}

// APIToken authenticates an API token presented as a Bearer credential
// (RFC 6750 §2.1) at the endpoints that take one: it stands for HTTP Basic
// with the user name apitoken.Username. Anything else is a failed login,
// charged to the address's budget alone (a token is not a guessable
// password).
type APIToken struct{ Authn authn.Authenticator }

// msgBadAPIToken is the refusal of a Bearer API token.
const msgBadAPIToken = "invalid, expired or revoked API token"

// Authenticate implements Handler.
func (h APIToken) Authenticate(ctx context.Context, req *Request) (authn.Identity, error) {
	req.Username = ""
	if !apitoken.LooksLike(string(req.Password)) {
		return authn.Identity{}, &Error{Code: oautherrors.ErrInvalidGrant, Message: msgBadAPIToken, Refusal: FailedLogin,
			Cause: authn.ErrBadCredentials}
	}
	id, err := h.Authn.Authenticate(ctx, apitoken.Username, req.Password)
	return id, Credentials(err, msgBadAPIToken)
}
