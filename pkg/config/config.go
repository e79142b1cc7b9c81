package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/federation"
	"github.com/tollgate/tollgate/pkg/authn/ldap"
	"github.com/tollgate/tollgate/pkg/authn/oidc"
	"github.com/tollgate/tollgate/pkg/authz"
)

// DefaultFile is the configuration used when none is named.
const DefaultFile = "configs/tollgate.yaml"

// EnvPrefix prefixes every environment override: TOLLGATE_SERVER_ADDR
// (see EnvVar).
const EnvPrefix = "TOLLGATE"

// ErrInvalid wraps every configuration problem.
var ErrInvalid = errors.New("invalid configuration")

// Config is the whole typed configuration.
type Config struct {
	Server Server       `mapstructure:"server"`
	Token  Token        `mapstructure:"token"`
	Keys   Keys         `mapstructure:"keys"`
	Users  Users        `mapstructure:"users"`
	ACL    []authz.Rule `mapstructure:"acl"`
	Store  Store        `mapstructure:"store"`
	Log    Log          `mapstructure:"log"`

	APITokens APITokens `mapstructure:"api_tokens"`
	Limits    Limits    `mapstructure:"limits"`
	Engine    Engine    `mapstructure:"engine"`
	Audit     Audit     `mapstructure:"audit"`
	// Federation trusts CI and Kubernetes identity tokens (workloads).
	Federation federation.Config `mapstructure:"federation"`
	// Gateway answers the forward-auth requests of a reverse proxy in
	// front of a registry without auth.
	Gateway Gateway `mapstructure:"gateway"`
	// UI is the web UI at /ui/.
	UI UI `mapstructure:"ui"`

	source *Source // where Load read it; nil when built in code
}

// UI configures the web UI.
type UI struct {
	Enabled bool `mapstructure:"enabled"`
	// Registry is the host clients log in to, for the ready-to-paste
	// login lines; "" is the first of token.services.
	Registry string `mapstructure:"registry"`
	// SessionIdle and SessionAbsolute end a session unused that long, or
	// that long after sign-in.
	SessionIdle     time.Duration `mapstructure:"session_idle"`
	SessionAbsolute time.Duration `mapstructure:"session_absolute"`
	// OIDC are the OpenID Connect providers of "Sign in with …". A
	// provider's users are the accounts its sign-ins made (source
	// "oidc:<name>"): their API tokens work while it is listed here, and
	// are refused once it is not. Those tokens reach no group rule of the
	// ACL: the groups are known at sign-in only.
	OIDC []oidc.ProviderConfig `mapstructure:"oidc"`
	// ACLTests is a table of `tollgate acl test` cases the admin ACL page
	// runs against the ACL in force; "" shows none.
	ACLTests string `mapstructure:"acl_tests"`
}

// MaxSessionIdle bounds ui.session_idle (the purge deletes sessions idle
// longer).
const MaxSessionIdle = 24 * time.Hour

// Gateway configures /auth/forward.
type Gateway struct {
	Enabled bool `mapstructure:"enabled"`
	// CacheTTL is how long a decision (allowed, or denied to an
	// authenticated caller) is reused for the same credentials and
	// access; 0 decides every request afresh. Revocations, password
	// changes, user removals and reloads clear it at once.
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
	// Service is the service the ACL sees for these requests (rules with
	// service:); "" is the first of token.services.
	Service string `mapstructure:"service"`
}

// Audit configures the audit log kept in the store.
type Audit struct {
	// Retention is how long events are kept; older ones are deleted every
	// hour.
	Retention time.Duration `mapstructure:"retention"`
	// Buffer is how many events wait in memory while the store is away;
	// past it they go to SpoolFile, or are dropped.
	Buffer int `mapstructure:"buffer"`
	// SpoolFile is where events that do not fit in Buffer go, and those
	// left in memory at a shutdown without the store ("": nowhere). It is
	// written to the store when it is back, and at the next start.
	SpoolFile string `mapstructure:"spool_file"`
	// SpoolMaxBytes bounds the spool file; events past it are dropped and
	// counted.
	SpoolMaxBytes int64 `mapstructure:"spool_max_bytes"`
}

