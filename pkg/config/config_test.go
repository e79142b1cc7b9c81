package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn/ldap"
	"github.com/tollgate/tollgate/pkg/config"
)

const exampleFile = "../../configs/tollgate.yaml"

func TestLoadExample(t *testing.T) {
	c, err := config.Load(exampleFile)
	if err != nil {
		t.Fatalf("Load(%s): %v", exampleFile, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"server.addr", c.Server.Addr, ":5001"},
		{"token.issuer", c.Token.Issuer, "tollgate"},
		{"token.expiration", c.Token.Expiration, 5 * time.Minute},
		{"token.services", c.Token.Services, []string{"registry.local"}},
		{"token.refresh_expiration", c.Token.RefreshExpiration, 720 * time.Hour},
		{"engine.refresh_expiration", c.Engine.RefreshExpiration, 720 * time.Hour},
		{"keys.algorithm", c.Keys.Algorithm, "ES256"},
		{"keys.private_key", c.Keys.PrivateKey, "./data/keys/signing.pem"},
		{"keys.certificate", c.Keys.Certificate, "./data/keys/signing.crt"},
		{"keys.kid_format", c.Keys.KidFormat, "thumbprint"},
		{"keys.x5c", c.Keys.X5C, "auto"},
		{"users.htpasswd", c.Users.Htpasswd, "./data/htpasswd"},
		{"users.cache_ttl", c.Users.CacheTTL, 5 * time.Minute},
		{"users.bcrypt_cost", c.Users.BcryptCost, 10},
		{"store.type", c.Store.Type, "sqlite"},
		{"store.path", c.Store.Path, "./data/tollgate.db"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "auto"},
		{"len(acl)", len(c.ACL), 4},
		{"users.admins", c.Users.Admins, []string{"admin"}},
		{"api_tokens.default_ttl_days", c.APITokens.DefaultTTLDays, 30},
		{"api_tokens.max_ttl_days", c.APITokens.MaxTTLDays, 365},
		{"api_tokens.max_ttl_days_by_role", c.APITokens.MaxTTLDaysByRole, map[string]int{"admin": 30}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if len(c.ACL) != 4 {
		t.FailNow()
	}
	wantRules := []struct {
		account string
		typ     string
		name    string
		actions []string
	}{
		{"admin", "", "", []string{"*"}},
		{"*", "repository", "${account}/*", []string{"pull", "push"}},
		{"*", "repository", "shared/*", []string{"pull"}},
		{"", "repository", "public/*", []string{"pull"}},
	}
	for i, w := range wantRules {
		r := c.ACL[i]
		if r.Account == nil {
			t.Errorf("acl[%d].account is nil, want %q", i, w.account)
			continue
		}
		if *r.Account != w.account || r.Type != w.typ || r.Name != w.name || !reflect.DeepEqual(r.Actions, w.actions) {
			t.Errorf("acl[%d] = %s, want account=%q type=%q name=%q actions=%v", i, r, w.account, w.typ, w.name, w.actions)
		}
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	t.Setenv("TOLLGATE_SERVER_ADDR", "127.0.0.1:6001")
	t.Setenv("TOLLGATE_TOKEN_EXPIRATION", "90s")
	c, err := config.Load(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:6001" {
		t.Errorf("server.addr = %q, want the environment's 127.0.0.1:6001", c.Server.Addr)
	}
	if c.Token.Expiration != 90*time.Second {
		t.Errorf("token.expiration = %v, want the environment's 90s", c.Token.Expiration)
	}
	if c.Token.Issuer != "tollgate" {
		t.Errorf("token.issuer = %q, want the file's value", c.Token.Issuer)
	}
}

// mustLoad loads a config file of content, failing the test on an error.
func mustLoad(t *testing.T, content string) *config.Config {
	t.Helper()
	c, err := config.Load(writeConfig(t, content))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeConfig writes a config file into a fresh temp dir.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tollgate.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantKey string
	}{
		{
			name:    "top level",
			yaml:    "server: {addr: \":5001\"}\nlisten: \":80\"\n",
			wantKey: `"listen"`,
		},
		{
			name:    "nested",
			yaml:    "token: {issuer: x, expiry: 5m}\n",
			wantKey: `"token.expiry"`,
		},
		{
			name:    "inside an acl rule",
			yaml:    "acl:\n  - {account: \"*\", actions: [pull]}\n  - {account: admin, actions: [\"*\"], repo: \"x/*\"}\n",
			wantKey: `"acl[1].repo"`,
		},
		{
			name:    "api_tokens",
			yaml:    "api_tokens: {default_ttl: 30}\n",
			wantKey: `"api_tokens.default_ttl"`,
		},
		{
			name:    "engine",
			yaml:    "engine: {hmac_secret: x}\n",
			wantKey: `"engine.hmac_secret"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(writeConfig(t, tt.yaml))
			if err == nil {
				t.Fatalf("Load accepted an unknown key: %+v", c)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), "unknown key "+tt.wantKey) {
				t.Errorf("error %q does not name unknown key %s", err, tt.wantKey)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	c, err := config.Load(path)
	if err == nil {
		t.Fatalf("Load(%s) = %+v, want an error", path, c)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

// valid returns a configuration that passes Validate.
func valid(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Load(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// validateCase edits a valid configuration; Validate must then report
// exactly the problems wantKeys name, in order, or none when it is empty.
type validateCase struct {
	name     string
	edit     func(c *config.Config)
	wantKeys []string
}

// runValidateCases runs each case on a fresh valid configuration.
func runValidateCases(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid(t)
			tc.edit(c)
			checkProblems(t, c.Validate(), tc.wantKeys...)
		})
	}
}

// checkProblems checks that err is nil when no keys are given, and
// otherwise wraps ErrInvalid and lists one problem per key, in order, each
// starting with its key.
func checkProblems(t *testing.T, err error, keys ...string) {
	t.Helper()
	if len(keys) == 0 {
		if err != nil {
			t.Fatalf("Validate = %v, want nil", err)
		}
		return
	}
	problems := config.Problems(err)
	if !errors.Is(err, config.ErrInvalid) || len(problems) != len(keys) {
		t.Fatalf("Validate = %v, want ErrInvalid with %d problems (%v)", err, len(keys), keys)
	}
	for i, key := range keys {
		if !strings.HasPrefix(problems[i], key+":") {
			t.Errorf("problem %d = %q, want it to start with %q", i, problems[i], key+":")
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := valid(t)
	c.Keys.Algorithm = "ES257"
	c.Token.Expiration = 0
	c.Token.Issuer = ""
	c.Server.Addr = "localhost"
	c.ACL[2].Account = nil

	err := c.Validate()
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Validate = %v, want an error wrapping ErrInvalid", err)
	}
	problems := config.Problems(err)
	for _, key := range []string{"keys.algorithm", "token.expiration", "token.issuer", "server.addr", "acl[2].account"} {
		found := false
		for _, p := range problems {
			if strings.HasPrefix(p, key+":") {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem names %s; got %q", key, problems)
		}
	}
	if len(problems) != 5 {
		t.Errorf("got %d problems, want exactly 5: %q", len(problems), problems)
	}
}

func TestValidateSingleProblems(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"expiration too long", func(c *config.Config) { c.Token.Expiration = 25 * time.Hour }, []string{"token.expiration"}},
		{"negative expiration", func(c *config.Config) { c.Token.Expiration = -time.Second }, []string{"token.expiration"}},
		{"empty service", func(c *config.Config) { c.Token.Services = []string{"a", " "} }, []string{"token.services[1]"}},
		{"refresh expiration", func(c *config.Config) { c.Token.RefreshExpiration = 0 }, []string{"token.refresh_expiration"}},
		{"engine refresh expiration", func(c *config.Config) { c.Engine.RefreshExpiration = -time.Hour }, []string{"engine.refresh_expiration"}},
		{"kid format", func(c *config.Config) { c.Keys.KidFormat = "x5t" }, []string{"keys.kid_format"}},
		{"x5c mode", func(c *config.Config) { c.Keys.X5C = "sometimes" }, []string{"keys.x5c"}},
		{"x5c mode empty", func(c *config.Config) { c.Keys.X5C = "" }, []string{"keys.x5c"}},
		{"x5c never", func(c *config.Config) { c.Keys.X5C = "never" }, nil},
		{"no private key", func(c *config.Config) { c.Keys.PrivateKey = "" }, []string{"keys.private_key"}},
		{"hs256 with certificate", func(c *config.Config) { c.Keys.Algorithm = "HS256" }, []string{"keys.certificate"}},
		{"no htpasswd", func(c *config.Config) { c.Users.Htpasswd = "" }, []string{"users.htpasswd"}},
		{"negative cache ttl", func(c *config.Config) { c.Users.CacheTTL = -time.Second }, []string{"users.cache_ttl"}},
		{"bcrypt cost too low", func(c *config.Config) { c.Users.BcryptCost = 9 }, []string{"users.bcrypt_cost"}},
		{"bcrypt cost too high", func(c *config.Config) { c.Users.BcryptCost = 17 }, []string{"users.bcrypt_cost"}},
		{"store type", func(c *config.Config) { c.Store.Type = "mysql" }, []string{"store.type"}},
		{"store path", func(c *config.Config) { c.Store.Path = "" }, []string{"store.path"}},
		{"log level", func(c *config.Config) { c.Log.Level = "trace" }, []string{"log.level"}},
		{"log format", func(c *config.Config) { c.Log.Format = "xml" }, []string{"log.format"}},
		{"acl actions", func(c *config.Config) { c.ACL[0].Actions = nil }, []string{"acl[0].actions"}},
		{"acl variable in group", func(c *config.Config) { c.ACL[1].Group = "${account}" }, []string{"acl[1].group"}},
		{"acl group on an anonymous rule", func(c *config.Config) { c.ACL[3].Group = "ops" }, []string{"acl[3].group"}},
		{"acl label without a name", func(c *config.Config) { c.ACL[2].Name = "${labels:}/*" }, []string{"acl[2].name"}},
		{"no user backend", func(c *config.Config) { c.Users.Backends = nil }, []string{"users.backends"}},
		{"debug listener on the network", func(c *config.Config) { c.Server.DebugAddr = "0.0.0.0:6060" }, []string{"server.debug_addr"}},
		{"debug listener on loopback", func(c *config.Config) { c.Server.DebugAddr = "127.0.0.1:6060" }, nil},
		{"reuse window over a tenth", func(c *config.Config) { c.Token.ReuseWindow = c.Token.Expiration/10 + time.Second }, []string{"token.reuse_window"}},
		{"reuse window of a tenth", func(c *config.Config) { c.Token.ReuseWindow = c.Token.Expiration / 10 }, nil},
		{"reuse size zero", func(c *config.Config) { c.Token.ReuseWindow = time.Second; c.Token.ReuseSize = 0 }, []string{"token.reuse_size"}},
		{"user backend twice", func(c *config.Config) { c.Users.Backends = []string{"htpasswd", "htpasswd"} }, []string{"users.backends[1]"}},
		{"htpasswd not used", func(c *config.Config) {
			c.Users.Htpasswd = ""
			c.Users.Backends = []string{"ldap"}
			c.Users.LDAP = ldap.Config{URL: "ldaps://ldap.example.org", BindDN: "cn=tollgate,dc=example,dc=org",
				BindPasswordFile: "/run/secrets/ldap", BaseDN: "ou=people,dc=example,dc=org"}
		}, nil},
		{"ldap without a directory", func(c *config.Config) { c.Users.Backends = []string{"htpasswd", "ldap"} },
			[]string{"users.ldap.url", "users.ldap.bind_dn", "users.ldap.base_dn"}},
		{"ldap in clear text", func(c *config.Config) {
			c.Users.Backends = []string{"ldap"}
			c.Users.LDAP = ldap.Config{URL: "ldap://ldap.example.org", BindDN: "cn=tollgate,dc=example,dc=org",
				BindPasswordFile: "/run/secrets/ldap", BaseDN: "ou=people,dc=example,dc=org", UserFilter: "(uid=x)"}
		}, []string{"users.ldap.start_tls", "users.ldap.user_filter"}},
		{"empty admin", func(c *config.Config) { c.Users.Admins = []string{"admin", ""} }, []string{"users.admins[1]"}},
		{"admin with a colon", func(c *config.Config) { c.Users.Admins = []string{"a:b"} }, []string{"users.admins[0]"}},
		{"api token default ttl zero", func(c *config.Config) { c.APITokens.DefaultTTLDays = 0 }, []string{"api_tokens.default_ttl_days"}},
		{"api token default over max", func(c *config.Config) { c.APITokens.DefaultTTLDays = 400 }, []string{"api_tokens.default_ttl_days"}},
		{"api token max ttl zero", func(c *config.Config) { c.APITokens.MaxTTLDays = 0; c.APITokens.MaxTTLDaysByRole = nil }, []string{"api_tokens.max_ttl_days"}},
		{"api token unknown role", func(c *config.Config) { c.APITokens.MaxTTLDaysByRole = map[string]int{"owner": 10} }, []string{"api_tokens.max_ttl_days_by_role.owner"}},
		{"api token role max zero", func(c *config.Config) { c.APITokens.MaxTTLDaysByRole = map[string]int{"write": 0} }, []string{"api_tokens.max_ttl_days_by_role.write"}},
		{"api token role max over max", func(c *config.Config) { c.APITokens.MaxTTLDaysByRole = map[string]int{"read": 366} }, []string{"api_tokens.max_ttl_days_by_role.read"}},
	})
}

func TestProblemsOfOtherErrors(t *testing.T) {
	if got := config.Problems(nil); got != nil {
		t.Errorf("Problems(nil) = %q", got)
	}
	if got := config.Problems(errors.New("x")); got != nil {
		t.Errorf("Problems(unrelated) = %q", got)
	}
}

// TestLoadAPITokenDefaults: a file without api_tokens or users.admins gets
// the documented defaults and validates.
func TestLoadAPITokenDefaults(t *testing.T) {
	c := mustLoad(t, "keys: {certificate: \"\"}\n")
	if c.APITokens.DefaultTTLDays != 30 || c.APITokens.MaxTTLDays != 365 || len(c.APITokens.MaxTTLDaysByRole) != 0 {
		t.Errorf("api_tokens = %+v, want defaults 30/365 and no per-role maxima", c.APITokens)
	}
	if len(c.Users.Admins) != 0 {
		t.Errorf("users.admins = %q, want none", c.Users.Admins)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}
