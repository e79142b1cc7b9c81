package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	oauth2 "github.com/go-oauth2/oauth2/v4"
	oautherrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	oauthserver "github.com/go-oauth2/oauth2/v4/server"
	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/redact"
	"github.com/tollgate/tollgate/pkg/scope"
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 64 << 10

// tokenEndpoint serves /oauth2/token: the Docker token protocol (GET,
// distribution token.md) and its OAuth2 form (POST, distribution oauth.md).
type tokenEndpoint struct {
	grant  loggedGrant
	grants tokenGrants // of POST: dispatch, errors and discovery
	authn  authn.Authenticator
	oauth  *oauthserver.Server
	rd     renderer

	limits *limiter // failed-authentication budgets, checked before any password
}

func newTokenEndpoint(g *grant.Service, a authn.Authenticator, rd renderer, limits *limiter) *tokenEndpoint {
	e := &tokenEndpoint{grant: loggedGrant{Service: g, logger: rd.logger}, authn: a, rd: rd, limits: limits}
	// POST's grants (distribution oauth.md), for public clients: one flow
	// serves both, go-oauth2 validating each.
	e.grants = tokenGrants{{typ: oauth2.PasswordCredentials, auth: publicAuth}, {typ: oauth2.Refreshing, auth: publicAuth}}
	e.oauth = newOAuthServer(publicClient, passwordGrantUser(a), e.grants.types()...)
	return e
}

// loggedGrant is the grant service whose Issue, for GET and POST alike,
// logs one "access reduced" line per scope granted less than was asked,
// naming the ACL rule that decided it (-1: none, default deny): the
// operator's first answer to "why was this denied?" (`tollgate acl explain`
// gives the rest). Subject, scope and rule only; never a secret.
type loggedGrant struct {
	*grant.Service
	logger *slog.Logger
}

// Issue is grant.Service.Issue plus the log line. When the log level hides
// it, nothing more is done than Issue itself.
func (g loggedGrant) Issue(ctx context.Context, req grant.Request) (grant.Result, error) {
	logging := g.logger.Enabled(ctx, slog.LevelInfo)
	req.WantRules = req.WantRules || logging
	res, err := g.Service.Issue(ctx, req)
	if err == nil && logging {
		g.logReduced(ctx, req, res)
	}
	return res, err
}

func (g loggedGrant) logReduced(ctx context.Context, req grant.Request, res grant.Result) {
	j := 0 // Granted keeps the request order and leaves out scopes granted nothing
	for k, asked := range req.Scopes {
		var got scope.Scope
		if j < len(res.Granted) && sameResource(res.Granted[j], asked) {
			got = res.Granted[j]
			j++
		}
		if grantsAll(got, asked.Actions) {
			continue
		}
		rule := -1
		if k < len(res.Rules) {
			rule = res.Rules[k]
		}
		attrs := []any{"request_id", requestID(ctx), "subject", redact.Secrets(req.Identity.Name), "service", req.Service,
			"scope", asked.String(), "granted", strings.Join(got.Actions, ","), "rule", rule}
		if req.Identity.Role != "" {
			attrs = append(attrs, "role", req.Identity.Role)
		}
		g.logger.InfoContext(ctx, "access reduced", attrs...)
	}
}

func sameResource(a, b scope.Scope) bool {
	return a.Type == b.Type && a.Class == b.Class && a.Name == b.Name
}

// grantsAll reports whether granted holds every action asked (or "*").
func grantsAll(granted scope.Scope, asked []string) bool {
	for _, a := range asked {
		if !granted.Has(a) {
			return false
		}
	}
	return true
}

// Mount registers the routes.
func (e *tokenEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/oauth2/token", e.get).Methods(http.MethodGet)
	r.HandleFunc("/oauth2/token", e.post).Methods(http.MethodPost)
}

// newOAuthServer configures go-oauth2's server for request validation and
// the password grant, with the given clients and grant types. Minting and
// refresh tokens stay ours: Docker identity tokens are reused by every
// client under its own client_id and must not rotate, which go-oauth2's
// manager does not allow.
func newOAuthServer(clients oauthserver.ClientInfoHandler, passwordUser oauthserver.PasswordAuthorizationHandler,
	grants ...oauth2.GrantType) *oauthserver.Server {
	cfg := oauthserver.NewConfig()
	cfg.AllowedGrantTypes = grants
	srv := oauthserver.NewServer(cfg, manage.NewManager())
	srv.SetClientInfoHandler(clients)
	srv.SetPasswordAuthorizationHandler(passwordUser)
	return srv
}

