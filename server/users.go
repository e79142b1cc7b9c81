package server

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/store"
)

// usersEndpoint serves the administrators' account operations, the API
// twins of `tollgate users revoke-tokens|disable|enable`: an operator ends
// what a user holds without knowing any of it.
type usersEndpoint struct {
	accounts *accounts.Service
	authn    authn.Authenticator // API tokens, then passwords
	rd       renderer
	limits   *limiter
}

// Mount registers the routes.
func (e *usersEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/api/users/{name}/revoke-tokens", e.revokeTokens).Methods(http.MethodPost)
	r.HandleFunc("/api/users/{name}/disable", e.setEnabled(false)).Methods(http.MethodPost)
	r.HandleFunc("/api/users/{name}/enable", e.setEnabled(true)).Methods(http.MethodPost)
}

type revokeTokensRequest struct {
	Kinds []string `json:"kinds"` // refresh, engine, api; none: all
}

type revokedCounts struct {
	RefreshTokens       int64 `json:"refresh_tokens"`
	EngineRefreshTokens int64 `json:"engine_refresh_tokens"`
	APITokens           int64 `json:"api_tokens"`
}

type revokeTokensResponse struct {
	User    string        `json:"user"`
	Kinds   string        `json:"kinds"`
	Revoked revokedCounts `json:"revoked"`
}

type accountStateResponse struct {
	User  string `json:"user"`
	State string `json:"state"`
}

// revokeTokens serves POST /api/users/{name}/revoke-tokens.
func (e *usersEndpoint) revokeTokens(w http.ResponseWriter, r *http.Request) {
	// 1. Authenticate an administrator, before the body is read.
	admin, ok := e.admin(w, r)
	if !ok {
		return
	}
	// 2. Parse: the kinds; no body (or no "kinds") means all of them, an
	// empty list is a mistake, never "all".
	var req revokeTokensRequest
	if derr := decodeJSONBody(w, r, &req, true); derr != nil {
		e.rd.docker(w, *derr)
		return
	}
	if req.Kinds != nil && len(req.Kinds) == 0 {
		e.rd.docker(w, badRequest("invalid request", `"kinds" is empty: name refresh, engine or api, or leave it out for all`))
		return
	}
	kinds, err := accounts.ParseKinds(req.Kinds)
	if err != nil {
		e.rd.docker(w, badRequest("invalid request", err.Error()))
		return
	}
	// 3. Revoke and respond.
	name := mux.Vars(r)["name"]
	rev, err := e.accounts.RevokeTokens(r.Context(), name, kinds, admin.Name)
	if e.accountError(w, r, err) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, revokeTokensResponse{User: name, Kinds: accounts.KindNames(kinds), Revoked: revokedCounts{
		RefreshTokens: rev.RefreshTokens, EngineRefreshTokens: rev.EngineRefreshTokens, APITokens: rev.APITokens}})
}

// setEnabled serves POST /api/users/{name}/disable and .../enable.
func (e *usersEndpoint) setEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// 1-2. Authenticate an administrator.
		admin, ok := e.admin(w, r)
		if !ok {
			return
		}
		// 3. Change the account: only a user's.
		name := mux.Vars(r)["name"]
		if !e.isUser(w, r, name) {
			return
		}
		acct, err := e.accounts.SetEnabled(r.Context(), name, enabled, admin.Name)
		if e.accountError(w, r, err) {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, accountStateResponse{User: name, State: acct.State})
	}
}

// admin authenticates the caller (HTTP Basic, or an API token as Bearer)
// and requires an administrator acting as one. It renders refusals itself.
func (e *usersEndpoint) admin(w http.ResponseWriter, r *http.Request) (authn.Identity, bool) {
	user, secret := requestCredentials(r)
	if secret == "" {
		e.rd.docker(w, unauthorized("authentication required: HTTP Basic, or Bearer with an API token"))
		return authn.Identity{}, false
	}
	req := grant.Request{Username: user, Password: secret, Bearer: isBearer(r), Budget: e.limits.budget(r)}
	id, err := grant.Authenticate(r.Context(), grant.Get{Authn: e.authn}, &req)
	if err != nil {
		e.rd.dockerFailure(w, r, err)
		return authn.Identity{}, false
	}
	if !id.ActsAsAdmin() {
		e.rd.docker(w, DockerError{Status: http.StatusForbidden, Code: "DENIED", Message: "only administrators may manage users"})
		return authn.Identity{}, false
	}
	return id, true
}

// isUser answers 404 unless name is a user or has an account.
func (e *usersEndpoint) isUser(w http.ResponseWriter, r *http.Request, name string) bool {
	if e.accounts.Users != nil {
		ok, err := e.accounts.Users.Exists(r.Context(), name)
		if err != nil {
			e.rd.storeOrInternalDocker(w, r, err)
			return false
		}
		if ok {
			return true
		}
	}
	_, err := e.accounts.Get(r.Context(), name)
	return !e.accountError(w, r, err)
}

// accountError renders an error of the accounts service and reports
// whether there was one.
func (e *usersEndpoint) accountError(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, accounts.ErrNotFound), errors.Is(err, store.ErrNotFound):
		e.rd.docker(w, DockerError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such user"})
	default:
		e.rd.storeOrInternalDocker(w, r, err)
	}
	return true
}
