package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/config"
)

// loadWithEnv loads the example file with exactly the variables of environ.
func loadWithEnv(t *testing.T, environ ...string) (*config.Config, error) {
	t.Helper()
	return config.Source{File: exampleFile, Environ: append([]string{}, environ...)}.Load()
}

func TestEnvOverridesEveryKind(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, c *config.Config)
	}{
		{
			name: "JSON list",
			env:  []string{`TOLLGATE_TOKEN_SERVICES=["registry.local","r2"]`},
			check: func(t *testing.T, c *config.Config) {
				if want := []string{"registry.local", "r2"}; !slices.Equal(c.Token.Services, want) {
					t.Errorf("token.services = %q, want %q", c.Token.Services, want)
				}
			},
		},
		{
			name: "JSON map replaces the file's map",
			env:  []string{`TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE={"write":90,"read":60}`},
			check: func(t *testing.T, c *config.Config) {
				want := map[string]int{"write": 90, "read": 60} // the file's admin: 30 is gone
				if !reflect.DeepEqual(c.APITokens.MaxTTLDaysByRole, want) {
					t.Errorf("api_tokens.max_ttl_days_by_role = %v, want %v", c.APITokens.MaxTTLDaysByRole, want)
				}
			},
		},
		{
			name: "ACL",
			env:  []string{`TOLLGATE_ACL=[{"account":"*","type":"repository","name":"${account}/*","actions":["pull"]},{"account":"","ip":["10.0.0.0/8"],"actions":["*"],"comment":"c"}]`},
			check: func(t *testing.T, c *config.Config) {
				if len(c.ACL) != 2 {
					t.Fatalf("acl has %d rules, want the 2 of the environment: %v", len(c.ACL), c.ACL)
				}
				if got, want := c.ACL[0].String(), "account=* type=repository name=${account}/* actions=pull"; got != want {
					t.Errorf("acl[0] = %s, want %s", got, want)
				}
				r := c.ACL[1]
				if r.Account == nil || *r.Account != "" || !slices.Equal(r.IP, []string{"10.0.0.0/8"}) || r.Comment != "c" {
					t.Errorf("acl[1] = %s (comment %q), want the anonymous rule from 10.0.0.0/8", r, r.Comment)
				}
				if err := c.Validate(); err != nil {
					t.Errorf("an ACL from the environment does not validate: %v", err)
				}
			},
		},
		{
			name: "explicit empty list",
			env:  []string{"TOLLGATE_TOKEN_SERVICES="},
			check: func(t *testing.T, c *config.Config) {
				if c.Token.Services == nil || len(c.Token.Services) != 0 {
					t.Errorf("token.services = %#v, want an empty list over the file's [registry.local]", c.Token.Services)
				}
			},
		},
		{
			name: "explicit empty map",
			env:  []string{"TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE="},
			check: func(t *testing.T, c *config.Config) {
				if m := c.APITokens.MaxTTLDaysByRole; m == nil || len(m) != 0 {
					t.Errorf("api_tokens.max_ttl_days_by_role = %#v, want an empty map over the file's {admin: 30}", m)
				}
			},
		},
		{
			name: "explicit empty string",
			env:  []string{"TOLLGATE_KEYS_CERTIFICATE="},
			check: func(t *testing.T, c *config.Config) {
				if c.Keys.Certificate != "" {
					t.Errorf("keys.certificate = %q, want the environment's empty value", c.Keys.Certificate)
				}
			},
		},
		{
			name: "string enum",
			env:  []string{"TOLLGATE_KEYS_X5C=never"},
			check: func(t *testing.T, c *config.Config) {
				if c.Keys.X5C != "never" {
					t.Errorf("keys.x5c = %q, want the environment's never over the default auto", c.Keys.X5C)
				}
			},
		},
		{
			name: "scalars",
			env: []string{"TOLLGATE_KEYS_RING_ENABLED=true", "TOLLGATE_LIMITS_FAILURES_PER_MINUTE=0.5",
				"TOLLGATE_USERS_BCRYPT_COST=12", "TOLLGATE_KEYS_RING_SYNC_EVERY=1m30s", "TOLLGATE_SERVER_ADDR=127.0.0.1:6001"},
			check: func(t *testing.T, c *config.Config) {
				if !c.Keys.Ring.Enabled || c.Limits.FailuresPerMinute != 0.5 || c.Users.BcryptCost != 12 ||
					c.Keys.Ring.SyncEvery != 90*time.Second || c.Server.Addr != "127.0.0.1:6001" {
					t.Errorf("ring.enabled %v, failures_per_minute %v, bcrypt_cost %d, sync_every %v, addr %q; want the environment's",
						c.Keys.Ring.Enabled, c.Limits.FailuresPerMinute, c.Users.BcryptCost, c.Keys.Ring.SyncEvery, c.Server.Addr)
				}
			},
		},
		{
			name: "test variables and other programs' variables are ignored",
			env:  []string{"TOLLGATE_TEST_POSTGRES_DSN=postgres://x", "TOLLGATE_TEST_ANYTHING=1", "TOLLGATEWAY=1", "HOME=/root"},
			check: func(t *testing.T, c *config.Config) {
				if c.Store.Type != "sqlite" || c.Store.DSN != "" {
					t.Errorf("store = %s %v, want the file's sqlite store", c.Store.Type, c.Store)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadWithEnv(t, tt.env...)
			if err != nil {
				t.Fatalf("Load with %q: %v", tt.env, err)
			}
			tt.check(t, c)
		})
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string // each problem, in order (variables sorted by name)
	}{
		{
			name: "empty integer",
			env:  []string{"TOLLGATE_USERS_BCRYPT_COST="},
			want: []string{"TOLLGATE_USERS_BCRYPT_COST: empty; want an integer"},
		},
		{
			name: "integer that does not parse",
			env:  []string{"TOLLGATE_LIMITS_FAILURE_BURST=ten"},
			want: []string{`TOLLGATE_LIMITS_FAILURE_BURST: "ten" is not an integer`},
		},
		{
			name: "empty boolean",
			env:  []string{"TOLLGATE_ENGINE_ENABLED="},
			want: []string{"TOLLGATE_ENGINE_ENABLED: empty; want a boolean (true or false)"},
		},
		{
			name: "bad duration",
			env:  []string{"TOLLGATE_TOKEN_EXPIRATION=abc"},
			want: []string{`TOLLGATE_TOKEN_EXPIRATION: "abc" is not a duration (for example 90s, 5m or 1h30m)`},
		},
		{
			name: "empty duration",
			env:  []string{"TOLLGATE_TOKEN_EXPIRATION="},
			want: []string{"TOLLGATE_TOKEN_EXPIRATION: empty; want a duration (for example 90s, 5m or 1h30m)"},
		},
		{
			name: "a list that is not JSON",
			env:  []string{"TOLLGATE_TOKEN_SERVICES=registry.local,r2"},
			want: []string{`TOLLGATE_TOKEN_SERVICES: not JSON (want a JSON list, for example ["a","b"]): invalid character 'r' looking for beginning of value`},
		},
		{
			name: "an object for a list",
			env:  []string{`TOLLGATE_TOKEN_SERVICES={"a":"b"}`},
			want: []string{`TOLLGATE_TOKEN_SERVICES: want a JSON list, for example ["a","b"], got an object`},
		},
		{
			name: "wrong type in a map",
			env:  []string{`TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE={"admin":"30"}`},
			want: []string{"TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE: api_tokens.max_ttl_days_by_role.admin: want int, got a string"},
		},
		{
			name: "number for a string in a list",
			env:  []string{`TOLLGATE_USERS_ADMINS=["admin",7]`},
			want: []string{"TOLLGATE_USERS_ADMINS: users.admins[1]: want a string, got a number"},
		},
		{
			name: "unknown key in an ACL rule",
			env:  []string{`TOLLGATE_ACL=[{"account":"*","actions":["pull"]},{"account":"a","repo":"x","actions":["pull"]}]`},
			want: []string{`TOLLGATE_ACL: unknown key "acl[1].repo"`},
		},
		{
			name: "unknown variable",
			env:  []string{"TOLLGATE_SERVER_ADRR=:6001"},
			want: []string{"TOLLGATE_SERVER_ADRR: names no configuration key (variables starting with TOLLGATE_TEST_ are for tests)"},
		},
		{
			name: "one entry of a map",
			env:  []string{"TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE_ADMIN=30"},
			want: []string{"TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE_ADMIN: names no configuration key; " +
				"TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE takes the whole of api_tokens.max_ttl_days_by_role as JSON"},
		},
		{
			name: "several at once",
			env:  []string{"TOLLGATE_TOKEN_EXPIRATION=5", "TOLLGATE_SERVER_ADDR=:6001", "TOLLGATE_NOPE=1", "TOLLGATE_KEYS_RING_CA=maybe"},
			want: []string{
				`TOLLGATE_KEYS_RING_CA: "maybe" is not a boolean (true or false)`,
				"TOLLGATE_NOPE: names no configuration key (variables starting with TOLLGATE_TEST_ are for tests)",
				`TOLLGATE_TOKEN_EXPIRATION: "5" is not a duration (for example 90s, 5m or 1h30m)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadWithEnv(t, tt.env...)
			if err == nil {
				t.Fatalf("Load with %q = %+v, want an error", tt.env, c)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if got := config.Problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// A value that may be a secret never reaches an error: not under a
// misspelt name, not for a secret key.
func TestEnvErrorsNeverShowSecretValues(t *testing.T) {
	const password = "hunter2-do-not-print"
	tests := []struct {
		name    string
		env     []string
		wantVar string
	}{
		{"misspelt dsn", []string{"TOLLGATE_STORE_DNS=postgres://u:" + password + "@db/x"}, "TOLLGATE_STORE_DNS"},
		{"misspelt secret", []string{"TOLLGATE_KEYS_HMAC_SECRT=" + password}, "TOLLGATE_KEYS_HMAC_SECRT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadWithEnv(t, tt.env...)
			if err == nil {
				t.Fatal("Load accepted an unknown variable")
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the value: %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantVar+":") {
				t.Errorf("error %v does not name %s", err, tt.wantVar)
			}
		})
	}
	c, err := loadWithEnv(t, "TOLLGATE_STORE_DSN=postgres://u:"+password+"@db/x", "TOLLGATE_STORE_TYPE=postgres")
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Store.DSN) != "postgres://u:"+password+"@db/x" {
		t.Errorf("store.dsn not taken from the environment")
	}
}

// The keys come from the Config struct itself: every leaf, no section, and
// no two keys share a variable.
func TestKeyNames(t *testing.T) {
	names := config.KeyNames()
	for _, want := range []string{"server.addr", "server.tls.client_auth", "keys.ring.sync_every", "keys.hmac_secret",
		"acl", "api_tokens.max_ttl_days_by_role", "engine.public_clients", "store.dsn", "log.format"} {
		if !slices.Contains(names, want) {
			t.Errorf("KeyNames lacks %s", want)
		}
	}
	for _, section := range []string{"server", "server.tls", "keys", "keys.ring", "api_tokens"} {
		if slices.Contains(names, section) {
			t.Errorf("KeyNames lists the section %s as a key", section)
		}
	}
	seen := map[string]string{}
	for _, k := range names {
		v := config.EnvVar(k)
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s are both %s", other, k, v)
		}
		seen[v] = k
	}
	if got := config.EnvVar("api_tokens.max_ttl_days_by_role"); got != "TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE" {
		t.Errorf("EnvVar = %s", got)
	}
}

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if got := config.Locate(""); got.File != "" {
		t.Errorf("Locate(\"\") without %s = %+v, want no file", config.DefaultFile, got)
	}
	if got := config.Locate("x.yaml"); got.File != "x.yaml" {
		t.Errorf("Locate(x.yaml) = %+v, want that file", got)
	}
	if err := os.MkdirAll(filepath.Dir(config.DefaultFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config.DefaultFile, []byte("log: {level: debug}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := config.Locate(""); got.File != config.DefaultFile {
		t.Errorf("Locate(\"\") with %s = %+v, want it", config.DefaultFile, got)
	}
}

// Without a file, the defaults and the environment make the whole
// configuration; a file that was named must exist.
func TestLoadWithoutFile(t *testing.T) {
	c, err := config.Source{Environ: []string{
		`TOLLGATE_TOKEN_SERVICES=["registry.local"]`,
		`TOLLGATE_ACL=[{"account":"*","actions":["pull"]}]`,
		"TOLLGATE_LOG_LEVEL=debug",
	}}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults plus environment do not validate: %v", err)
	}
	if c.Server.Addr != ":5001" || c.Log.Level != "debug" || len(c.ACL) != 1 || !slices.Equal(c.Token.Services, []string{"registry.local"}) {
		t.Errorf("addr %q, log.level %q, acl %v, services %q; want the default and the environment's", c.Server.Addr, c.Log.Level, c.ACL, c.Token.Services)
	}
	src, ok := c.Source()
	if !ok || src.File != "" || len(src.Environ) != 3 {
		t.Errorf("Source() = %+v, %v; want no file and the 3 variables", src, ok)
	}

	missing := filepath.Join(t.TempDir(), "absent.yaml")
	if _, err := (config.Source{File: missing, Environ: []string{}}).Load(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a named missing file: %v, want fs.ErrNotExist", err)
	}
}

// Load remembers the environment it used: loading again from Source gives
// the same configuration even when the process environment changed.
func TestSourceRemembersEnvironment(t *testing.T) {
	t.Setenv("TOLLGATE_SERVER_ADDR", "127.0.0.1:7001")
	c, err := config.Load(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	src, ok := c.Source()
	if !ok || src.File != exampleFile {
		t.Fatalf("Source() = %+v, %v; want %s", src, ok, exampleFile)
	}
	t.Setenv("TOLLGATE_SERVER_ADDR", "127.0.0.1:7002")
	again, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if again.Server.Addr != "127.0.0.1:7001" {
		t.Errorf("reloaded server.addr = %q, want the first load's 127.0.0.1:7001", again.Server.Addr)
	}
	if _, ok := (&config.Config{}).Source(); ok {
		t.Error("a Config built in code reports a source")
	}
}

func TestChanged(t *testing.T) {
	a, err := loadWithEnv(t)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadWithEnv(t, "TOLLGATE_SERVER_ADDR=:6001", "TOLLGATE_STORE_DSN=secret-dsn", `TOLLGATE_ACL=[{"account":"*","actions":["pull"]}]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := config.Changed(a, a); len(got) != 0 {
		t.Errorf("Changed(a, a) = %q, want none", got)
	}
	if got, want := config.Changed(a, b), []string{"server.addr", "acl", "store.dsn"}; !slices.Equal(got, want) {
		t.Errorf("Changed = %q, want %q", got, want)
	}
}
