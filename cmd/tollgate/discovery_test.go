package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/tollgate/tollgate/pkg/config"
)

// The real wiring publishes what it serves: the Engine API, when on, has
// refresh tokens and registered clients, and the metadata says so.
func TestAppMetadataListsServedGrants(t *testing.T) {
	engineOn, _ := engineConfig(t, 48, 0o600)
	_, engineOff := tollgateDir(t)
	tests := []struct {
		name         string
		cfg          *config.Config
		grants       []string
		engineGrants []string // nil: no engine_* metadata
		engineAuth   []string
	}{
		{"engine off", engineOff, []string{"password", "refresh_token"}, nil, nil},
		{"engine on", engineOn, []string{"password", "refresh_token", "client_credentials"},
			[]string{"password", "refresh_token", "client_credentials"}, []string{"none", "client_secret_basic", "client_secret_post"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := newApp(context.Background(), tt.cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			rec := httptest.NewRecorder()
			a.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
			var doc struct {
				Grants       []string `json:"grant_types_supported"`
				Auth         []string `json:"token_endpoint_auth_methods_supported"`
				Engine       string   `json:"engine_token_endpoint"`
				EngineGrants []string `json:"engine_grant_types_supported"`
				EngineAuth   []string `json:"engine_token_endpoint_auth_methods_supported"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("metadata: %d %s: %v", rec.Code, rec.Body, err)
			}
			if !slices.Equal(doc.Grants, tt.grants) || !slices.Equal(doc.Auth, []string{"none"}) ||
				!slices.Equal(doc.EngineGrants, tt.engineGrants) || !slices.Equal(doc.EngineAuth, tt.engineAuth) ||
				(doc.Engine != "") != (tt.engineGrants != nil) {
				t.Errorf("metadata %s, want grants %q (auth none), engine grants %q with auth %q", rec.Body, tt.grants, tt.engineGrants, tt.engineAuth)
			}
		})
	}
}
