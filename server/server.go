package server

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/gateway"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/introspect"
	"github.com/tollgate/tollgate/pkg/metrics"
)

// Options are what the server wires together.
type Options struct {
	Grant  *grant.Service
	Authn  authn.Authenticator
	Logger *slog.Logger
	Realm  string // realm of Basic challenges; the issuer is a good choice

	// Workloads, when set, serves the token exchange of identity tokens
	// (RFC 8693) at /oauth2/token; the Engine API's is its own
	// (engine.Service.Workloads).
	Workloads grant.Workloads

	// APITokens and Passwords, when both set, serve /api/tokens. Passwords
	// must know only the password users (not API tokens): it checks the
	// credentials that create tokens.
	APITokens *apitoken.Tokens
	Passwords authn.Authenticator

	// Engine, when set, serves the Engine OAuth2 API (engine.go):
	// /v1/oauth/token, /v1/account and /v1/accounts, authenticating
	// through Authn.
	Engine *engine.Service

	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (see ipResolver); none: the peer is the client.
	TrustedProxies []netip.Prefix
	// Limits are the failed-authentication budgets; zero disables them.
	Limits Limits
	// RateLimited, when set, is called once for every request refused with
	// 429, with the route's path template (metrics.Metrics.RateLimited).
	RateLimited func(endpoint string)

	// Metrics, when set, counts requests, token outcomes and authentication
	// failures, and GET /metrics serves it (ops.go). New serves a copy of
	// Grant whose Observer feeds these metrics and the access log (Grant's
	// own Observer, if any, is still told).
	Metrics *metrics.Metrics
	// Ready are the checks of GET /ready, run concurrently within
	// ReadyTimeout (0: DefaultReadyTimeout).
	Ready        []ReadyCheck
	ReadyTimeout time.Duration

	// Discovery, when its JWKS is set, serves /.well-known/jwks.json and
	// the authorization-server metadata (wellknown.go).
	Discovery Discovery

	// Introspection, when set, serves /oauth2/revoke and /oauth2/introspect
	// (introspect.go), authenticating through IntrospectionAuthn (nil:
	// Authn): registered clients (resource servers, RFC 7662 §2.1), then
	// users.
	Introspection      *introspect.Service
	IntrospectionAuthn authn.Authenticator

	// UI, when set, serves the web UI at /ui/ (ui.go), and / redirects
	// there.
	UI *UI

	// Gateway, when set, serves /auth/forward: the forward-auth question
	// of nginx, Traefik and Envoy in front of a registry without auth
	// (forward.go).
	Gateway *gateway.Gateway

	// Accounts, when set, serves the administrators' /api/users/{name}/*
	// (users.go), authenticating through Authn.
	Accounts *accounts.Service
}

