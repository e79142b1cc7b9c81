package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/introspect"
	"github.com/tollgate/tollgate/pkg/verify"
)

// introspectEndpoint serves token revocation (RFC 7009) and introspection
// (RFC 7662) at /oauth2/revoke and /oauth2/introspect, for callers that
// authenticate with HTTP Basic: a registered client (a resource server,
// RFC 7662 §2.1), a password user or an API token.
type introspectEndpoint struct {
	svc      *introspect.Service
	authn    authn.Authenticator // registered clients, API tokens, then passwords
	isClient func(ctx context.Context, name string) bool
	rd       renderer
	limits   *limiter
}

// introspectAuth is how callers of revocation and introspection
// authenticate (RFC 8414 §2 *_endpoint_auth_methods_supported): HTTP Basic
// with a password or an API token as the secret.
var introspectAuth = []string{"client_secret_basic"}

// Mount registers the routes.
func (e *introspectEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/oauth2/revoke", e.revoke).Methods(http.MethodPost)
	r.HandleFunc("/oauth2/introspect", e.introspect).Methods(http.MethodPost)
}

// introspectResponse is RFC 7662 §2.2; an inactive token has only Active.
type introspectResponse struct {
	Active    bool     `json:"active"`
	Subject   string   `json:"sub,omitempty"`
	Username  string   `json:"username,omitempty"`
	Role      string   `json:"role,omitempty"` // an API token's role, or the role an access token carries
	Issuer    string   `json:"iss,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Scope     *string  `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	// Identity is the access token's identity claim (verify.IdentityClaim).
	Identity *verify.Identity `json:"tollgate,omitempty"`
}

// introspect serves POST /oauth2/introspect.
func (e *introspectEndpoint) introspect(w http.ResponseWriter, r *http.Request) {
	// 1-2. Parse and authenticate.
	caller, raw, hint, err := e.parse(w, r)
	// 3. Authorize and look up: someone else's token is inactive.
	var res introspect.Result
	if err == nil {
		res, err = e.svc.Introspect(r.Context(), caller, raw, hint)
	}
	if err != nil {
		e.rd.oauthFailure(w, r, err)
		return
	}
	// 4. Respond.
	body := introspectResponse{Active: res.Active}
	if res.Active {
		body = introspectResponse{Active: true, Subject: res.Subject, Username: res.Username, Role: res.Role,
			Issuer: res.Issuer, Audience: res.Audience,
			ExpiresAt: unix(res.ExpiresAt), IssuedAt: unix(res.IssuedAt), Scope: res.Scope, ClientID: res.ClientID,
			TokenType: res.TokenType, Identity: res.Identity}
	}
	writeToken(w, body)
}

// revoke serves POST /oauth2/revoke: 200 with an empty body whether or not
// there was something to revoke (RFC 7009 §2.2).
func (e *introspectEndpoint) revoke(w http.ResponseWriter, r *http.Request) {
	// 1-2. Parse and authenticate.
	caller, raw, hint, err := e.parse(w, r)
	// 3. Authorize and revoke.
	if err == nil {
		err = revocationError(e.svc.Revoke(r.Context(), caller, raw, hint))
	}
	if err != nil {
		e.rd.oauthFailure(w, r, err)
		return
	}
	// 4. Respond.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// revocationError is the RFC 7009 error of a refused revocation.
func revocationError(err error) error {
	switch {
	case errors.Is(err, introspect.ErrUnsupportedTokenType):
		return oauthError(http.StatusBadRequest, "unsupported_token_type", "access tokens cannot be revoked; they expire (exp)")
	case errors.Is(err, introspect.ErrNotYours):
		return oauthError(http.StatusBadRequest, "unauthorized_client",
			"the token was not issued to the caller, and the caller may not revoke others' tokens")
	}
	return err
}

// parse reads the form (token, token_type_hint) and authenticates the
// caller with HTTP Basic: a refusal is invalid_client (RFC 7662 §2.1, RFC
// 7009 §2.1: the caller authenticates as a client would).
func (e *introspectEndpoint) parse(w http.ResponseWriter, r *http.Request) (authn.Identity, string, string, error) {
	user, pass, basic := r.BasicAuth()
	if !basic || user == "" || pass == "" {
		return authn.Identity{}, "", "", e.unauthorized("authenticate with HTTP Basic: a username and password, or an API token")
	}
	if err := parseForm(w, r); err != nil {
		return authn.Identity{}, "", "", err
	}
	req := grant.Request{Username: user, Password: authn.Secret(pass), Budget: e.limits.budget(r)}
	// A registered client's secret is generated (128 bits): like an API
	// token, its failures spend the address budget alone, so no one can
	// lock a resource server out by failing under its name.
	if e.isClient != nil && e.isClient(r.Context(), user) {
		req.Budget = e.limits.addressBudget(r)
	}
	id, err := grant.Authenticate(r.Context(), grant.Password{Authn: e.authn}, &req)
	if g, ok := grant.AsError(err); ok && errors.Is(g.Code, oautherrors.ErrInvalidGrant) {
		return authn.Identity{}, "", "", e.unauthorized(g.Message)
	}
	raw := r.Form.Get("token")
	if err == nil && raw == "" {
		err = oauthError(http.StatusBadRequest, "invalid_request", "token is required")
	}
	return id, raw, r.Form.Get("token_type_hint"), err
}

// unauthorized is 401 invalid_client (RFC 6749 §5.2), which oauthFailure
// answers with a Basic challenge.
func (e *introspectEndpoint) unauthorized(description string) error {
	return &grant.Error{Code: oautherrors.ErrInvalidClient, Message: description}
}

// unix is t in seconds since the epoch, 0 (left out) for the zero time.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