// Engine configures the Engine OAuth2 API (/v1/oauth/token, /v1/account,
// /v1/accounts): access tokens for Anchore-Engine-style services. Its
// admins are users.admins.
type Engine struct {
	Enabled    bool          `mapstructure:"enabled"`
	Issuer     string        `mapstructure:"issuer"`     // iss; anchore-engine lets Anchore services verify unchanged
	Expiration time.Duration `mapstructure:"expiration"` // access token lifetime
	Audience   string        `mapstructure:"audience"`   // aud; empty: the issuer (as Anchore's own tokens)
	// Signing is "hmac" (HS256 over HMACSecretFile, shared with the services
	// that verify) or "keys" (the signing key of registry tokens).
	Signing        string   `mapstructure:"signing"`
	HMACSecretFile string   `mapstructure:"hmac_secret_file"` // at least 32 bytes, mode 0600
	PublicClients  []string `mapstructure:"public_clients"`   // accepted client_ids; "anonymous" always is
	// RefreshExpiration is the lifetime of a refresh token family: the
	// password grant's refresh token and every one rotated from it.
	RefreshExpiration time.Duration `mapstructure:"refresh_expiration"`
}

// Server is the HTTP listener.
type Server struct {
	PublicURL string `mapstructure:"public_url"` // how clients reach Tollgate, for discovery documents; "" derives it per request
	Addr      string `mapstructure:"addr"`
	// DebugAddr, when set, serves Go's profiles (pprof) on a listener of
	// its own; it must be a loopback address. "" (the default) serves none.
	DebugAddr string `mapstructure:"debug_addr"`

	// TrustedProxies are the CIDRs (or single addresses) of the reverse
	// proxies whose X-Forwarded-For is believed.
	TrustedProxies []string `mapstructure:"trusted_proxies"`

	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	ReadTimeout       time.Duration `mapstructure:"read_timeout"`
	WriteTimeout      time.Duration `mapstructure:"write_timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout"`
	ShutdownTimeout   time.Duration `mapstructure:"shutdown_timeout"` // for in-flight requests after SIGTERM

	TLS TLS `mapstructure:"tls"`
}

// TLS makes the listener serve HTTPS when Cert and Key are set.
type TLS struct {
	Cert       string `mapstructure:"cert"`        // PEM chain, leaf first; re-read when it changes
	Key        string `mapstructure:"key"`         // PEM private key
	ClientCA   string `mapstructure:"client_ca"`   // PEM bundle that client certificates must chain to
	ClientAuth string `mapstructure:"client_auth"` // none, request (verified if given), require
}

