package server

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/grant"
)

// Options are what the server wires together.
type Options struct {
	Grant  *grant.Service
	Authn  authn.Authenticator
	Logger *slog.Logger
	Realm  string // realm of Basic challenges; the issuer is a good choice

	// APITokens and Passwords, when both set, serve /api/tokens. Passwords
	// must know only the password users (not API tokens): it checks the
	// credentials that create tokens.
	APITokens *apitoken.Tokens
	Passwords authn.Authenticator
}

// New returns the HTTP handler serving every Tollgate endpoint.
func New(o Options) http.Handler {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rd := newRenderer(logger, o.Realm)
	r := mux.NewRouter()
	newTokenEndpoint(o.Grant, o.Authn, rd).Mount(r)
	if o.APITokens != nil && o.Passwords != nil {
		newAPITokenEndpoint(o.APITokens, o.Passwords, rd).Mount(r)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rd.docker(w, DockerError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such endpoint"})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", "))
		rd.docker(w, DockerError{Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED", Message: "method not allowed"})
	})
	return withRequestID(withAccessLog(logger, withRecover(rd, r)))
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

// clientIP is the peer address (proxy headers are not trusted here).
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
