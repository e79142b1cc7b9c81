package grant

import (
	"context"
	"fmt"
	"slices"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/store"
)

// Clients authenticates registered clients (*client.Registry).
type Clients interface {
	Client(ctx context.Context, id string, secret authn.Secret) (store.Client, error)
}

// ClientCredentials serves grant_type=client_credentials (RFC 6749 §4.4)
// for registered clients: the scopes asked (all of the client's when none
// are), each one of the client's, else invalid_scope; the audience asked
// (all of the client's when none is), one of the client's, else
// invalid_target (RFC 8707 §2). Like an API token, a client is charged to
// the address's budget alone: its ID is no user name.
type ClientCredentials struct{ Clients Clients }

// Authenticate implements Handler.
func (h ClientCredentials) Authenticate(ctx context.Context, req *Request) (authn.Identity, error) {
	cl, err := h.Clients.Client(ctx, req.ClientID, req.ClientSecret)
	if err != nil {
		err = Credentials(err, "client authentication failed")
		if e, ok := AsError(err); ok {
			e.Code = oautherrors.ErrInvalidClient // RFC 6749 §5.2: the client failed, not a grant
		}
		return authn.Identity{}, err
	}
	if req.Granted, err = clientScopes(cl.Scopes, req.Scope); err != nil {
		return authn.Identity{}, err
	}
	req.Audience = slices.Clone(cl.Audiences)
	if req.Service != "" {
		if !slices.Contains(cl.Audiences, req.Service) {
			return authn.Identity{}, &Error{Code: ErrInvalidTarget, Message: "the audience is not allowed for this client",
				Refusal: Denied, Cause: fmt.Errorf("audience %q", req.Service)}
		}
		req.Audience = []string{req.Service}
	}
	return client.Identity(cl), nil
}

// clientScopes returns the scopes asked, without repeats, if the client
// has each; nothing asked means every scope of the client.
func clientScopes(allowed, asked []string) ([]string, error) {
	if len(asked) == 0 {
		return append([]string{}, allowed...), nil // granted, if nothing: the response says scope ""
	}
	out := make([]string, 0, len(asked))
	for _, s := range asked {
		if !slices.Contains(allowed, s) {
			return nil, &Error{Code: oautherrors.ErrInvalidScope, Message: "a requested scope is not allowed for this client",
				Refusal: Denied, Cause: fmt.Errorf("scope %q", s)}
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