// Enabled reports whether HTTPS is configured.
func (t TLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Limits are the brute-force protection budgets: failed authentications
// allowed per username and per client address. A rate and burst of 0
// disable a budget.
type Limits struct {
	FailuresPerMinute   float64 `mapstructure:"failures_per_minute"`    // per username, refill rate
	FailureBurst        int     `mapstructure:"failure_burst"`          // per username, bucket size
	IPFailuresPerMinute float64 `mapstructure:"ip_failures_per_minute"` // per client address (IPv6: /64)
	IPFailureBurst      int     `mapstructure:"ip_failure_burst"`
	MaxTracked          int     `mapstructure:"max_tracked"` // usernames and addresses remembered, each
}

// Token configures the tokens Tollgate mints for registries.
type Token struct {
	Issuer            string        `mapstructure:"issuer"`
	Expiration        time.Duration `mapstructure:"expiration"`
	Services          []string      `mapstructure:"services"`
	RefreshExpiration time.Duration `mapstructure:"refresh_expiration"`
	// ReuseWindow, when set, answers an identical grant (same subject,
	// audience, granted access and signing key) within it with the token
	// already minted; at most a tenth of Expiration. 0 turns it off.
	ReuseWindow time.Duration `mapstructure:"reuse_window"`
	// ReuseSize bounds how many tokens are kept for reuse (LRU).
	ReuseSize int `mapstructure:"reuse_size"`
}

// Keys names the signing key.
type Keys struct {
	Algorithm   string `mapstructure:"algorithm"`
	PrivateKey  string `mapstructure:"private_key"`
	Certificate string `mapstructure:"certificate"`
	KidFormat   string `mapstructure:"kid_format"`
	// X5C says when tokens carry the certificate chain: "auto" (only
	// where a registry cannot find the key by kid), "always" or "never".
	X5C string `mapstructure:"x5c"`
	// HMACSecret, for HS256, replaces the private_key file: set it with
	// TOLLGATE_KEYS_HMAC_SECRET rather than in the file.
	HMACSecret authn.Secret `mapstructure:"hmac_secret"`
	Ring       Ring         `mapstructure:"ring"`
}

// Ring configures the rotating key ring kept in the store. When it is
// enabled, private_key/certificate are not used: the ring generates keys.
type Ring struct {
	Enabled     bool          `mapstructure:"enabled"`
	SecretFile  string        `mapstructure:"secret_file"`  // key-encryption secret sealing the ring's private keys
	CA          bool          `mapstructure:"ca"`           // sign each key's certificate with a built-in CA (tokens carry x5c)
	RotateEvery time.Duration `mapstructure:"rotate_every"` // 0: rotate only by hand
	Prepublish  time.Duration `mapstructure:"prepublish"`   // how long a new key is published before it signs
	SyncEvery   time.Duration `mapstructure:"sync_every"`   // how soon every replica sees a change
}

// Users configures password authentication.
type Users struct {
	// Backends are the user sources, in order: the first that knows a
	// user decides (an unknown user falls through, a wrong password does
	// not). Each name is an authenticator backend with its own section
	// (htpasswd: users.htpasswd).
	Backends []string `mapstructure:"backends"`
	Htpasswd string   `mapstructure:"htpasswd"`
	// LDAP is the directory of the ldap backend (OpenLDAP, Active
	// Directory).
	LDAP     ldap.Config   `mapstructure:"ldap"`
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
	Admins   []string      `mapstructure:"admins"` // may mint admin API tokens and manage everyone's

	BcryptCost int `mapstructure:"bcrypt_cost"` // of the hashes `tollgate users` writes

	// AccountCacheTTL is how long a password login trusts the account
	// (state, type) it read from the store: a change made on another
	// replica or with the CLI reaches password logins within it. 0 reads
	// the store on every login.
	AccountCacheTTL time.Duration `mapstructure:"account_cache_ttl"`
}

// APITokens bounds the lifetime of API tokens, in days.
type APITokens struct {
	DefaultTTLDays   int            `mapstructure:"default_ttl_days"`
	MaxTTLDays       int            `mapstructure:"max_ttl_days"`
	MaxTTLDaysByRole map[string]int `mapstructure:"max_ttl_days_by_role"` // lower maxima for some roles
	MaxPerUser       int            `mapstructure:"max_per_user"`         // live tokens a user may hold
}

// Store configures where refresh tokens, API tokens and the audit log are
// kept: one SQLite file, or PostgreSQL shared by replicas.
type Store struct {
	Type string       `mapstructure:"type"`
	Path string       `mapstructure:"path"`
	DSN  authn.Secret `mapstructure:"dsn"` // postgres connection string; may hold a password, so it never prints
}

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// defaults are the values of the keys that neither the file nor the
// environment sets; a key missing here is the zero value.
var defaults = map[string]any{
	"ui.enabled":               false,
	"ui.registry":              "",
	"ui.session_idle":          "30m",
	"ui.session_absolute":      "12h",
	"ui.acl_tests":             "",
	"gateway.enabled":          false,
	"gateway.cache_ttl":        "5s",
	"gateway.service":          "",
	"federation.username":      federation.DefaultUsername,
	"server.addr":              ":5001",
	"server.debug_addr":        "",
	"token.issuer":             "tollgate",
	"token.expiration":         "5m",
	"token.services":           []string{},
	"token.refresh_expiration": "720h",
	"token.reuse_window":       "0s",
	"token.reuse_size":         10000,
	"keys.algorithm":           "ES256",
	"keys.private_key":         "./data/keys/signing.pem",
	"keys.certificate":         "",
	"keys.kid_format":          "thumbprint",
	"keys.x5c":                 "auto",
	"keys.hmac_secret":         "",
	"server.public_url":        "",
	"keys.ring.enabled":        false,
	"keys.ring.secret_file":    "./data/keys/ring.secret",
	"keys.ring.ca":             true,
	"keys.ring.rotate_every":   "720h",
	"keys.ring.prepublish":     "24h",
	"keys.ring.sync_every":     "30s",
	"users.htpasswd":           "./data/htpasswd",
	"users.cache_ttl":          "5m",
	"users.bcrypt_cost":        10,
	"store.type":               "sqlite",
	"store.path":               "./data/tollgate.db",
	"store.dsn":                "",
	"log.level":                "info",
	"log.format":               "auto",

	"users.admins":                []string{},
	"users.backends":              []string{"htpasswd"},
	"users.account_cache_ttl":     "1s",
	"api_tokens.default_ttl_days": 30,
	"api_tokens.max_ttl_days":     365,
	"api_tokens.max_per_user":     100,
	"audit.retention":             "2160h",
	"audit.buffer":                100000,
	"audit.spool_file":            "",
	"audit.spool_max_bytes":       1 << 30,

	"server.trusted_proxies":        []string{},
	"server.read_header_timeout":    "10s",
	"server.read_timeout":           "30s",
	"server.write_timeout":          "30s",
	"server.idle_timeout":           "120s",
	"server.shutdown_timeout":       "30s",
	"server.tls.cert":               "",
	"server.tls.key":                "",
	"server.tls.client_ca":          "",
	"server.tls.client_auth":        "none",
	"limits.failures_per_minute":    10,
	"limits.failure_burst":          10,
	"limits.ip_failures_per_minute": 60,
	"limits.ip_failure_burst":       60,
	"limits.max_tracked":            100000,

	"engine.enabled":            false,
	"engine.issuer":             "tollgate-engine",
	"engine.expiration":         "3600s",
	"engine.audience":           "",
	"engine.signing":            "hmac",
	"engine.hmac_secret_file":   "",
	"engine.public_clients":     []string{"anonymous"},
	"engine.refresh_expiration": "720h",
}

// Source is where a configuration is read from: a YAML file (or none) and
// the TOLLGATE_* variables of an environment over it.
type Source struct {
	File    string   // "": no file, the defaults and the environment alone
	Environ []string // "NAME=value" pairs; nil: the process's (os.Environ) when loading
}

// Locate returns the source that --config path names: the file path when
// it is given (it must then exist), else DefaultFile when it exists, else
// no file at all (containers and Kubernetes configure by environment).
func Locate(path string) Source {
	if path != "" {
		return Source{File: path}
	}
	if _, err := os.Stat(DefaultFile); errors.Is(err, fs.ErrNotExist) {
		return Source{}
	}
	return Source{File: DefaultFile}
}

// String names the source for messages: the file, or that there is none.
func (s Source) String() string {
	if s.File == "" {
		return "no configuration file (defaults and " + EnvPrefix + "_* variables)"
	}
	return s.File
}

// Load reads the configuration that Locate(path) names. See Source.Load.
func Load(path string) (*Config, error) {
	return Locate(path).Load()
}

// Load reads the YAML file (if any) over the defaults and decodes it
// strictly: unknown keys are an error naming them. Then it applies every
// TOLLGATE_* variable of the environment (applyEnv): any key of Config, a
// list or map as JSON; variables that cannot apply are all reported at
// once. It does not Validate. The Config remembers its source, with the
// environment as it was, so that it can be loaded again the same way.
func (s Source) Load() (*Config, error) {
	v := viper.New()
	for k, val := range defaults {
		v.SetDefault(k, val)
	}
	if s.File != "" {
		v.SetConfigFile(s.File)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("read config %s: %w", s.File, err)
		}
	}
	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, s, describeDecodeError(err))
	}
	if s.File != "" {
		if err := restoreClaimNames(&c, s.File); err != nil {
			return nil, err
		}
	}
	if s.Environ == nil {
		s.Environ = os.Environ()
	}
	if err := configSchema().applyEnv(&c, s.Environ); err != nil {
		return nil, err
	}
	c.applyDerivedDefaults()
	c.source = &s
	return &c, nil
}