// New returns the HTTP handler serving every Tollgate endpoint.
func New(o Options) http.Handler {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rd := newRenderer(logger, o.Realm)
	lim := newLimiter(o.Limits, o.RateLimited)
	// Shared names (federation.username) are the federation's only where
	// it answers: the token endpoints. Elsewhere a password is checked,
	// and a user of that name keeps the per-name budget.
	tokLim := lim.sharing(o.Limits.SharedNames)
	ins := newInstrumentation(o.Metrics)
	r := mux.NewRouter()
	d := o.Discovery // told below what is mounted
	tok := newTokenEndpoint(ins.grant(o.Grant), ins.authn(o.Authn), o.Workloads, rd, tokLim)
	tok.Mount(r)
	d.token = tok.post.Grants
	if o.APITokens != nil && o.Passwords != nil {
		newAPITokenEndpoint(o.APITokens, ins.authn(o.Passwords), ins.authn(o.Authn), rd, lim).Mount(r)
	}
	if o.Engine != nil {
		eng := newEngineEndpoint(o.Engine, ins.authn(o.Authn), ins.observer(), rd, tokLim)
		eng.Mount(r)
		d.engine = eng.token.Grants
	}
	if o.Introspection != nil {
		callers := o.IntrospectionAuthn
		if callers == nil {
			callers = o.Authn
		}
		ie := &introspectEndpoint{svc: o.Introspection, authn: ins.authn(callers), rd: rd, limits: lim}
		if o.Engine != nil && o.Engine.Registered != nil {
			ie.isClient = o.Engine.Registered.Known
		}
		ie.Mount(r)
		d.introspection = true
	}
	if o.Accounts != nil {
		(&usersEndpoint{accounts: o.Accounts, authn: ins.authn(o.Authn), rd: rd, limits: lim}).Mount(r)
	}
	if o.UI != nil {
		newUIEndpoint(*o.UI, o.Grant, rd, lim, logger).Mount(r)
	}
	if o.Gateway != nil {
		(&forwardEndpoint{gw: o.Gateway, proxies: ipResolver{o.TrustedProxies}, rd: rd, limits: tokLim}).Mount(r)
	}
	o.Metrics.GrantTypes(append(append(tok.get.Grants.Names(), d.token.Names()...), d.engine.Names()...)...)
	if d.JWKS != nil {
		wellKnownEndpoint{d: d}.Mount(r)
	}
	mountAPIDocs(r)
	newOpsEndpoint(o.Ready, o.ReadyTimeout, o.Metrics, logger).Mount(r)
	limitBodies(r, rd) // after every Mount
	ins.wrapRoutes(r)  // after every Mount, around the body limits
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rd.docker(w, DockerError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such endpoint"})
	})
	r.MethodNotAllowedHandler = methodNotAllowed(r, rd)
	h := withClientIP(ipResolver{o.TrustedProxies}, withAccessLog(logger, withMetrics(ins, withRecover(rd, r))))
	return &routedHandler{Handler: withRequestID(h), router: r}
}

// errorFormat is how an endpoint renders its errors.
type errorFormat uint8

const (
	dockerFormat errorFormat = iota // distribution's errcode body (DockerError)
	oauthFormat                     // RFC 6749 §5.2 (OAuthError)
	engineFormat                    // Anchore's body (EngineError)
)

// errorFormats are the paths that do not answer in the registry's format.
// /oauth2/token keeps it: its GET is the registry's protocol.
var errorFormats = map[string]errorFormat{
	"/v1/oauth/token":    oauthFormat,
	"/oauth2/revoke":     oauthFormat,
	"/oauth2/introspect": oauthFormat,
	"/v1/account":        engineFormat,
	"/v1/accounts":       engineFormat,
}

// errorFormatOf is the error format of r's endpoint: that of its path, but
// RFC 6749's for the OAuth2 form of /oauth2/token (POST).
func errorFormatOf(r *http.Request) errorFormat {
	if r.URL.Path == tokenRoute && r.Method == http.MethodPost {
		return oauthFormat
	}
	return errorFormats[r.URL.Path]
}

// endpointError writes an error that any endpoint may answer (405, 413) in
// the format of r's endpoint: dockerCode is the registry's error code; RFC
// 6749 has none for these, so its code is invalid_request.
func (rd renderer) endpointError(w http.ResponseWriter, r *http.Request, status int, dockerCode, message, detail string) {
	text := message
	if detail != "" {
		text += ": " + detail
	}
	switch errorFormatOf(r) {
	case oauthFormat:
		rd.oauth(w, oauthError(status, "invalid_request", text))
	case engineFormat:
		rd.engine(w, EngineError{Status: status, Message: text})
	default:
		rd.docker(w, DockerError{Status: status, Code: dockerCode, Message: message, Detail: detail})
	}
}

// methodNotAllowed answers 405 (RFC 9110 §15.5.6) in the error format of
// the endpoint at the request's path, with an Allow header naming the
// methods served there. HEAD gets the same answer: mux serves it only on
// routes that list it (none does), and net/http then leaves out the body.
func methodNotAllowed(r *mux.Router, rd renderer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", "))
		rd.endpointError(w, req, http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed", "")
	})
}

// allowedMethods lists the methods the router serves for req's path (the
// Allow header of a 405, RFC 9110 §15.5.6).
func allowedMethods(r *mux.Router, req *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if r.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