// publicClient accepts any client_id without a secret: Docker clients send
// their own names (docker, go-containerregistry, oras-go, regclient/regctl).
func publicClient(r *http.Request) (string, string, error) {
	id := r.Form.Get("client_id")
	if id == "" {
		return "", "", fmt.Errorf("%w is required", errClientID)
	}
	if err := checkClientID(id); err != nil {
		return "", "", err
	}
	return id, "", nil
}

var errClientID = errors.New("client_id")

// maxClientID bounds a client_id; real ones are short.
const maxClientID = 255

// checkClientID enforces RFC 6749 Appendix A.1 (printable ASCII) and a
// length bound on an optional client_id.
func checkClientID(id string) error {
	if len(id) > maxClientID {
		return fmt.Errorf("%w is longer than %d bytes", errClientID, maxClientID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return fmt.Errorf("%w must be printable ASCII (RFC 6749 Appendix A.1)", errClientID)
		}
	}
	return nil
}

// passwordGrantUser authenticates the password grant for go-oauth2 against
// a (API tokens, then passwords) and leaves the identity in the
// *authn.Identity under passwordIdentityKey of the context, when there is one.
func passwordGrantUser(a authn.Authenticator) oauthserver.PasswordAuthorizationHandler {
	return func(ctx context.Context, _, username, password string) (string, error) {
		id, err := a.Authenticate(ctx, username, authn.Secret(password))
		if errors.Is(err, authn.ErrDisabled) {
			return "", err
		}
		if isCredentialError(err) {
			return "", oautherrors.ErrInvalidGrant
		}
		if err != nil {
			return "", err
		}
		if slot, ok := ctx.Value(passwordIdentityKey{}).(*authn.Identity); ok {
			*slot = id // go-oauth2 passes on only the name; the endpoints need the role too
		}
		return id.Name, nil
	}
}

// passwordIdentityKey is the context key of the *authn.Identity in which
// passwordUser leaves the identity it authenticated.
type passwordIdentityKey struct{}

func isCredentialError(err error) bool {
	return errors.Is(err, authn.ErrNoSuchUser) || errors.Is(err, authn.ErrBadCredentials)
}

// tokenResponse is the GET response (distribution token.md: Token Response
// Fields). token and access_token carry the same value.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// get serves GET /oauth2/token.
func (e *tokenEndpoint) get(w http.ResponseWriter, r *http.Request) {
	// 1. Parse.
	q := r.URL.Query()
	scopes, err := scope.ParseAll(q["scope"])
	if err != nil {
		e.rd.docker(w, badRequest("invalid scope", err.Error()))
		return
	}
	if err := checkClientID(q.Get("client_id")); err != nil {
		e.rd.docker(w, badRequest("invalid client_id", err.Error()))
		return
	}
	if err := e.grant.CheckService(q.Get("service")); err != nil {
		e.rd.docker(w, badRequest("unknown service", err.Error()))
		return
	}
	// 2. Authenticate (Basic, Bearer with an API token, or anonymous),
	// unless a failure budget is spent (a 429 is counted in the metrics,
	// never audited).
	user, secret := requestCredentials(r)
	if secret != "" && !e.limits.admit(w, r, user, secret, e.rd.tooManyDocker) {
		return
	}
	id, ref, err := identify(r, e.authn, e.limits, user, secret)
	if err != nil {
		e.rd.storeOrInternalDocker(w, r, err)
		return
	}
	if ref != nil {
		e.refused(r, q.Get("service"), scopes, ref)
		e.rd.docker(w, ref.DockerError)
		return
	}
	if err := grant.CheckAccount(id, user, q.Get("account")); err != nil {
		e.rd.docker(w, badRequest("account does not match the authenticated user", ""))
		return
	}
	// 3-4. Authorize and mint.
	res, err := e.grant.Issue(r.Context(), grant.Request{
		Identity: id,
		Service:  q.Get("service"),
		Scopes:   scopes,
		ClientIP: clientIP(r),
		ClientID: q.Get("client_id"),
		Offline:  strings.EqualFold(q.Get("offline_token"), "true"),
	})
	if errors.Is(err, grant.ErrUnknownService) {
		e.rd.docker(w, badRequest("unknown service", err.Error()))
		return
	}
	if d := credentialFailure(err); d != nil { // the account, read again for a refresh token
		e.denied(r, q.Get("service"), scopes, d.Message)
		e.rd.docker(w, *d)
		return
	}
	if err != nil {
		e.rd.storeOrInternalDocker(w, r, err)
		return
	}
	// 5. Respond.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokenResponse{
		Token:        res.Token.Raw,
		AccessToken:  res.Token.Raw,
		ExpiresIn:    expiresIn(res),
		IssuedAt:     res.Token.IssuedAt.UTC().Format(time.RFC3339),
		RefreshToken: res.RefreshToken,
	})
}

