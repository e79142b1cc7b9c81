package config_test

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/config"
)

// The keys of server.* and limits.* default to the values the server used
// before they were configurable, and to a sane brute-force budget.
func TestServerAndLimitsDefaults(t *testing.T) {
	c := mustLoad(t, "server: {addr: \":5001\"}\n")
	want := config.Server{
		Addr:              ":5001",
		TrustedProxies:    []string{},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   30 * time.Second,
		TLS:               config.TLS{ClientAuth: "none"},
	}
	if !reflect.DeepEqual(c.Server, want) {
		t.Errorf("server = %+v, want %+v", c.Server, want)
	}
	wantLimits := config.Limits{FailuresPerMinute: 10, FailureBurst: 10, IPFailuresPerMinute: 60, IPFailureBurst: 60, MaxTracked: 100000}
	if c.Limits != wantLimits {
		t.Errorf("limits = %+v, want %+v", c.Limits, wantLimits)
	}
}

func TestServerAndLimitsFromFileAndEnv(t *testing.T) {
	t.Setenv("TOLLGATE_SERVER_TLS_CLIENT_AUTH", "require")
	t.Setenv("TOLLGATE_LIMITS_FAILURE_BURST", "3")
	path := writeConfig(t, `server:
  addr: ":5001"
  trusted_proxies: ["10.0.0.0/8", "192.0.2.1"]
  read_timeout: 5s
  tls: {cert: /etc/tollgate/tls.crt, key: /etc/tollgate/tls.key, client_ca: /etc/tollgate/ca.pem}
limits: {failures_per_minute: 0.5, ip_failures_per_minute: 30, ip_failure_burst: 40, max_tracked: 10}
`)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.ReadTimeout != 5*time.Second || c.Server.WriteTimeout != 30*time.Second {
		t.Errorf("read_timeout, write_timeout = %v, %v; want 5s from the file and the 30s default", c.Server.ReadTimeout, c.Server.WriteTimeout)
	}
	wantTLS := config.TLS{Cert: "/etc/tollgate/tls.crt", Key: "/etc/tollgate/tls.key", ClientCA: "/etc/tollgate/ca.pem", ClientAuth: "require"}
	if c.Server.TLS != wantTLS {
		t.Errorf("server.tls = %+v, want %+v", c.Server.TLS, wantTLS)
	}
	wantLimits := config.Limits{FailuresPerMinute: 0.5, FailureBurst: 3, IPFailuresPerMinute: 30, IPFailureBurst: 40, MaxTracked: 10}
	if c.Limits != wantLimits {
		t.Errorf("limits = %+v, want %+v", c.Limits, wantLimits)
	}
	got, err := c.Server.Proxies()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	if !slices.Equal(got, want) {
		t.Errorf("Proxies() = %v, want %v", got, want)
	}
}

func TestProxies(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"fd00::/8", "fd00::/8"},
		{"2001:db8::1", "2001:db8::1/128"},
	}
	for _, tt := range tests {
		got, err := config.Server{TrustedProxies: []string{tt.in}}.Proxies()
		if err != nil || len(got) != 1 || got[0].String() != tt.want {
			t.Errorf("Proxies(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := (config.Server{TrustedProxies: []string{"10.0.0.0/8", "ten"}}).Proxies(); !errors.Is(err, config.ErrInvalid) ||
		!strings.Contains(err.Error(), "server.trusted_proxies[1]") {
		t.Errorf("Proxies with a bad entry = %v, want ErrInvalid naming server.trusted_proxies[1]", err)
	}
}

func TestValidateServerAndLimits(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"defaults", func(*config.Config) {}, nil},
		{"proxies", func(c *config.Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "::1", "fd00::/8"} }, nil},
		{"bad proxy", func(c *config.Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33", "proxy.local"} },
			[]string{"server.trusted_proxies[1]", "server.trusted_proxies[2]"}},
		{"zero timeouts", func(c *config.Config) {
			c.Server.ReadHeaderTimeout, c.Server.ReadTimeout, c.Server.WriteTimeout = 0, -time.Second, 0
			c.Server.IdleTimeout, c.Server.ShutdownTimeout = 0, 0
		}, []string{"server.read_header_timeout", "server.read_timeout", "server.write_timeout", "server.idle_timeout", "server.shutdown_timeout"}},
		{"https", func(c *config.Config) { c.Server.TLS = config.TLS{Cert: "c.pem", Key: "k.pem", ClientAuth: "none"} }, nil},
		{"client certificates", func(c *config.Config) {
			c.Server.TLS = config.TLS{Cert: "c.pem", Key: "k.pem", ClientCA: "ca.pem", ClientAuth: "require"}
		}, nil},
		{"cert without key", func(c *config.Config) { c.Server.TLS.Cert = "c.pem" }, []string{"server.tls.key"}},
		{"key without cert", func(c *config.Config) { c.Server.TLS.Key = "k.pem" }, []string{"server.tls.cert"}},
		{"unknown client_auth", func(c *config.Config) { c.Server.TLS = config.TLS{Cert: "c.pem", Key: "k.pem", ClientAuth: "optional"} },
			[]string{"server.tls.client_auth"}},
		{"client_auth without https or CA", func(c *config.Config) { c.Server.TLS.ClientAuth = "request" },
			[]string{"server.tls.client_auth", "server.tls.client_ca"}},
		{"client_ca never used", func(c *config.Config) {
			c.Server.TLS = config.TLS{Cert: "c.pem", Key: "k.pem", ClientCA: "ca.pem", ClientAuth: "none"}
		},
			[]string{"server.tls.client_ca"}},
		{"budgets disabled", func(c *config.Config) { c.Limits.FailuresPerMinute, c.Limits.FailureBurst = 0, 0 }, nil},
		{"half disabled", func(c *config.Config) { c.Limits.FailureBurst, c.Limits.IPFailuresPerMinute = 0, 0 },
			[]string{"limits.failures_per_minute and limits.failure_burst", "limits.ip_failures_per_minute and limits.ip_failure_burst"}},
		{"negative", func(c *config.Config) {
			c.Limits.FailuresPerMinute, c.Limits.IPFailureBurst, c.Limits.MaxTracked = -1, -1, 0
		},
			[]string{"limits.failures_per_minute", "limits.ip_failure_burst", "limits.max_tracked"}},
	})
}
