package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/gateway"
)

// forwardPath is where reverse proxies ask: nginx auth_request and
// Traefik ForwardAuth at the path itself, Envoy ext_authz (HTTP service)
// with the original path appended (path_prefix).
const forwardPath = "/auth/forward"

// forwardEndpoint serves the forward-auth question of nginx, Traefik and
// Envoy in front of a registry that runs without auth.
type forwardEndpoint struct {
	gw      *gateway.Gateway
	proxies ipResolver // whose X-Original-* and X-Forwarded-* headers are believed
	rd      renderer
	limits  *limiter
}

// forwardMethods are the methods of the registry API, which Envoy
// forwards as they are (nginx and Traefik ask with GET).
var forwardMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete}

// Mount registers the routes.
func (e *forwardEndpoint) Mount(r *mux.Router) {
	r.Handle(forwardPath, e).Methods(forwardMethods...)
	r.Handle(forwardPath+"/{path:.*}", e).Methods(forwardMethods...)
}

// ServeHTTP answers 200 with X-Tollgate-Subject, 401 with a Basic
// challenge (docker, crane and oras then retry with credentials), 403
// with a Docker error body, 429 with Retry-After.
func (e *forwardEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// 1. Parse: the original request, and its credentials.
	method, uri := e.original(r)
	user, secret := requestCredentials(r)
	req := gateway.Request{Method: method, URI: uri, Username: user, Password: secret, Bearer: isBearer(r),
		Credential: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), ClientIP: clientIP(r),
		Budget: e.limits.budgetFor(r, secret)}
	// 2-4. Authenticate, authorize (or remember).
	d, err := e.gw.Decide(r.Context(), req)
	if err != nil {
		e.rd.storeOrInternalDocker(w, r, err)
		return
	}
	if info := infoOf(r.Context()); info != nil && d.Subject != "" {
		info.subject = d.Subject
	}
	// 5. Respond.
	switch d.Status {
	case http.StatusOK:
		w.Header().Set("X-Tollgate-Subject", d.Subject)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	case http.StatusTooManyRequests:
		e.rd.tooManyDocker(w, d.RetryAfter)
	case http.StatusForbidden:
		e.rd.docker(w, DockerError{Status: http.StatusForbidden, Code: "DENIED", Message: d.Message})
	default:
		e.rd.docker(w, unauthorized(d.Message))
	}
}

// original is the method and URI the proxy asks about: from nginx's
// X-Original-Method and X-Original-URI, or Traefik's X-Forwarded-Method
// and X-Forwarded-Uri, when the peer is a trusted proxy; else the request
// itself below forwardPath (Envoy), or nothing (denied).
func (e *forwardEndpoint) original(r *http.Request) (method, uri string) {
	if e.proxies.trusts(peerAddr(r.RemoteAddr)) {
		nginx, traefik := r.Header.Values("X-Original-URI"), r.Header.Values("X-Forwarded-Uri")
		switch {
		case len(nginx) > 0 && len(traefik) > 0, len(nginx) > 1, len(traefik) > 1:
			// Both conventions, or one twice: a proxy passed the client's
			// own header along with its own. Nothing can be believed.
			return r.Method, "/"
		case len(nginx) == 1:
			return headerOr(r, "X-Original-Method"), nginx[0]
		case len(traefik) == 1:
			return headerOr(r, "X-Forwarded-Method"), traefik[0]
		}
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), forwardPath)
	if !strings.HasPrefix(rest, "/v2") {
		return r.Method, "/"
	}
	u := url.URL{Path: r.URL.Path[len(forwardPath):], RawPath: rawPathAfter(r.URL), RawQuery: r.URL.RawQuery}
	return r.Method, u.RequestURI()
}

// headerOr is the header's value, else the request's own method.
func headerOr(r *http.Request, name string) string {
	if v := r.Header.Get(name); v != "" {
		return v
	}
	return r.Method
}

// rawPathAfter is the escaped path of u below forwardPath, when it has one.
func rawPathAfter(u *url.URL) string {
	if u.RawPath == "" {
		return ""
	}
	return strings.TrimPrefix(u.RawPath, forwardPath)
}
