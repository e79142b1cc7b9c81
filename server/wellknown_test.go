package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/introspect"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/server"
)

// metadataPaths serve the same RFC 8414 document.
var metadataPaths = []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}

func fetchMetadata(t *testing.T, h http.Handler, path string) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s: %v", path, rec.Code, rec.Body, err)
	}
	return doc
}

// stringList reads a JSON array of strings; absent is nil.
func stringList(t *testing.T, doc map[string]any, key string) []string {
	t.Helper()
	v, ok := doc[key]
	if !ok {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%s = %#v, want a list", key, v)
	}
	out := []string{}
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%s holds %#v, want strings", key, x)
		}
		out = append(out, s)
	}
	return out
}

// tokenError posts a form to a token endpoint and returns the RFC 6749
// §5.2 error code and description.
func tokenError(t *testing.T, h http.Handler, path string, form url.Values) (code, description string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("POST %s %v: %d %s: %v", path, form, rec.Code, rec.Body, err)
	}
	return body.Error, body.Description
}

// The metadata lists exactly the grants and client authentication methods
// each token endpoint serves, and each endpoint's unsupported_grant_type
// error names the same grants: the one list per endpoint drives all three.
func TestMetadataListsWhatIsServed(t *testing.T) {
	tests := []struct {
		name              string
		engine            *engine.Service // nil: the Engine API is off
		wantGrants        []string        // grant_types_supported: every endpoint's
		wantEngineGrants  []string        // nil: no engine_* metadata
		wantEngineAuth    []string
		wantEngineMessage string
	}{
		{
			name:       "engine off",
			wantGrants: []string{"password", "refresh_token"},
		},
		{
			name:              "engine with the password grant alone",
			engine:            &engine.Service{},
			wantGrants:        []string{"password", "refresh_token"},
			wantEngineGrants:  []string{"password"},
			wantEngineAuth:    []string{"none"},
			wantEngineMessage: "grant_type must be password",
		},
		{
			name:              "engine with refresh tokens and registered clients",
			engine:            &engine.Service{Refresh: &refresh.Families{}, Registered: &client.Registry{}},
			wantGrants:        []string{"password", "refresh_token", "client_credentials"},
			wantEngineGrants:  []string{"password", "refresh_token", "client_credentials"},
			wantEngineAuth:    []string{"none", "client_secret_basic", "client_secret_post"},
			wantEngineMessage: "grant_type must be password, refresh_token or client_credentials",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := server.New(server.Options{Grant: &grant.Service{}, Authn: authn.Chain{}, Engine: tt.engine,
				Discovery: server.Discovery{Issuer: issuer, PublicURL: "https://auth.example", JWKS: func() []byte { return []byte(`{"keys":[]}`) }}})
			for _, path := range metadataPaths {
				doc := fetchMetadata(t, h, path)
				checks := []struct {
					key  string
					want []string
				}{
					{"grant_types_supported", tt.wantGrants},
					{"token_endpoint_auth_methods_supported", []string{"none"}},
					{"engine_grant_types_supported", tt.wantEngineGrants},
					{"engine_token_endpoint_auth_methods_supported", tt.wantEngineAuth},
				}
				for _, c := range checks {
					if got := stringList(t, doc, c.key); !slices.Equal(got, c.want) {
						t.Errorf("%s: %s = %q, want %q", path, c.key, got, c.want)
					}
				}
				if _, ok := doc["engine_token_endpoint"]; ok != (tt.engine != nil) {
					t.Errorf("%s: engine_token_endpoint present %v, want %v", path, ok, tt.engine != nil)
				}
			}

			// /oauth2/token: the error names its grants; each is dispatched.
			code, desc := tokenError(t, h, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"docker"}})
			if code != "unsupported_grant_type" || desc != "grant_type must be password or refresh_token" {
				t.Errorf("/oauth2/token: %s %q, want unsupported_grant_type naming password and refresh_token", code, desc)
			}
			for _, g := range []string{"password", "refresh_token"} {
				if code, desc := tokenError(t, h, "/oauth2/token", url.Values{"grant_type": {g}, "client_id": {"docker"}}); code == "unsupported_grant_type" {
					t.Errorf("/oauth2/token refuses the %s grant it publishes: %q", g, desc)
				}
			}
			if tt.engine == nil {
				return
			}
			// /v1/oauth/token likewise, with the engine's own list.
			code, desc = tokenError(t, h, "/v1/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"anonymous"}})
			if code != "unsupported_grant_type" || desc != tt.wantEngineMessage {
				t.Errorf("/v1/oauth/token: %s %q, want unsupported_grant_type %q", code, desc, tt.wantEngineMessage)
			}
			for _, g := range tt.wantEngineGrants {
				if code, desc := tokenError(t, h, "/v1/oauth/token", url.Values{"grant_type": {g}, "client_id": {"anonymous"}}); code == "unsupported_grant_type" {
					t.Errorf("/v1/oauth/token refuses the %s grant it publishes: %q", g, desc)
				}
			}
		})
	}
}

// Revocation and introspection take HTTP Basic; without them their
// metadata is absent.
func TestMetadataIntrospectionAuth(t *testing.T) {
	jwks := func() []byte { return []byte(`{"keys":[]}`) }
	without := server.New(server.Options{Grant: &grant.Service{}, Authn: authn.Chain{},
		Discovery: server.Discovery{Issuer: issuer, JWKS: jwks}})
	doc := fetchMetadata(t, without, metadataPaths[0])
	for _, key := range []string{"revocation_endpoint", "introspection_endpoint", "revocation_endpoint_auth_methods_supported"} {
		if _, ok := doc[key]; ok {
			t.Errorf("%s present without introspection", key)
		}
	}
	with := server.New(server.Options{Grant: &grant.Service{}, Authn: authn.Chain{}, Introspection: &introspect.Service{},
		Discovery: server.Discovery{Issuer: issuer, JWKS: jwks}})
	doc = fetchMetadata(t, with, metadataPaths[0])
	for _, key := range []string{"revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"} {
		if got := stringList(t, doc, key); !slices.Equal(got, []string{"client_secret_basic"}) {
			t.Errorf("%s = %q, want [client_secret_basic]", key, got)
		}
	}
}
