package grant

import (
	"context"
	"slices"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/tollgate/tollgate/pkg/authn"
)

// Token types of RFC 8693 §3.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// Workloads verifies identity tokens (*federation.Federation).
type Workloads interface {
	Verify(ctx context.Context, raw string) (authn.Identity, error)
}

// TokenExchange serves grant_type=urn:ietf:params:oauth:grant-type:token-exchange
// (RFC 8693) for workloads: the subject_token is an OIDC identity token of
// a trusted issuer (a CI job's, a pod's), and the token issued is an
// access token of the endpoint's profile for the workload it stands for.
// Delegation (actor_token) is not supported. Any refusal of the token is
// invalid_request (RFC 8693 §2.2.2), charged to the address's budget alone.
type TokenExchange struct{ Workloads Workloads }

// Authenticate implements Handler.
func (h TokenExchange) Authenticate(ctx context.Context, req *Request) (authn.Identity, error) {
	switch {
	case req.SubjectToken == "":
		return authn.Identity{}, Invalid("subject_token is required", "")
	case req.SubjectTokenType != TokenTypeIDToken && req.SubjectTokenType != TokenTypeJWT:
		return authn.Identity{}, Invalid("subject_token_type must be "+TokenTypeIDToken+" or "+TokenTypeJWT, "")
	case req.RequestedTokenType != "" && !slices.Contains([]string{TokenTypeAccessToken, TokenTypeJWT}, req.RequestedTokenType):
		return authn.Identity{}, Invalid("requested_token_type must be "+TokenTypeAccessToken, "")
	case req.ActorToken:
		return authn.Identity{}, Invalid("actor_token is not supported: a workload acts for itself", "")
	}
	req.Username = "" // an identity token is no guessable password: the address's budget only
	id, err := h.Workloads.Verify(ctx, string(req.SubjectToken))
	if err = Credentials(err, ""); err != nil {
		if e, ok := AsError(err); ok && e.Refusal == FailedLogin {
			e.Code = oautherrors.ErrInvalidRequest // RFC 8693 §2.2.2
		}
		return authn.Identity{}, err
	}
	return id, nil
}