// Credential errors of GET /oauth2/token.
var (
	errMalformedCredentials = errors.New("malformed credentials: use HTTP Basic, or Bearer with an API token")
	errBearerNotAPIToken    = errors.New("a Bearer credential here must be an API token (tg_…); log in with HTTP Basic")
)

// requestCredentials reads the credentials of a GET token request: HTTP
// Basic, or an API token as Bearer (NORA-style clients), which stands for
// Basic with the user name apitoken.Username. No Authorization header, or
// empty Basic credentials, is the anonymous caller (both ""). A header that
// is neither gives the user "" and a non-empty secret that identify
// refuses.
func requestCredentials(r *http.Request) (user string, secret authn.Secret) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ""
	}
	if u, p, ok := r.BasicAuth(); ok {
		return u, authn.Secret(p)
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if strings.EqualFold(scheme, "Bearer") {
		return apitoken.Username, authn.Secret(strings.TrimSpace(cred))
	}
	return "", authn.Secret(h)
}

// refusal is a credential identify refused: the 401 to render, and
// whether it is a failed login (a wrong password, an unknown user, an
// invalid API token), which the audit log aggregates per address and
// minute, rather than a malformed credential or a disabled account, one
// row each.
type refusal struct {
	DockerError
	failedLogin bool
}

// identify authenticates credentials read by requestCredentials with a
// (API tokens, then passwords): none is the anonymous caller; a header of
// another scheme, or a Bearer credential that is not an API token, is a
// 401 without asking a; a refused credential a 401 charged to the
// failure budgets (a disabled account's is not: its owner proved it).
func identify(r *http.Request, a authn.Authenticator, limits *limiter, user string, secret authn.Secret) (authn.Identity, *refusal, error) {
	switch {
	case user == "" && secret == "":
		return authn.Identity{}, nil, nil
	case user == "":
		return authn.Identity{}, &refusal{DockerError: unauthorized(errMalformedCredentials.Error())}, nil
	case user == apitoken.Username && !apitoken.LooksLike(string(secret)) && isBearer(r):
		limits.failed(r, "", "")
		return authn.Identity{}, &refusal{DockerError: unauthorized(errBearerNotAPIToken.Error()), failedLogin: true}, nil
	}
	id, err := a.Authenticate(r.Context(), user, secret)
	if d := credentialFailure(err); d != nil {
		disabled := errors.Is(err, authn.ErrDisabled)
		if !disabled {
			limits.failed(r, user, secret)
		}
		return authn.Identity{}, &refusal{DockerError: *d, failedLogin: !disabled}, nil
	}
	if err != nil {
		return authn.Identity{}, nil, err
	}
	return id, nil, nil
}

// credentialFailure is the 401 of a refused credential, or nil.
func credentialFailure(err error) *DockerError {
	var d DockerError
	switch {
	case errors.Is(err, authn.ErrDisabled):
		d = unauthorized("account is disabled")
	case isCredentialError(err):
		d = unauthorized("invalid username or password")
	default:
		return nil
	}
	return &d
}

func isBearer(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Bearer")
}

// refused audits a refusal of identify.
func (e *tokenEndpoint) refused(r *http.Request, service string, scopes []scope.Scope, ref *refusal) {
	if ref.failedLogin {
		e.failedLogin(r)
		return
	}
	e.denied(r, service, scopes, ref.Message)
}

// failedLogin audits a refused login under the name the caller gave,
// aggregated per client address and minute (grant.Service.FailedLogin).
func (e *tokenEndpoint) failedLogin(r *http.Request) {
	e.grant.FailedLogin(grant.Request{Identity: authn.Identity{Name: callerName(r)}, ClientIP: clientIP(r)})
}

// callerName is the name the caller gave: the Basic user name, else the
// form's username; one of a secret's shape (a token pasted as the user
// name) is redacted.
func callerName(r *http.Request) string {
	user, _ := requestCredentials(r)
	if user == "" {
		user = r.FormValue("username")
	}
	return redact.Secrets(user)
}

// denied audits a refused token request under the name the caller gave.
func (e *tokenEndpoint) denied(r *http.Request, service string, scopes []scope.Scope, reason string) {
	e.grant.Denied(grant.Request{
		Identity: authn.Identity{Name: callerName(r)},
		Service:  service,
		Scopes:   scopes,
		ClientIP: clientIP(r),
		ClientID: redact.Secrets(r.FormValue("client_id")),
	}, reason)
}

func expiresIn(res grant.Result) int64 {
	return int64(res.Token.ExpiresAt.Sub(res.Token.IssuedAt) / time.Second)
}
