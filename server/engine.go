package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	oauth2 "github.com/go-oauth2/oauth2/v4"
	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	oauthserver "github.com/go-oauth2/oauth2/v4/server"
	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/redact"
)

// engineEndpoint serves the Engine OAuth2 API (Anchore Engine's
// /v1/oauth/token, /v1/account and /v1/accounts): the password grant of
// RFC 6749 §4.3 for public clients, and who-am-I calls taking HTTP Basic,
// an engine access token or an API token as Bearer (RFC 6750 §2.1).
type engineEndpoint struct {
	eng    *engine.Service
	authn  authn.Authenticator // API tokens, then passwords
	grants tokenGrants         // of /v1/oauth/token: dispatch, errors and discovery
	oauth  *oauthserver.Server // the password grant
	cc     *oauthserver.Server // client_credentials, for eng.Registered
	rd     renderer
	limits *limiter // failed-authentication budgets, checked before any password
}

func newEngineEndpoint(eng *engine.Service, a authn.Authenticator, rd renderer, limits *limiter) *engineEndpoint {
	e := &engineEndpoint{eng: eng, authn: a, rd: rd, limits: limits}
	e.oauth = newOAuthServer(e.client, passwordGrantUser(a), oauth2.PasswordCredentials)
	e.cc = newClientCredentialsServer()
	e.grants = e.grantTable()
	return e
}

// grantTable lists the grants /v1/oauth/token serves: the password grant
// of public clients always; refresh_token when the API issues refresh
// tokens (engine_refresh.go); client_credentials, authenticated by the
// client's secret, when it has registered clients (engine_clients.go).
func (e *engineEndpoint) grantTable() tokenGrants {
	g := tokenGrants{{typ: oauth2.PasswordCredentials, auth: publicAuth, serve: e.passwordGrant}}
	if e.eng.Refresh != nil {
		g = append(g, tokenGrant{typ: oauth2.Refreshing, auth: publicAuth, serve: e.refreshGrant})
	}
	if e.eng.Registered != nil {
		g = append(g, tokenGrant{typ: oauth2.ClientCredentials, auth: confidentialAuth, serve: e.clientCredentials})
	}
	return g
}

// Mount registers the routes.
func (e *engineEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/v1/oauth/token", e.token).Methods(http.MethodPost)
	r.HandleFunc("/v1/account", e.account).Methods(http.MethodGet)
	r.HandleFunc("/v1/accounts", e.accounts).Methods(http.MethodGet)
}

// errUnknownClient is a client_id that is not one of the API's public clients.
var errUnknownClient = errors.New("unknown client_id")

// client accepts the configured public clients (and engine.AnonymousClient)
// without a secret, for go-oauth2.
func (e *engineEndpoint) client(r *http.Request) (string, string, error) {
	id, _, err := publicClient(r)
	if err != nil {
		return "", "", err
	}
	if !e.eng.KnownClient(id) {
		return "", "", errUnknownClient
	}
	return id, "", nil
}

// engineTokenResponse is the token response (RFC 6749 §5.1). Scope is
// there only when the client asked for one: none is granted yet (§3.3).
type engineTokenResponse struct {
	AccessToken string  `json:"access_token"`
	ExpiresIn   int64   `json:"expires_in"`
	TokenType   string  `json:"token_type"`
	Scope       *string `json:"scope,omitempty"`
	// RefreshToken rotates: see engine_refresh.go.
	RefreshToken string `json:"refresh_token,omitempty"`
}

// token serves POST /v1/oauth/token: whichever grant of e.grants the
// request names, or unsupported_grant_type naming them (RFC 6749 §5.2).
func (e *engineEndpoint) token(w http.ResponseWriter, r *http.Request) {
	// 1. Parse: a form, or an empty body with Basic credentials.
	if oerr := e.parseTokenRequest(w, r); oerr != nil {
		e.rd.oauth(w, *oerr)
		return
	}
	g, ok := e.grants.find(r.Form.Get("grant_type"))
	if !ok {
		e.rd.oauth(w, e.grants.unsupported())
		return
	}
	g.serve(w, r)
}

