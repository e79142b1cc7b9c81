package server

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
)

// engineEndpoint serves the Engine OAuth2 API (Anchore Engine's
// /v1/oauth/token, /v1/account and /v1/accounts): the grants of the engine
// package's table over the one grant pipeline, and who-am-I calls taking
// HTTP Basic, an engine access token or an API token as Bearer (RFC 6750
// §2.1).
type engineEndpoint struct {
	eng    *engine.Service
	authn  authn.Authenticator // API tokens, then passwords
	token  *grant.Pipeline     // of /v1/oauth/token: dispatch, errors and discovery
	oauth  oauthParser
	rd     renderer
	limits *limiter // failed-authentication budgets, checked before any password
}

func newEngineEndpoint(eng *engine.Service, a authn.Authenticator, observer grant.Observer, rd renderer,
	limits *limiter) *engineEndpoint {
	e := &engineEndpoint{eng: eng, authn: a, rd: rd, limits: limits}
	e.token = eng.Pipeline(a, observer)
	e.oauth = newOAuthParser(e.token.Grants, e.client)
	return e
}

// Mount registers the routes.
func (e *engineEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/v1/oauth/token", e.serveToken).Methods(http.MethodPost)
	r.HandleFunc("/v1/account", e.account).Methods(http.MethodGet)
	r.HandleFunc("/v1/accounts", e.accounts).Methods(http.MethodGet)
}

// errUnknownClient is a client_id that is not one of the API's public clients.
var errUnknownClient = &grant.Error{Code: oautherrors.ErrInvalidClient,
	Message: "unknown client_id; public clients: " + engine.AnonymousClient + " and the configured engine.public_clients"}

