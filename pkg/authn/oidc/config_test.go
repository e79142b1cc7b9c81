package oidc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn/oidc"
)

func validConfig() oidc.ProviderConfig {
	return oidc.ProviderConfig{Name: "corp", Issuer: "https://idp.example/realms/corp", ClientID: "tollgate", ClientSecret: "s3cret"}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		edit func(*oidc.ProviderConfig)
		want []string // substrings of the error; none: valid
	}{
		{"valid", func(*oidc.ProviderConfig) {}, nil},
		{"secret file", func(c *oidc.ProviderConfig) { c.ClientSecret, c.ClientSecretFile = "", "/run/secrets/oidc" }, nil},
		{"scopes with openid", func(c *oidc.ProviderConfig) { c.Scopes = []string{"openid", "email"} }, nil},
		{"email names users", func(c *oidc.ProviderConfig) { c.UsernameClaim = "email" }, nil},
		{"no name", func(c *oidc.ProviderConfig) { c.Name = "" }, []string{"name:"}},
		{"name with a slash", func(c *oidc.ProviderConfig) { c.Name = "a/b" }, []string{"name:"}},
		{"no issuer", func(c *oidc.ProviderConfig) { c.Issuer = "" }, []string{"issuer: required"}},
		{"http issuer", func(c *oidc.ProviderConfig) { c.Issuer = "http://idp.example" }, []string{"issuer:", "https"}},
		{"issuer with query", func(c *oidc.ProviderConfig) { c.Issuer = "https://idp.example/?a=b" }, []string{"issuer:"}},
		{"no client", func(c *oidc.ProviderConfig) { c.ClientID = "" }, []string{"client_id: required"}},
		{"no secret", func(c *oidc.ProviderConfig) { c.ClientSecret = "" }, []string{"client_secret_file: required"}},
		{"two secrets", func(c *oidc.ProviderConfig) { c.ClientSecretFile = "/f" }, []string{"not both"}},
		{"no openid", func(c *oidc.ProviderConfig) { c.Scopes = []string{"email"} }, []string{"scopes:", "openid"}},
		{"empty scope", func(c *oidc.ProviderConfig) { c.Scopes = []string{"openid", ""} }, []string{"scopes:"}},
		{"claim with space", func(c *oidc.ProviderConfig) { c.GroupsClaim = "my groups" }, []string{"groups_claim:"}},
		{"timeout", func(c *oidc.ProviderConfig) { c.Timeout = time.Hour }, []string{"timeout:"}},
		{"every problem", func(c *oidc.ProviderConfig) { *c = oidc.ProviderConfig{Scopes: []string{"x"}} },
			[]string{"name:", "issuer:", "client_id:", "client_secret_file:", "scopes:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			err := c.Check()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check: no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check: %v; want %q", err, w)
				}
			}
		})
	}
}

func TestCheckHidesSecret(t *testing.T) {
	c := validConfig()
	c.ClientSecretFile = "/f"
	if err := c.Check(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Check: %v", err)
	}
}

func TestCheckAll(t *testing.T) {
	a, b := validConfig(), validConfig()
	b.Issuer = "http://x"
	err := oidc.CheckAll([]oidc.ProviderConfig{a, b})
	if err == nil || !strings.Contains(err.Error(), "ui.oidc[1].issuer:") || !strings.Contains(err.Error(), "ui.oidc[1].name: \"corp\" is listed twice") {
		t.Errorf("CheckAll: %v", err)
	}
	b = validConfig()
	b.Name = "other"
	if err := oidc.CheckAll([]oidc.ProviderConfig{a, b}); err != nil {
		t.Errorf("CheckAll: %v", err)
	}
}