// passwordGrant serves grant_type=password (RFC 6749 §4.3) for the public
// clients; the form is parsed.
func (e *engineEndpoint) passwordGrant(w http.ResponseWriter, r *http.Request) {
	// 2. Authenticate the password (or API token) through go-oauth2's
	// password grant, unless a failure budget is spent (a 429 is counted
	// in the metrics, never audited).
	user, pass := r.Form.Get("username"), authn.Secret(r.Form.Get("password"))
	// The identity audited if the grant fails: the name given, unless it
	// has the shape of a secret (a token pasted as the user name).
	req := engine.Request{Identity: authn.Identity{Name: redact.Secrets(user)}, ClientID: r.Form.Get("client_id"), ClientIP: clientIP(r)}
	if !e.limits.admit(w, r, user, pass, e.rd.tooManyOAuth) {
		return
	}
	var authenticated authn.Identity // filled by passwordGrantUser
	r = r.WithContext(context.WithValue(r.Context(), passwordIdentityKey{}, &authenticated))
	_, tgr, err := e.oauth.ValidationTokenRequest(r)
	if errors.Is(err, oautherrors.ErrInvalidGrant) {
		e.limits.failed(r, user, pass)
		e.eng.FailedLogin(req)
	}
	if errors.Is(err, authn.ErrDisabled) {
		e.eng.Denied(req, "account is disabled")
	}
	if err != nil {
		e.failure(w, r, err)
		return
	}
	// 3. Mint (and audit).
	req.Identity, req.ClientID = authenticated, tgr.ClientID
	tok, err := e.eng.Issue(req)
	if err != nil {
		e.failure(w, r, err)
		return
	}
	// 4. Respond (RFC 6749 §5.1).
	resp := engineTokenResponse{
		AccessToken: tok.Raw,
		ExpiresIn:   int64(tok.ExpiresAt.Sub(tok.IssuedAt).Seconds()),
		TokenType:   "Bearer",
	}
	if tgr.Scope != "" {
		none := ""
		resp.Scope = &none
	}
	if resp.RefreshToken, err = e.startRefresh(r, req); err != nil { // engine_refresh.go
		e.failure(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// parseTokenRequest reads the form (parseForm). An empty body with HTTP
// Basic credentials is the password grant of the anonymous client for
// those credentials, as Anchore's clients send it. Basic credentials with
// a non-empty form are refused: a request uses one way to authenticate
// (RFC 6749 §2.3).
func (e *engineEndpoint) parseTokenRequest(w http.ResponseWriter, r *http.Request) *OAuthError {
	authz := r.Header.Get("Authorization")
	user, pass, basic := r.BasicAuth()
	if authz != "" && !basic {
		oerr := oauthError(http.StatusBadRequest, "invalid_request", "Authorization must be HTTP Basic, on an empty body")
		return &oerr
	}
	if basic && r.Header.Get("Content-Type") == "" && emptyBody(w, r) {
		r.Form = basicPasswordGrant(user, pass)
		r.PostForm = r.Form
		return nil
	}
	if oerr := parseForm(w, r); oerr != nil {
		return oerr
	}
	if !basic {
		return nil
	}
	if r.Form.Get("grant_type") == string(oauth2.ClientCredentials) {
		return nil // Basic authenticates the client (RFC 6749 §2.3.1)
	}
	if len(r.Form) > 0 {
		oerr := oauthError(http.StatusBadRequest, "invalid_request", "send credentials either in the form or as HTTP Basic on an empty body, not both")
		return &oerr
	}
	r.Form = basicPasswordGrant(user, pass)
	r.PostForm = r.Form
	return nil
}

func basicPasswordGrant(user, pass string) url.Values {
	return url.Values{
		"grant_type": {string(oauth2.PasswordCredentials)},
		"client_id":  {engine.AnonymousClient},
		"username":   {user},
		"password":   {pass},
	}
}

// emptyBody reports whether the request has no body bytes at all.
func emptyBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 || r.Body == nil {
		return true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	var b [1]byte
	n, _ := io.ReadFull(r.Body, b[:])
	return n == 0
}

// failure maps an error of the token flow to RFC 6749 §5.2.
func (e *engineEndpoint) failure(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errUnknownClient):
		w.Header().Set("WWW-Authenticate", e.rd.challenge)
		e.rd.oauth(w, oauthError(http.StatusUnauthorized, "invalid_client", "unknown client_id; public clients: "+engine.AnonymousClient+" and the configured engine.public_clients"))
	case errors.Is(err, errClientID):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", err.Error()))
	case errors.Is(err, oautherrors.ErrInvalidGrant):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "invalid username or password"))
	case errors.Is(err, authn.ErrDisabled):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "account is disabled"))
	case isCredentialError(err): // the account ended while the request ran
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_grant", "invalid username or password"))
	case errors.Is(err, oautherrors.ErrUnsupportedGrantType):
		e.rd.oauth(w, e.grants.unsupported())
	case errors.Is(err, oautherrors.ErrInvalidRequest):
		e.rd.oauth(w, oauthError(http.StatusBadRequest, "invalid_request", "username and password are required"))
	default:
		e.rd.storeOrInternalOAuth(w, r, err)
	}
}

