package server

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"time"

	oauth2 "github.com/go-oauth2/oauth2/v4"
	oautherrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/scope"
)

// oauthTokenResponse is the POST response (distribution oauth.md).
type oauthTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// post serves POST /oauth2/token: the grants of e.grants (password and
// refresh_token).
func (e *tokenEndpoint) post(w http.ResponseWriter, r *http.Request) {
	// 1. Parse (go-oauth2 validates the grant; the password grant
	// authenticates there, through passwordGrantUser).
	if oerr := parseForm(w, r); oerr != nil {
		e.rd.oauth(w, *oerr)
		return
	}
	if _, ok := e.grants.find(r.Form.Get("grant_type")); !ok {
		e.rd.oauth(w, e.grants.unsupported())
		return
	}
	scopes, err := scope.ParseAll(r.Form["scope"])
	if err != nil {
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_scope", err.Error()))
		return
	}
	// A foreign service fails before any password is checked; a missing
	// one is left to the grant (a refresh token names its own service).
	service := r.Form.Get("service")
	if service != "" {
		if err := e.grant.CheckService(service); err != nil {
			e.oauthFailure(w, r, err)
			return
		}
	}
	// A password grant is charged to its username and the address, a
	// refresh grant (no username) to the address alone. A 429 is counted
	// in the metrics, never audited.
	user, pass := r.Form.Get("username"), authn.Secret(r.Form.Get("password"))
	if !e.limits.admit(w, r, user, pass, e.rd.tooManyOAuth) {
		return
	}
	var authenticated authn.Identity // filled by passwordGrantUser
	r = r.WithContext(context.WithValue(r.Context(), passwordIdentityKey{}, &authenticated))
	gt, tgr, err := e.oauth.ValidationTokenRequest(r)
	if errors.Is(err, oautherrors.ErrInvalidGrant) {
		e.limits.failed(r, user, pass)
		e.failedLogin(r)
	}
	if errors.Is(err, authn.ErrDisabled) {
		e.denied(r, r.Form.Get("service"), nil, "account is disabled")
	}
	if err != nil {
		e.oauthFailure(w, r, err)
		return
	}
	// 2. Authenticate: the password grant already did; a refresh token
	// stands for the subject it was issued to.
	id := authenticated // the password grant authenticated it in passwordGrantUser
	if gt == oauth2.Refreshing {
		if id, err = e.grant.Redeem(r.Context(), tgr.Refresh, service); err != nil {
			if errors.Is(err, grant.ErrRefreshInvalid) {
				e.limits.failed(r, "", "")
				e.failedLogin(r)
			}
			e.oauthFailure(w, r, err)
			return
		}
	}
	// 3-4. Authorize and mint.
	res, err := e.grant.Issue(r.Context(), grant.Request{
		Identity: id,
		Service:  service,
		Scopes:   scopes,
		ClientIP: clientIP(r),
		ClientID: tgr.ClientID,
		Offline:  gt == oauth2.PasswordCredentials && r.Form.Get("access_type") == "offline",
	})
	if err != nil {
		e.oauthFailure(w, r, err)
		return
	}
	// 5. Respond. A refresh grant asking for offline access gets the same
	// refresh token back (oauth.md: access_type).
	if gt == oauth2.Refreshing && r.Form.Get("access_type") == "offline" {
		res.RefreshToken = tgr.Refresh
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, oauthTokenResponse{
		AccessToken:  res.Token.Raw,
		TokenType:    "Bearer",
		ExpiresIn:    expiresIn(res),
		IssuedAt:     res.Token.IssuedAt.UTC().Format(time.RFC3339),
		Scope:        scope.Join(res.Granted),
		RefreshToken: res.RefreshToken,
	})
}

// parseForm accepts only a bounded form body; parameters in the URL query
// are ignored (oauth.md: they are POST parameters, and credentials do not
// belong in URLs).
func parseForm(w http.ResponseWriter, r *http.Request) *OAuthError {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		e := oauthError(http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
		return &e
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		e := oauthError(http.StatusBadRequest, "invalid_request", "malformed or oversized form body")
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e.Status = http.StatusRequestEntityTooLarge
		}
		return &e
	}
	r.Form = r.PostForm
	return nil
}

// oauthFailure maps an error of the grant flow to RFC 6749 §5.2.
func (e *tokenEndpoint) oauthFailure(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errClientID):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", err.Error()))
	case errors.Is(err, oautherrors.ErrInvalidGrant):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "invalid username or password"))
	case errors.Is(err, authn.ErrDisabled):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "account is disabled"))
	case isCredentialError(err): // the account ended while the request ran
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "invalid username or password"))
	case errors.Is(err, grant.ErrRefreshInvalid):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "refresh token is invalid, expired or revoked"))
	case errors.Is(err, grant.ErrUnknownService):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", err.Error()))
	case errors.Is(err, oautherrors.ErrUnsupportedGrantType):
		e.rd.oauth(w, e.grants.unsupported())
	case errors.Is(err, oautherrors.ErrInvalidRequest):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", missingParams(r)))
	default:
		e.rd.storeOrInternalOAuth(w, r, err)
	}
}

// missingParams explains an invalid_request from go-oauth2's validation.
func missingParams(r *http.Request) string {
	switch r.Form.Get("grant_type") {
	case "password":
		return "username and password are required"
	case "refresh_token":
		return "refresh_token is required"
	}
	return "malformed token request"
}