// client is the client rule of /v1/oauth/token, for go-oauth2: a
// registered client with its secret for client_credentials; otherwise one
// of the configured public clients (or engine.AnonymousClient), without one.
func (e *engineEndpoint) client(r *http.Request) (string, string, error) {
	if r.Form.Get("grant_type") == grant.TypeClientCredentials {
		return confidentialClient(r)
	}
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
// there when the client asked for one, or the grant grants scopes (§3.3).
type engineTokenResponse struct {
	AccessToken  string  `json:"access_token"`
	ExpiresIn    int64   `json:"expires_in"`
	TokenType    string  `json:"token_type"`
	Scope        *string `json:"scope,omitempty"`
	RefreshToken string  `json:"refresh_token,omitempty"` // rotates
	// IssuedTokenType answers a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// serveToken serves POST /v1/oauth/token: whichever grant of the table the
// request names, or unsupported_grant_type naming them (RFC 6749 §5.2).
func (e *engineEndpoint) serveToken(w http.ResponseWriter, r *http.Request) {
	// 1. Parse: a form, or an empty body with Basic credentials.
	req, err := e.parseToken(w, r)
	// 2-4. Authenticate, authorize and mint.
	var res grant.Result
	if err == nil {
		res, err = runLogged(r, e.token, req, e.rd.logger)
	}
	if err != nil {
		e.rd.oauthFailure(w, r, err)
		return
	}
	// 5. Respond (RFC 6749 §5.1).
	resp := engineTokenResponse{AccessToken: res.Token.Raw, ExpiresIn: expiresIn(res), TokenType: "Bearer",
		RefreshToken: res.RefreshToken, IssuedTokenType: issuedTokenType(req)}
	if res.Scope != nil || len(req.Scope) > 0 {
		granted := strings.Join(res.Scope, " ")
		resp.Scope = &granted
	}
	writeToken(w, resp)
}

// parseToken reads a token request (parseTokenRequest) and validates it.
func (e *engineEndpoint) parseToken(w http.ResponseWriter, r *http.Request) (grant.Request, error) {
	if err := e.parseTokenRequest(w, r); err != nil {
		return grant.Request{}, err
	}
	req, err := e.oauth.parse(r)
	if err != nil {
		return grant.Request{}, err
	}
	if len(r.Form["audience"]) > 1 {
		return grant.Request{}, grant.Invalid("audience may be given once", "")
	}
	req.Service = r.Form.Get("audience")
	req.Budget = e.limits.budget(r)
	return req, nil
}

// parseTokenRequest reads the form (parseForm). An empty body with HTTP
// Basic credentials is the password grant of the anonymous client for
// those credentials, as Anchore's clients send it. Basic credentials with
// a non-empty form are refused: a request uses one way to authenticate
// (RFC 6749 §2.3), unless they authenticate a client (§2.3.1).
func (e *engineEndpoint) parseTokenRequest(w http.ResponseWriter, r *http.Request) error {
	authz := r.Header.Get("Authorization")
	user, pass, basic := r.BasicAuth()
	if authz != "" && !basic {
		return grant.Invalid("Authorization must be HTTP Basic, on an empty body", "")
	}
	if basic && r.Header.Get("Content-Type") == "" && emptyBody(w, r) {
		r.Form = basicPasswordGrant(user, pass)
		r.PostForm = r.Form
		return nil
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if !basic || r.Form.Get("grant_type") == grant.TypeClientCredentials {
		return nil
	}
	if len(r.Form) > 0 {
		return grant.Invalid("send credentials either in the form or as HTTP Basic on an empty body, not both", "")
	}
	r.Form = basicPasswordGrant(user, pass)
	r.PostForm = r.Form
	return nil
}

func basicPasswordGrant(user, pass string) url.Values {
	return url.Values{
		"grant_type": {grant.TypePassword},
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
	id, bearer, err := e.caller(r)
	// 3. Read the account.
	var acct engine.Account
	if err == nil {
		acct, err = e.eng.Account(r.Context(), id)
	}
	if err != nil {
		e.rd.engineFailure(w, r, err, bearer)
		return
	}
	// 4. Respond.
	writePrivate(w, http.StatusOK, accountBody(acct))
}

// accounts serves GET /v1/accounts: every account, for admins.
func (e *engineEndpoint) accounts(w http.ResponseWriter, r *http.Request) {
	// 1-2. Authenticate.
	id, bearer, err := e.caller(r)
	// 3. Authorize: admins only (an API token only with the admin role).
	if err == nil && !e.eng.MayList(id) {
		err = EngineError{Status: http.StatusForbidden, Message: "only admins may list accounts"}
	}
	// 4. List and respond.
	var all []engine.Account
	if err == nil {
		all, err = e.eng.ListAccounts(r.Context())
	}
	if err != nil {
		e.rd.engineFailure(w, r, err, bearer)
		return
	}
	out := make([]engineAccount, 0, len(all))
	for _, a := range all {
		out = append(out, accountBody(a))
	}
	writePrivate(w, http.StatusOK, out)
}

// caller authenticates an account request: HTTP Basic (a password, or an
// API token as the password), or Bearer with an engine access token or an
// API token (bearer reports which).
func (e *engineEndpoint) caller(r *http.Request) (id authn.Identity, bearer bool, err error) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	user, pass, basic := r.BasicAuth()
	req := grant.Request{Budget: e.limits.budget(r)}
	var handler grant.Handler
	switch {
	case h == "":
		return id, false, engineUnauthorized("authentication required: HTTP Basic, or Bearer with an access token")
	case basic && (user == "" || pass == ""), strings.EqualFold(scheme, "Basic") && !basic:
		return id, false, engineUnauthorized("malformed HTTP Basic credentials")
	case basic:
		req.Username, req.Password, handler = user, authn.Secret(pass), grant.Password{Authn: e.authn}
	case strings.EqualFold(scheme, "Bearer"):
		req.Password, bearer = authn.Secret(strings.TrimSpace(cred)), true
		handler = engine.Bearer{Service: e.eng, APITokens: e.authn}
	default:
		return id, false, engineUnauthorized("use HTTP Basic, or Bearer with an access token")
	}
	id, err = grant.Authenticate(r.Context(), handler, &req)
	if info := infoOf(r.Context()); info != nil && err == nil {
		info.subject = id.Name
	}
	return id, bearer, err
}

// EngineError is an error of the Engine API's account calls, rendered in
// Anchore's shape {"message","httpcode","detail"}.
type EngineError struct {
	Status  int
	Message string
}

func (e EngineError) Error() string { return e.Message }

// engineUnauthorized is a 401 of the account calls without credentials
// to speak of (engineFailure adds the challenges).
func engineUnauthorized(message string) EngineError {
	return EngineError{Status: http.StatusUnauthorized, Message: message}
}

// engineFailure writes a refused or failed account call in Anchore's
// shape: the one error writer of the Engine API's account calls. A 401
// carries a Basic and a Bearer challenge (RFC 6750 §3), the latter with
// error="invalid_token" when a Bearer credential was refused.
func (rd renderer) engineFailure(w http.ResponseWriter, r *http.Request, err error, bearer bool) {
	var ee EngineError
	g, refused := grant.AsError(err)
	switch {
	case errors.As(err, &ee) && ee.Status == http.StatusUnauthorized:
		rd.engineUnauthorized(w, ee.Message, false)
	case errors.As(err, &ee):
		rd.engine(w, ee)
	case refused && errors.Is(g.Code, grant.ErrTooManyFailures):
		rd.tooManyEngine(w, g.RetryAfter)
	case errors.Is(err, engine.ErrNotAnAccount):
		rd.engine(w, EngineError{Status: http.StatusForbidden, Message: err.Error()})
	case refused:
		rd.engineUnauthorized(w, g.Message, bearer)
	default:
		rd.storeOrInternalEngine(w, r, err)
	}
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
	rd.engine(w, EngineError{Status: http.StatusServiceUnavailable, Message: unavailableAnswer(w, err)})
}

// internalEngine logs err and answers a generic 500.
func (rd renderer) internalEngine(w http.ResponseWriter, r *http.Request, err error) {
	rd.logInternal(r, err)
	rd.engine(w, EngineError{Status: http.StatusInternalServerError, Message: "internal server error"})
}