// engineAccount is an account in Anchore's shape; an unknown email is null.
type engineAccount struct {
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	State       string  `json:"state"`
	Email       *string `json:"email"`
	CreatedAt   *string `json:"created_at"`
	LastUpdated *string `json:"last_updated"`
}

func accountBody(a engine.Account) engineAccount {
	body := engineAccount{Name: a.Name, Type: a.Type, State: a.State,
		CreatedAt: optionalTime(a.CreatedAt), LastUpdated: optionalTime(a.UpdatedAt)}
	if a.Email != "" {
		body.Email = &a.Email
	}
	return body
}

// account serves GET /v1/account: the caller's own account, as its
// credential sees it.
func (e *engineEndpoint) account(w http.ResponseWriter, r *http.Request) {
	// 1-2. Authenticate.
	id, ok := e.caller(w, r)
	if !ok {
		return
	}
	// 3. Read the account.
	acct, err := e.eng.Account(r.Context(), id)
	if err != nil {
		e.rd.storeOrInternalEngine(w, r, err)
		return
	}
	// 4. Respond.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, accountBody(acct))
}

// accounts serves GET /v1/accounts: every account, for admins.
func (e *engineEndpoint) accounts(w http.ResponseWriter, r *http.Request) {
	// 1-2. Authenticate.
	id, ok := e.caller(w, r)
	if !ok {
		return
	}
	// 3. Authorize: admins only (an API token only with the admin role).
	if !e.eng.MayList(id) {
		e.rd.engine(w, EngineError{Status: http.StatusForbidden, Message: "only admins may list accounts"})
		return
	}
	// 4. List and respond.
	all, err := e.eng.ListAccounts(r.Context())
	if err != nil {
		e.rd.storeOrInternalEngine(w, r, err)
		return
	}
	out := make([]engineAccount, 0, len(all))
	for _, a := range all {
		out = append(out, accountBody(a))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// caller authenticates an account request: HTTP Basic (a password, or an
// API token as the password), or Bearer with an engine access token or an
// API token. It renders the error itself and reports whether it succeeded.
func (e *engineEndpoint) caller(w http.ResponseWriter, r *http.Request) (authn.Identity, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		e.rd.engineUnauthorized(w, "authentication required: HTTP Basic, or Bearer with an access token", false)
	case strings.EqualFold(scheme, "Basic"):
		return e.basicCaller(w, r)
	case strings.EqualFold(scheme, "Bearer"):
		return e.bearerCaller(w, r, strings.TrimSpace(cred))
	default:
		e.rd.engineUnauthorized(w, "use HTTP Basic, or Bearer with an access token", false)
	}
	return authn.Identity{}, false
}

func (e *engineEndpoint) basicCaller(w http.ResponseWriter, r *http.Request) (authn.Identity, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" || pass == "" {
		e.rd.engineUnauthorized(w, "malformed HTTP Basic credentials", false)
		return authn.Identity{}, false
	}
	if !e.limits.admit(w, r, user, authn.Secret(pass), e.rd.tooManyEngine) {
		return authn.Identity{}, false
	}
	id, err := e.authn.Authenticate(r.Context(), user, authn.Secret(pass))
	if d := credentialFailure(err); d != nil {
		if !errors.Is(err, authn.ErrDisabled) {
			e.limits.failed(r, user, authn.Secret(pass))
		}
		e.rd.engineUnauthorized(w, d.Message, false)
		return authn.Identity{}, false
	}
	if err != nil {
		e.rd.storeOrInternalEngine(w, r, err)
		return authn.Identity{}, false
	}
	return id, true
}

