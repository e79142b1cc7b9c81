package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/config"
)

// TestLoadEngineDefaults: without an engine section the API is off, with
// the documented defaults, and the configuration validates.
func TestLoadEngineDefaults(t *testing.T) {
	c := mustLoad(t, "keys: {certificate: \"\"}\n")
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
	c := mustLoad(t, `keys: {certificate: ""}
engine:
  enabled: true
  issuer: anchore-engine
  expiration: 30m
  audience: anchore
  signing: hmac
  hmac_secret_file: /etc/tollgate/engine.secret
  public_clients: [anonymous, anchorectl]
`)
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

func TestValidateEngine(t *testing.T) {
	enabled := func(c *config.Config) {
		c.Engine.Enabled = true
		c.Engine.HMACSecretFile = "/etc/tollgate/engine.secret"
	}
	runValidateCases(t, []validateCase{
		{"enabled hmac", enabled, nil},
		{"enabled keys", func(c *config.Config) { enabled(c); c.Engine.Signing = "keys"; c.Engine.HMACSecretFile = "" }, nil},
		{"disabled needs no secret", func(c *config.Config) {}, nil},
		{"hmac without secret file", func(c *config.Config) { enabled(c); c.Engine.HMACSecretFile = "" }, []string{"engine.hmac_secret_file"}},
		{"keys with secret file", func(c *config.Config) { enabled(c); c.Engine.Signing = "keys" }, []string{"engine.hmac_secret_file"}},
		{"unknown signing", func(c *config.Config) { enabled(c); c.Engine.Signing = "rsa" }, []string{"engine.signing"}},
		{"no issuer", func(c *config.Config) { enabled(c); c.Engine.Issuer = "" }, []string{"engine.issuer"}},
		{"keys and the registry issuer", func(c *config.Config) {
			enabled(c)
			c.Engine.Signing, c.Engine.HMACSecretFile, c.Engine.Issuer = "keys", "", c.Token.Issuer
		}, []string{"engine.issuer"}},
		{"zero expiration", func(c *config.Config) { enabled(c); c.Engine.Expiration = 0 }, []string{"engine.expiration"}},
		{"expiration over a day", func(c *config.Config) { enabled(c); c.Engine.Expiration = 25 * time.Hour }, []string{"engine.expiration"}},
		{"audience with spaces", func(c *config.Config) { enabled(c); c.Engine.Audience = " anchore" }, []string{"engine.audience"}},
		{"empty client", func(c *config.Config) { enabled(c); c.Engine.PublicClients = []string{"anonymous", ""} }, []string{"engine.public_clients[1]"}},
		{"client with control character", func(c *config.Config) { c.Engine.PublicClients = []string{"a\nb"} }, []string{"engine.public_clients[0]"}},
		{"client twice", func(c *config.Config) { c.Engine.PublicClients = []string{"cli", "cli"} }, []string{"engine.public_clients[1]"}},
		{"client too long", func(c *config.Config) { c.Engine.PublicClients = []string{strings.Repeat("c", 256)} }, []string{"engine.public_clients[0]"}},
	})
}
