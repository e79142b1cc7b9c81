package server

import (
	"net/http"
	"slices"
	"strings"

	oauth2 "github.com/go-oauth2/oauth2/v4"
)

// Client authentication methods (RFC 8414 §2, the values of RFC 7591
// §2's token_endpoint_auth_method).
var (
	// publicAuth: a client_id without a secret (RFC 6749 §2.1 public
	// clients: docker, anchorectl, ...).
	publicAuth = []string{"none"}
	// confidentialAuth: client_id and client_secret as HTTP Basic or in the
	// form (RFC 6749 §2.3.1).
	confidentialAuth = []string{"client_secret_basic", "client_secret_post"}
)

// tokenGrant is one grant type a token endpoint serves: how its clients
// authenticate and, where the endpoint dispatches by grant, its handler.
type tokenGrant struct {
	typ   oauth2.GrantType
	auth  []string         // client authentication methods (publicAuth, confidentialAuth)
	serve http.HandlerFunc // nil where the endpoint runs one flow for all its grants
}

// tokenGrants are the grants of one token endpoint, in the order they are
// documented. The one list is what the endpoint dispatches on, what its
// unsupported_grant_type error names and what the discovery metadata
// publishes (wellknown.go), so the three cannot disagree.
type tokenGrants []tokenGrant

// find returns the grant of type gt, if the endpoint serves it.
func (g tokenGrants) find(gt string) (tokenGrant, bool) {
	i := slices.IndexFunc(g, func(x tokenGrant) bool { return string(x.typ) == gt })
	if i < 0 {
		return tokenGrant{}, false
	}
	return g[i], true
}

// types lists the grant types, for go-oauth2's AllowedGrantTypes.
func (g tokenGrants) types() []oauth2.GrantType {
	out := make([]oauth2.GrantType, len(g))
	for i, x := range g {
		out[i] = x.typ
	}
	return out
}

// names lists the grant types, for grant_types_supported.
func (g tokenGrants) names() []string {
	out := make([]string, len(g))
	for i, x := range g {
		out[i] = string(x.typ)
	}
	return out
}

// authMethods lists the client authentication methods of every grant,
// each once, for token_endpoint_auth_methods_supported.
func (g tokenGrants) authMethods() []string {
	var out []string
	for _, x := range g {
		for _, m := range x.auth {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// unsupported is the RFC 6749 §5.2 error for any other grant_type, naming
// the ones served: "grant_type must be password or refresh_token".
func (g tokenGrants) unsupported() OAuthError {
	return oauthError(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be "+orList(g.names()))
}

// orList joins "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