func (e *engineEndpoint) bearerCaller(w http.ResponseWriter, r *http.Request, tok string) (authn.Identity, bool) {
	if !e.limits.admit(w, r, "", "", e.rd.tooManyEngine) {
		return authn.Identity{}, false
	}
	var id authn.Identity
	var err error
	if apitoken.LooksLike(tok) {
		id, err = e.authn.Authenticate(r.Context(), apitoken.Username, authn.Secret(tok))
	} else {
		id, err = e.eng.Verify(r.Context(), tok)
		if info := infoOf(r.Context()); info != nil && err == nil {
			info.subject = id.Name
		}
	}
	switch {
	case errors.Is(err, authn.ErrDisabled):
		e.rd.engineUnauthorized(w, "account is disabled", true)
	case isCredentialError(err) || errors.Is(err, engine.ErrInvalidToken):
		e.limits.failed(r, "", "")
		e.rd.engineUnauthorized(w, "invalid, expired or revoked access token", true)
	case err != nil:
		e.rd.storeOrInternalEngine(w, r, err)
	default:
		return id, true
	}
	return authn.Identity{}, false
}

// EngineError is an error of the Engine API's account calls, rendered in
// Anchore's shape {"message","httpcode","detail"}.
type EngineError struct {
	Status  int
	Message string
}

// engine writes an Engine API error body.
func (rd renderer) engine(w http.ResponseWriter, e EngineError) {
	writeJSON(w, e.Status, map[string]any{"message": e.Message, "httpcode": e.Status, "detail": map[string]any{}})
}

// engineUnauthorized answers 401 with a Basic and a Bearer challenge
// (RFC 6750 §3); badToken adds error="invalid_token" to the latter.
func (rd renderer) engineUnauthorized(w http.ResponseWriter, message string, badToken bool) {
	bearer := "Bearer " + strings.TrimPrefix(rd.challenge, "Basic ")
	if badToken {
		bearer += `, error="invalid_token"`
	}
	w.Header().Add("WWW-Authenticate", rd.challenge)
	w.Header().Add("WWW-Authenticate", bearer)
	rd.engine(w, EngineError{Status: http.StatusUnauthorized, Message: message})
}

// tooManyEngine answers 429 with Retry-After in the Engine API's shape.
func (rd renderer) tooManyEngine(w http.ResponseWriter, wait time.Duration) {
	secs := retryAfter(w, wait)
	rd.engine(w, EngineError{Status: http.StatusTooManyRequests, Message: tooManyFailures + "; retry after " + secs + " seconds"})
}

// storeOrInternalEngine answers 503 with Retry-After when err says the
// store is away, else a generic 500.
func (rd renderer) storeOrInternalEngine(w http.ResponseWriter, r *http.Request, err error) {
	if !unavailable(err) {
		rd.internalEngine(w, r, err)
		return
	}
	rd.logUnavailable(r, err)
	w.Header().Set("Retry-After", storeRetryAfter)
	rd.engine(w, EngineError{Status: http.StatusServiceUnavailable, Message: "the credential store does not answer; retry shortly"})
}

// internalEngine logs err and answers a generic 500.
func (rd renderer) internalEngine(w http.ResponseWriter, r *http.Request, err error) {
	rd.logInternal(r, err)
	rd.engine(w, EngineError{Status: http.StatusInternalServerError, Message: "internal server error"})
}
