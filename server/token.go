package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/redact"
	"github.com/tollgate/tollgate/pkg/scope"
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 64 << 10

// tokenEndpoint serves /oauth2/token: the Docker token protocol (GET,
// distribution token.md) and its OAuth2 form (POST, distribution oauth.md),
// each a table of the one grant pipeline.
type tokenEndpoint struct {
	get, post *grant.Pipeline
	oauth     oauthParser // POST's request validation (go-oauth2)
	rd        renderer
	limits    *limiter // failed-authentication budgets, checked before any password
}

func newTokenEndpoint(g *grant.Service, a authn.Authenticator, w grant.Workloads, rd renderer, limits *limiter) *tokenEndpoint {
	get, post := grant.RegistryGrants(g, a, w)
	e := &tokenEndpoint{get: &grant.Pipeline{Grants: get, Service: g}, post: &grant.Pipeline{Grants: post, Service: g},
		rd: rd, limits: limits}
	e.oauth = newOAuthParser(post, publicClient)
	return e
}

// Mount registers the routes.
func (e *tokenEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/oauth2/token", e.serveGet).Methods(http.MethodGet)
	r.HandleFunc("/oauth2/token", e.servePost).Methods(http.MethodPost)
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

// serveGet serves GET /oauth2/token.
func (e *tokenEndpoint) serveGet(w http.ResponseWriter, r *http.Request) {
	// 1. Parse.
	req, err := e.parseGet(r)
	// 2-4. Authenticate, authorize and mint.
	var res grant.Result
	if err == nil {
		res, err = runLogged(r, e.get, req, e.rd.logger)
	}
	if err != nil {
		e.rd.dockerFailure(w, r, err)
		return
	}
	// 5. Respond (never cached).
	writeTokenResponse(w, tokenResponse{
		Token:        res.Token.Raw,
		AccessToken:  res.Token.Raw,
		ExpiresIn:    expiresIn(res),
		IssuedAt:     res.Token.IssuedAt.UTC().Format(time.RFC3339),
		RefreshToken: res.RefreshToken,
	})
}

// parseGet reads a GET token request; a foreign service fails before any
// password is checked.
func (e *tokenEndpoint) parseGet(r *http.Request) (grant.Request, error) {
	q := r.URL.Query()
	scopes, err := scope.ParseAll(q["scope"])
	if err != nil {
		return grant.Request{}, grant.Invalid("invalid scope", err.Error())
	}
	if err := client.CheckID(q.Get("client_id")); err != nil {
		e := grant.Invalid("invalid client_id", err.Error())
		e.Cause = err
		return grant.Request{}, e
	}
	if err := e.get.Service.CheckService(q.Get("service")); err != nil {
		return grant.Request{}, err
	}
	user, secret := requestCredentials(r)
	return grant.Request{
		GrantType: grant.TypeGet,
		Username:  user, Password: secret, Bearer: isBearer(r), Account: q.Get("account"),
		Tried:    user, // redacted by the pipeline if it has a secret's shape
		Service:  q.Get("service"),
		Scopes:   scopes,
		ClientIP: clientIP(r),
		ClientID: q.Get("client_id"),
		Offline:  strings.EqualFold(q.Get("offline_token"), "true"),
		Budget:   e.limits.budgetFor(r, secret),
	}, nil
}

// runLogged runs req through p and logs one "access reduced" line per
// scope granted less than was asked, naming the ACL rule that decided it
// (-1: none, default deny): the operator's first answer to "why was this
// denied?" (`tollgate acl explain` gives the rest). Subject, scope and
// rule only; never a secret. When the log level hides it, nothing more is
// done than the pipeline itself.
func runLogged(r *http.Request, p *grant.Pipeline, req grant.Request, logger *slog.Logger) (grant.Result, error) {
	ctx := r.Context()
	logging := logger.Enabled(ctx, slog.LevelInfo)
	req.WantRules = logging
	res, err := p.Token(ctx, req)
	if err == nil && logging {
		logReduced(ctx, logger, req, res)
	}
	if info := infoOf(ctx); info != nil && err == nil && !res.Identity.Anonymous() {
		info.subject = res.Identity.Name // a refresh grant's subject is known only here
	}
	return res, err
}

func logReduced(ctx context.Context, logger *slog.Logger, req grant.Request, res grant.Result) {
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
		attrs := []any{"request_id", requestID(ctx), "subject", redact.Secrets(res.Identity.Name), "service", req.Service,
			"scope", asked.String(), "granted", strings.Join(got.Actions, ","), "rule", rule}
		if res.Identity.Role != "" {
			attrs = append(attrs, "role", res.Identity.Role)
		}
		logger.InfoContext(ctx, "access reduced", attrs...)
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

// requestCredentials reads the credentials of a GET token request: HTTP
// Basic, or an API token as Bearer (NORA-style clients), which stands for
// Basic with the user name apitoken.Username. No Authorization header, or
// empty Basic credentials, is the anonymous caller (both ""). A header that
// is neither gives the user "" and a non-empty secret, which the GET
// handler refuses as malformed.
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

func isBearer(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Bearer")
}

// expiresIn is the token's expires_in in whole seconds: what it has left.
func expiresIn(res grant.Result) int64 { return int64(res.ExpiresIn / time.Second) }
