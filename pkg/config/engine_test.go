package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/config"
)

// TestLoadEngineDefaults: without an engine section the API is off, with
// the documented defaults, and the configuration validates.
func TestLoadEngineDefaults(t *testing.T) {
	c, err := config.Load(writeConfig(t, "keys: {certificate: \"\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Engine
	if e.Enabled || e.Issuer != "tollgate-engine" || e.Expiration != time.Hour || e.Audience != "tollgate-engine" ||
		e.Signing != "hmac" || e.HMACSecretFile != "" || len(e.PublicClients) != 1 || e.PublicClients[0] != "anonymous" {
		t.Errorf("engine = %+v, want the documented defaults", e)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestLoadEngineSection(t *testing.T) {
	c, err := config.Load(writeConfig(t, `keys: {certificate: ""}
engine:
  enabled: true
  issuer: anchore-engine
  expiration: 30m
  audience: anchore
  signing: hmac
  hmac_secret_file: /etc/tollgate/engine.secret
  public_clients: [anonymous, anchorectl]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Engine{Enabled: true, Issuer: "anchore-engine", Expiration: 30 * time.Minute, Audience: "anchore",
		Signing: "hmac", HMACSecretFile: "/etc/tollgate/engine.secret", PublicClients: []string{"anonymous", "anchorectl"}}
	if got := c.Engine; got.Enabled != want.Enabled || got.Issuer != want.Issuer || got.Expiration != want.Expiration ||
		got.Audience != want.Audience || got.Signing != want.Signing || got.HMACSecretFile != want.HMACSecretFile ||
		strings.Join(got.PublicClients, ",") != strings.Join(want.PublicClients, ",") {
		t.Errorf("engine = %+v, want %+v", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadRejectsUnknownEngineKey(t *testing.T) {
	_, err := config.Load(writeConfig(t, "engine: {hmac_secret: x}\n"))
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), `unknown key "engine.hmac_secret"`) {
		t.Errorf("Load = %v, want the unknown key named", err)
	}
}

func TestValidateEngine(t *testing.T) {
	enabled := func(c *config.Config) {
		c.Engine.Enabled = true
		c.Engine.HMACSecretFile = "/etc/tollgate/engine.secret"
	}
	tests := []struct {
		name    string
		mutate  func(c *config.Config)
		wantKey string // "" for valid
	}{
		{"enabled hmac", enabled, ""},
		{"enabled keys", func(c *config.Config) { enabled(c); c.Engine.Signing = "keys"; c.Engine.HMACSecretFile = "" }, ""},
		{"disabled needs no secret", func(c *config.Config) {}, ""},
		{"hmac without secret file", func(c *config.Config) { enabled(c); c.Engine.HMACSecretFile = "" }, "engine.hmac_secret_file"},
		{"keys with secret file", func(c *config.Config) { enabled(c); c.Engine.Signing = "keys" }, "engine.hmac_secret_file"},
		{"unknown signing", func(c *config.Config) { enabled(c); c.Engine.Signing = "rsa" }, "engine.signing"},
		{"no issuer", func(c *config.Config) { enabled(c); c.Engine.Issuer = "" }, "engine.issuer"},
		{"keys and the registry issuer", func(c *config.Config) {
			enabled(c)
			c.Engine.Signing, c.Engine.HMACSecretFile, c.Engine.Issuer = "keys", "", c.Token.Issuer
		}, "engine.issuer"},
		{"zero expiration", func(c *config.Config) { enabled(c); c.Engine.Expiration = 0 }, "engine.expiration"},
		{"expiration over a day", func(c *config.Config) { enabled(c); c.Engine.Expiration = 25 * time.Hour }, "engine.expiration"},
		{"audience with spaces", func(c *config.Config) { enabled(c); c.Engine.Audience = " anchore" }, "engine.audience"},
		{"empty client", func(c *config.Config) { enabled(c); c.Engine.PublicClients = []string{"anonymous", ""} }, "engine.public_clients[1]"},
		{"client with control character", func(c *config.Config) { c.Engine.PublicClients = []string{"a\nb"} }, "engine.public_clients[0]"},
		{"client twice", func(c *config.Config) { c.Engine.PublicClients = []string{"cli", "cli"} }, "engine.public_clients[1]"},
		{"client too long", func(c *config.Config) { c.Engine.PublicClients = []string{strings.Repeat("c", 256)} }, "engine.public_clients[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(t)
			tt.mutate(c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			problems := config.Problems(err)
			if !errors.Is(err, config.ErrInvalid) || len(problems) != 1 || !strings.HasPrefix(problems[0], tt.wantKey+":") {
				t.Errorf("problems = %q, want exactly one naming %s", problems, tt.wantKey)
			}
		})
	}
}
