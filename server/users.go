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
	admin, err := e.admin(r)
	// 2. Parse: the kinds; no body (or no "kinds") means all of them, an
	// empty list is a mistake, never "all".
	var kinds store.CredentialKinds
	if err == nil {
		kinds, err = parseKinds(w, r)
	}
	// 3. Revoke and respond.
	name := mux.Vars(r)["name"]
	var rev store.Revoked
	if err == nil {
		rev, err = e.accounts.RevokeTokens(r.Context(), name, kinds, admin.Name)
	}
	if err != nil {
		e.rd.dockerFailure(w, r, accountError(err))
		return
	}
	writePrivate(w, http.StatusOK, revokeTokensResponse{User: name, Kinds: accounts.KindNames(kinds), Revoked: revokedCounts{
		RefreshTokens: rev.RefreshTokens, EngineRefreshTokens: rev.EngineRefreshTokens, APITokens: rev.APITokens}})
}

// parseKinds reads the body of revoke-tokens.
func parseKinds(w http.ResponseWriter, r *http.Request) (store.CredentialKinds, error) {
	var req revokeTokensRequest
	if err := decodeJSONBody(w, r, &req, true); err != nil {
		return 0, err
	}
	if req.Kinds != nil && len(req.Kinds) == 0 {
		return 0, badRequest("invalid request", `"kinds" is empty: name refresh, engine or api, or leave it out for all`)
	}
	kinds, err := accounts.ParseKinds(req.Kinds)
	if err != nil {
		return 0, badRequest("invalid request", err.Error())
	}
	return kinds, nil
}

// setEnabled serves POST /api/users/{name}/disable and .../enable.
func (e *usersEndpoint) setEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// 1-2. Authenticate an administrator.
		admin, err := e.admin(r)
		// 3. Change the account: only a user's.
		name := mux.Vars(r)["name"]
		if err == nil {
			err = e.isUser(r, name)
		}
		var acct store.Account
		if err == nil {
			acct, err = e.accounts.SetEnabled(r.Context(), name, enabled, admin.Name)
		}
		if err != nil {
			e.rd.dockerFailure(w, r, accountError(err))
			return
		}
		writePrivate(w, http.StatusOK, accountStateResponse{User: name, State: acct.State})
	}
}

// admin authenticates the caller (HTTP Basic, or an API token as Bearer)
// and requires an administrator acting as one.
func (e *usersEndpoint) admin(r *http.Request) (authn.Identity, error) {
	user, secret := requestCredentials(r)
	if secret == "" {
		return authn.Identity{}, unauthorized("authentication required: HTTP Basic, or Bearer with an API token")
	}
	req := grant.Request{Username: user, Password: secret, Bearer: isBearer(r), Budget: e.limits.budget(r)}
	id, err := grant.Authenticate(r.Context(), grant.Get{Authn: e.authn}, &req)
	if err == nil && !id.ActsAsAdmin() {
		err = DockerError{Status: http.StatusForbidden, Code: "DENIED", Message: "only administrators may manage users"}
	}
	return id, err
}

// isUser is nil when name is a user or has an account.
func (e *usersEndpoint) isUser(r *http.Request, name string) error {
	if e.accounts.Users != nil {
		ok, err := e.accounts.Users.Exists(r.Context(), name)
		if ok || err != nil {
			return err
		}
	}
	_, err := e.accounts.Get(r.Context(), name)
	return err
}

// accountError maps the errors of the accounts service to the Docker
// errors they are; others are returned as they are.
func accountError(err error) error {
	if errors.Is(err, accounts.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return DockerError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such user"}
	}
	return err
}
