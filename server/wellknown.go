package server

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/grant"
)

// Discovery describes the server for GET /.well-known/*: the JWKS of the
// signing keys (pre-published, active and retired; never HMAC) and the
// RFC 8414 authorization-server metadata.
type Discovery struct {
	Issuer    string
	PublicURL string        // e.g. https://auth.example.com; "" derives it from each request
	JWKS      func() []byte // the current key set; called per request (a ring swaps under it)

	// Set by New from what it mounts, so that the metadata lists what is
	// served: the grants of /oauth2/token and of /v1/oauth/token (nil when
	// the Engine API is off), and whether introspection is.
	token, engine grant.Table
	introspection bool
}

// wellKnownEndpoint serves /.well-known/jwks.json and the metadata.
type wellKnownEndpoint struct {
	d Discovery
}

// Mount registers the routes.
func (e wellKnownEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/.well-known/jwks.json", e.jwks).Methods(http.MethodGet)
	r.HandleFunc("/.well-known/oauth-authorization-server", e.metadata).Methods(http.MethodGet)
	r.HandleFunc("/.well-known/openid-configuration", e.metadata).Methods(http.MethodGet)
}

// jwks serves the JSON Web Key Set (RFC 7517 §5). Clients may cache it a
// minute: a new key is published well ahead of signing (keys.ring.prepublish).
func (e wellKnownEndpoint) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(e.d.JWKS())
}

// metadata serves RFC 8414 authorization-server metadata; the same document
// answers openid-configuration, which JWKS-fetching libraries look for.
func (e wellKnownEndpoint) metadata(w http.ResponseWriter, r *http.Request) {
	base := e.baseURL(r)
	doc := map[string]any{
		"issuer":                                e.d.Issuer,
		"token_endpoint":                        base + "/oauth2/token",
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"grant_types_supported":                 e.d.grantTypes(),
		"token_endpoint_auth_methods_supported": e.d.token.AuthMethods(),
		"response_types_supported":              []string{"token"},
	}
	if e.d.engine != nil { // RFC 8414 §2 allows more metadata; these describe the second token endpoint
		doc["engine_token_endpoint"] = base + "/v1/oauth/token"
		doc["engine_grant_types_supported"] = e.d.engine.Names()
		doc["engine_token_endpoint_auth_methods_supported"] = e.d.engine.AuthMethods()
	}
	if e.d.introspection { // RFC 8414 §2
		doc["revocation_endpoint"] = base + "/oauth2/revoke"
		doc["introspection_endpoint"] = base + "/oauth2/introspect"
		doc["revocation_endpoint_auth_methods_supported"] = introspectAuth
		doc["introspection_endpoint_auth_methods_supported"] = introspectAuth
	}
	// A document built from the request's Host must not be cached for
	// others (cache poisoning); only a configured URL makes it public.
	if e.d.PublicURL != "" {
		w.Header().Set("Cache-Control", "public, max-age=300")
	} else {
		w.Header().Set("Cache-Control", "no-store")
	}
	writeJSON(w, http.StatusOK, doc)
}

// grantTypes lists every grant type the server serves, each once:
// grant_types_supported is the authorization server's (RFC 8414 §2), and
// each token endpoint's own list is in its *_auth_methods_supported
// neighbours.
func (d Discovery) grantTypes() []string {
	var out []string
	for _, name := range append(d.token.Names(), d.engine.Names()...) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// baseURL is the configured public URL, or the request's own scheme and host.
func (e wellKnownEndpoint) baseURL(r *http.Request) string {
	if e.d.PublicURL != "" {
		return strings.TrimRight(e.d.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
