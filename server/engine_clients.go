package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	oauth2 "github.com/go-oauth2/oauth2/v4"
	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	oauthserver "github.com/go-oauth2/oauth2/v4/server"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/redact"
)

// A client_credentials request without client credentials, or with them
// twice (RFC 6749 §2.3: one method only).
var (
	errNoClientAuth  = errors.New("client authentication required: HTTP Basic or client_id and client_secret")
	errTwoClientAuth = errors.New("authenticate the client either with HTTP Basic or in the form, not both")
)

// newClientCredentialsServer is go-oauth2's server validating the
// client_credentials grant (RFC 6749 §4.4) of the Engine API.
func newClientCredentialsServer() *oauthserver.Server {
	return newOAuthServer(confidentialClient, nil, oauth2.ClientCredentials)
}

// confidentialClient reads the client's credentials, for go-oauth2: HTTP
// Basic (RFC 6749 §2.3.1, form-urlencoded ID and secret) or the form's
// client_id and client_secret, never both.
func confidentialClient(r *http.Request) (string, string, error) {
	basicID, basicSecret, basic := r.BasicAuth()
	formID, formSecret := r.Form.Get("client_id"), r.Form.Get("client_secret")
	if basic && formSecret != "" {
		return "", "", errTwoClientAuth
	}
	if basic {
		if formID != "" && formID != formDecoded(basicID) {
			return "", "", errTwoClientAuth
		}
		formID, formSecret = formDecoded(basicID), formDecoded(basicSecret)
	}
	if formID == "" || formSecret == "" {
		return "", "", errNoClientAuth
	}
	if err := checkClientID(formID); err != nil {
		return "", "", err
	}
	return formID, formSecret, nil
}

// clientCredentials serves POST /v1/oauth/token with
// grant_type=client_credentials, for the registered clients
// (e.eng.Registered, set whenever the grant is in e.grants).
func (e *engineEndpoint) clientCredentials(w http.ResponseWriter, r *http.Request) {
	clients := e.eng.Registered
	// 1. Parse: the client's credentials, scope and audience.
	_, tgr, err := e.cc.ValidationTokenRequest(r)
	if err != nil {
		e.clientFailure(w, r, err)
		return
	}
	if len(r.Form["audience"]) > 1 {
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", "audience may be given once"))
		return
	}
	req := engine.ClientRequest{ClientID: tgr.ClientID, Secret: authn.Secret(tgr.ClientSecret), Scope: tgr.Scope,
		Audience: r.Form.Get("audience"), ClientIP: clientIP(r)}
	// 2. Authenticate the client, unless the address's failure budget is
	// spent (a 429 is counted in the metrics, never audited). Like an API
	// token, a client is charged to the address alone: its ID is no user
	// name, and a guesser failing under it from elsewhere must not lock
	// the service out (userKey).
	if !e.limits.admit(w, r, "", "", e.rd.tooManyOAuth) {
		return
	}
	client, err := clients.Authenticate(r.Context(), req.ClientID, req.Secret)
	if errors.Is(err, engine.ErrInvalidClient) {
		e.limits.failed(r, "", "") // a client's secret is generated: only the address budget
		denied := req              // audited under the ID given, unless it has the shape of a secret
		denied.ClientID, denied.Secret = redact.Secrets(req.ClientID), ""
		clients.FailedLogin(denied)
	}
	if err != nil {
		e.clientFailure(w, r, err)
		return
	}
	// 3-4. Authorize (its audiences and scopes only) and mint.
	tok, err := clients.Issue(client, req)
	if err != nil {
		e.clientFailure(w, r, err)
		return
	}
	// 5. Respond (RFC 6749 §5.1): the granted scope, always.
	scope := strings.Join(tok.Scopes, " ")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, engineTokenResponse{
		AccessToken: tok.Raw,
		ExpiresIn:   int64(tok.ExpiresAt.Sub(tok.IssuedAt).Seconds()),
		TokenType:   "Bearer",
		Scope:       &scope,
	})
}

// clientFailure maps an error of the client_credentials flow to RFC 6749
// §5.2 (and RFC 8707 §2 invalid_target).
func (e *engineEndpoint) clientFailure(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, engine.ErrInvalidClient), errors.Is(err, errNoClientAuth):
		// RFC 6749 §5.2: 401 with the scheme the client may use.
		w.Header().Set("WWW-Authenticate", e.rd.challenge)
		e.rd.oauth(w, oauthError(http.StatusUnauthorized, "invalid_client", "client authentication failed"))
	case errors.Is(err, errTwoClientAuth), errors.Is(err, errClientID):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", err.Error()))
	case errors.Is(err, engine.ErrInvalidScope):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_scope", "a requested scope is not allowed for this client"))
	case errors.Is(err, engine.ErrInvalidTarget):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_target", "the audience is not allowed for this client"))
	case errors.Is(err, oautherrors.ErrInvalidRequest):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", "malformed client_credentials request"))
	default:
		e.rd.storeOrInternalOAuth(w, r, err)
	}
}

// formDecoded undoes the form-encoding RFC 6749 §2.3.1 asks of Basic
// client credentials (golang.org/x/oauth2 does it); a value that does not
// decode is taken as sent.
func formDecoded(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