// Source returns where c was loaded from, with the environment as it was
// then; ok is false for a Config built in code.
func (c *Config) Source() (src Source, ok bool) {
	if c.source == nil {
		return Source{}, false
	}
	return *c.source, true
}

// Changed lists the keys whose values differ between a and b, in the order
// of Config. It names keys only, never values (some are secret).
func Changed(a, b *Config) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var changed []string
	for _, k := range configSchema().keys {
		if !reflect.DeepEqual(va.FieldByIndex(k.index).Interface(), vb.FieldByIndex(k.index).Interface()) {
			changed = append(changed, k.name)
		}
	}
	return changed
}

var invalidKeys = regexp.MustCompile(`'([^']*)' has invalid keys: ([^\n]*)`)

// describeDecodeError rewrites mapstructure's "'acl[0]' has invalid keys: x"
// into "unknown key acl[0].x", the way the user wrote it.
func describeDecodeError(err error) string {
	matches := invalidKeys.FindAllStringSubmatch(err.Error(), -1)
	if len(matches) == 0 {
		return strings.TrimSpace(strings.ReplaceAll(err.Error(), "\n", " "))
	}
	var problems []string
	for _, m := range matches {
		for _, key := range strings.Split(m[2], ", ") {
			if m[1] != "" {
				key = m[1] + "." + key
			}
			problems = append(problems, fmt.Sprintf("unknown key %q", key))
		}
	}
	return strings.Join(problems, "; ")
}

// applyDerivedDefaults fills keys whose default is another key's value:
// engine.audience is engine.issuer unless set, as in Anchore's own tokens,
// so that pkg/verify (which requires an audience) accepts engine tokens.
func (c *Config) applyDerivedDefaults() {
	if c.Engine.Audience == "" {
		c.Engine.Audience = c.Engine.Issuer
	}
}
