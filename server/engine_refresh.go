package server

import (
	"errors"
	"net/http"

	"github.com/tollgate/tollgate/pkg/engine"
)

// startRefresh issues the refresh token of a password grant, when the
// Engine API has them and the identity may hold one (engine.StartRefresh).
func (e *engineEndpoint) startRefresh(r *http.Request, req engine.Request) (string, error) {
	issued, ok, err := e.eng.StartRefresh(r.Context(), req)
	if err != nil || !ok {
		return "", err
	}
	return issued.Raw, nil
}

// refreshGrant serves POST /v1/oauth/token with grant_type=refresh_token
// (RFC 6749 §6): the token rotates; a used one presented again revokes its
// family (RFC 6819 §5.2.2.3), and the answer is invalid_grant either way.
func (e *engineEndpoint) refreshGrant(w http.ResponseWriter, r *http.Request) {
	// 1. Parse: the public client and the refresh token.
	clientID, _, err := e.client(r)
	if err != nil {
		e.failure(w, r, err)
		return
	}
	raw := r.Form.Get("refresh_token")
	if raw == "" {
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", "refresh_token is required"))
		return
	}
	req := engine.Request{ClientID: clientID, ClientIP: clientIP(r)}
	if !e.limits.admit(w, r, "", "", e.rd.tooManyOAuth) {
		return // a 429 is counted in the metrics, never audited
	}
	// 2-3. Authenticate (the token stands for its user), rotate and mint.
	tok, next, err := e.eng.RefreshGrant(r.Context(), raw, req)
	if errors.Is(err, engine.ErrRefreshInvalid) {
		e.limits.failed(r, "", "")
		e.eng.FailedLogin(req)
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "refresh token is invalid, expired, used or revoked"))
		return
	}
	if err != nil {
		e.failure(w, r, err)
		return
	}
	// 4. Respond (RFC 6749 §5.1), with the next refresh token.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, engineTokenResponse{
		AccessToken:  tok.Raw,
		ExpiresIn:    int64(tok.ExpiresAt.Sub(tok.IssuedAt).Seconds()),
		TokenType:    "Bearer",
		RefreshToken: next.Raw,
	})
}
