package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/authn/federation"
	"github.com/tollgate/tollgate/pkg/authz"
)

var (
	algorithms  = keys.SigningAlgorithms()
	kidFormats  = []string{"thumbprint", "libtrust"}
	x5cModes    = keys.X5CModes()
	storeTypes  = []string{"sqlite", "postgres"}
	logLevels   = []string{"debug", "info", "warn", "error"}
	logFormats  = []string{"auto", "json", "text"}
	clientAuths = []string{"none", "request", "require"}
	engineSigns = []string{"hmac", "keys"}
	maxTokenTTL = 24 * time.Hour
)

// The bcrypt costs users.bcrypt_cost allows. Each step doubles the work of
// every login; 16 is also the most the htpasswd loader accepts.
const (
	MinBcryptCost = 10
	MaxBcryptCost = 16
)

// Validate checks the whole configuration and returns every problem at
// once, each naming the key as written in the file. The error wraps
// ErrInvalid.
func (c *Config) Validate() error {
	var p problems
	c.validateServer(&p)
	c.validateToken(&p)
	c.validateKeys(&p)
	c.validateUsers(&p)
	c.validateStore(&p)
	c.validateLog(&p)
	c.validateACL(&p)
	c.validateAPITokens(&p)
	c.validateLimits(&p)
	c.validateEngine(&p)
	c.validateAudit(&p)
	c.validateFederation(&p)
	c.validateUI(&p)
	if g := c.Gateway; g.CacheTTL < 0 || g.CacheTTL > time.Minute {
		p.add("gateway.cache_ttl: %s must be between 0 (off) and 1m", g.CacheTTL)
	}
	return p.err()
}

// validateUI adds the problems of the ui section.
func (c *Config) validateUI(p *problems) {
	u := c.UI
	if u.SessionIdle < time.Minute || u.SessionIdle > MaxSessionIdle {
		p.add("ui.session_idle: %s must be between 1m and %s", u.SessionIdle, MaxSessionIdle)
	}
	if u.SessionAbsolute < u.SessionIdle || u.SessionAbsolute > 30*24*time.Hour {
		p.add("ui.session_absolute: %s must be at least ui.session_idle and at most 720h", u.SessionAbsolute)
	}
	if len(u.OIDC) > 0 && c.Server.PublicURL == "" {
		p.add("ui.oidc: set server.public_url: the providers redirect the browser back to it")
	}
	for i, pc := range u.OIDC {
		if err := pc.Check(); err != nil {
			p.add("ui.oidc[%d]: %v", i, err)
		}
		for j := range i {
			if u.OIDC[j].Name == pc.Name {
				p.add("ui.oidc[%d].name: %q is listed twice", i, pc.Name)
			}
		}
	}
}

// validateLDAP adds every problem of users.ldap.
func (c *Config) validateLDAP(p *problems) {
	var joined interface{ Unwrap() []error }
	if err := c.Users.LDAP.Check(); errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			p.add("%s", e.Error())
		}
	}
}

// validateFederation adds every problem of the trust policies.
func (c *Config) validateFederation(p *problems) {
	var fe *federation.ConfigError
	if err := federation.Check(c.Federation); errors.As(err, &fe) {
		*p = append(*p, fe.Problems...)
	}
	if name := c.Federation.Username; name == apitoken.Username {
		p.add("federation.username: %q is the user name of API tokens", name)
	}
}

// MaxAuditBuffer bounds audit.buffer: at a few hundred bytes an event,
// ten million is gigabytes of memory.
const MaxAuditBuffer = 10_000_000

// MinAuditSpool is the smallest audit.spool_max_bytes: a few thousand events.
const MinAuditSpool = 1 << 20

func (c *Config) validateAudit(p *problems) {
	a := c.Audit
	if a.Retention < time.Hour {
		p.add("audit.retention: %s must be at least 1h", a.Retention)
	}
	if a.Buffer < 1 || a.Buffer > MaxAuditBuffer {
		p.add("audit.buffer: %d must be between 1 and %d events", a.Buffer, MaxAuditBuffer)
	}
	if a.SpoolMaxBytes < MinAuditSpool {
		p.add("audit.spool_max_bytes: %d must be at least %d (1 MiB)", a.SpoolMaxBytes, MinAuditSpool)
	}
	if a.SpoolFile == "" {
		return
	}
	if strings.HasSuffix(a.SpoolFile, "/") {
		p.add("audit.spool_file: %q names a directory; name a file in it", a.SpoolFile)
	}
	if c.Store.Type == "sqlite" && filepath.Clean(a.SpoolFile) == filepath.Clean(c.Store.Path) {
		p.add("audit.spool_file: %q is store.path, the database itself", a.SpoolFile)
	}
}

// validateACL adds each rule problem authz.Compile finds (acl[i].field: ...).
func (c *Config) validateACL(p *problems) {
	_, err := authz.Compile(c.ACL)
	if err == nil {
		return
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		p.add("acl: %v", err)
		return
	}
	for _, e := range joined.Unwrap() {
		p.add("%v", e)
	}
}

func (c *Config) validateServer(p *problems) {
	s := c.Server
	if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		p.add("server.addr: %q is not host:port (for example \":5001\")", s.Addr)
	}
	if s.DebugAddr != "" && !loopbackAddr(s.DebugAddr) {
		p.add("server.debug_addr: %q must be a loopback host:port (for example \"127.0.0.1:6060\"): profiles are not for the network", s.DebugAddr)
	}
	for i, proxy := range s.TrustedProxies {
		if _, err := parseProxy(proxy); err != nil {
			p.add("server.trusted_proxies[%d]: %q is not an IP address or CIDR (for example \"10.0.0.0/8\")", i, proxy)
		}
	}
	for _, d := range []struct {
		key   string
		value time.Duration
	}{
		{"server.read_header_timeout", s.ReadHeaderTimeout},
		{"server.read_timeout", s.ReadTimeout},
		{"server.write_timeout", s.WriteTimeout},
		{"server.idle_timeout", s.IdleTimeout},
		{"server.shutdown_timeout", s.ShutdownTimeout},
	} {
		if d.value <= 0 {
			p.add("%s: %s must be positive", d.key, d.value)
		}
	}
	c.validateTLS(p)
}

func (c *Config) validateTLS(p *problems) {
	t := c.Server.TLS
	if t.Cert != "" && t.Key == "" {
		p.add("server.tls.key: required when server.tls.cert is set")
	}
	if t.Key != "" && t.Cert == "" {
		p.add("server.tls.cert: required when server.tls.key is set")
	}
	p.oneOf("server.tls.client_auth", t.ClientAuth, clientAuths)
	switch {
	case t.ClientAuth == "request" || t.ClientAuth == "require":
		if !t.Enabled() {
			p.add("server.tls.client_auth: %s needs HTTPS (server.tls.cert and server.tls.key)", t.ClientAuth)
		}
		if t.ClientCA == "" {
			p.add("server.tls.client_ca: required when server.tls.client_auth is %s", t.ClientAuth)
		}
	case t.ClientCA != "" && t.ClientAuth == "none":
		p.add("server.tls.client_ca: set, but server.tls.client_auth is none, so no client certificate is asked for")
	}
}

// Proxies parses server.trusted_proxies; Validate reports the entries it
// refuses.
func (s Server) Proxies() ([]netip.Prefix, error) {
	prefixes := make([]netip.Prefix, 0, len(s.TrustedProxies))
	for i, proxy := range s.TrustedProxies {
		pfx, err := parseProxy(proxy)
		if err != nil {
			return nil, fmt.Errorf("%w: server.trusted_proxies[%d]: %v", ErrInvalid, i, err)
		}
		prefixes = append(prefixes, pfx)
	}
	return prefixes, nil
}

// parseProxy reads a CIDR, or one address as a single-address prefix.
func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(pfx.Bits()-96, 0))
		}
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (c *Config) validateLimits(p *problems) {
	l := c.Limits
	for _, b := range []struct {
		rateKey, burstKey string
		rate              float64
		burst             int
	}{
		{"limits.failures_per_minute", "limits.failure_burst", l.FailuresPerMinute, l.FailureBurst},
		{"limits.ip_failures_per_minute", "limits.ip_failure_burst", l.IPFailuresPerMinute, l.IPFailureBurst},
	} {
		switch {
		case b.rate < 0 || math.IsNaN(b.rate) || math.IsInf(b.rate, 0):
			p.add("%s: %v must be a number of at least 0 (0 with %s: 0 disables the budget)", b.rateKey, b.rate, b.burstKey)
		case b.burst < 0:
			p.add("%s: %d must be at least 0 (0 with %s: 0 disables the budget)", b.burstKey, b.burst, b.rateKey)
		case (b.rate == 0) != (b.burst == 0):
			p.add("%s and %s: both 0 (disabled) or both positive, not %v and %d", b.rateKey, b.burstKey, b.rate, b.burst)
		}
	}
	if l.MaxTracked < 1 {
		p.add("limits.max_tracked: %d must be at least 1", l.MaxTracked)
	}
}

// maxReuseSize bounds token.reuse_size: a kept token is about 1 KiB.
const maxReuseSize = 1_000_000

func (c *Config) validateToken(p *problems) {
	t := c.Token
	if t.Issuer == "" {
		p.add("token.issuer: required; it must equal the registry's auth.token.issuer")
	}
	if t.Expiration <= 0 || t.Expiration > maxTokenTTL {
		p.add("token.expiration: %s must be between 1s and %s", t.Expiration, maxTokenTTL)
	}
	if t.RefreshExpiration <= 0 {
		p.add("token.refresh_expiration: %s must be positive", t.RefreshExpiration)
	}
	if t.ReuseWindow < 0 || (t.Expiration > 0 && t.ReuseWindow > t.Expiration/10) {
		p.add("token.reuse_window: %s must be between 0 (off) and a tenth of token.expiration (%s)", t.ReuseWindow, t.Expiration/10)
	}
	if t.ReuseWindow > 0 && (t.ReuseSize < 1 || t.ReuseSize > maxReuseSize) {
		p.add("token.reuse_size: %d must be between 1 and %d", t.ReuseSize, maxReuseSize)
	}
	for i, s := range t.Services {
		if strings.TrimSpace(s) == "" {
			p.add("token.services[%d]: empty service name", i)
		}
	}
}

func (c *Config) validateKeys(p *problems) {
	k := c.Keys
	p.oneOf("keys.algorithm", k.Algorithm, algorithms)
	p.oneOf("keys.kid_format", k.KidFormat, kidFormats)
	p.oneOf("keys.x5c", k.X5C, x5cModes)
	if k.PrivateKey == "" && k.HMACSecret == "" {
		p.add("keys.private_key: required")
	}
	if k.HMACSecret != "" && k.Algorithm != "HS256" {
		p.add("keys.hmac_secret: only for keys.algorithm HS256")
	}
	if k.Algorithm == "HS256" && k.Certificate != "" {
		p.add("keys.certificate: HS256 keys have no certificate")
	}
	c.validateRing(p)
}

func (c *Config) validateRing(p *problems) {
	r := c.Keys.Ring
	if !r.Enabled {
		return
	}
	if r.SecretFile == "" {
		p.add("keys.ring.secret_file: required when keys.ring.enabled (a file of at least 32 random bytes, mode 0600)")
	}
	if r.CA && c.Keys.Algorithm == "HS256" {
		p.add("keys.ring.ca: HS256 keys have no certificates; use an asymmetric keys.algorithm")
	}
	if r.RotateEvery < 0 || (r.RotateEvery > 0 && r.RotateEvery < time.Hour) {
		p.add("keys.ring.rotate_every: %s must be 0 (manual rotation only) or at least 1h", r.RotateEvery)
	}
	if r.Prepublish < 0 {
		p.add("keys.ring.prepublish: %s must not be negative", r.Prepublish)
	}
	if r.SyncEvery < time.Second || r.SyncEvery > 10*time.Minute {
		p.add("keys.ring.sync_every: %s must be between 1s and 10m", r.SyncEvery)
	}
}

func (c *Config) validateUsers(p *problems) {
	if len(c.Users.Backends) == 0 {
		p.add("users.backends: name at least one user backend, e.g. [htpasswd]")
	}
	if slices.Contains(c.Users.Backends, "ldap") {
		c.validateLDAP(p)
	}
	for i, name := range c.Users.Backends {
		if slices.Index(c.Users.Backends, name) < i {
			p.add("users.backends[%d]: %q is listed twice", i, name)
		}
	}
	if c.Users.Htpasswd == "" && slices.Contains(c.Users.Backends, "htpasswd") {
		p.add("users.htpasswd: required")
	}
	if c.Users.CacheTTL < 0 {
		p.add("users.cache_ttl: %s must not be negative (0 disables the cache)", c.Users.CacheTTL)
	}
	if c.Users.AccountCacheTTL < 0 || c.Users.AccountCacheTTL > time.Minute {
		p.add("users.account_cache_ttl: %s must be between 0 and 1m", c.Users.AccountCacheTTL)
	}
	if c.Users.BcryptCost < MinBcryptCost || c.Users.BcryptCost > MaxBcryptCost {
		p.add("users.bcrypt_cost: %d must be between %d and %d", c.Users.BcryptCost, MinBcryptCost, MaxBcryptCost)
	}
	for i, name := range c.Users.Admins {
		if strings.TrimSpace(name) != name || name == "" || strings.Contains(name, ":") {
			p.add("users.admins[%d]: %q is not a user name", i, name)
		}
	}
}

func (c *Config) validateAPITokens(p *problems) {
	t := c.APITokens
	if t.MaxPerUser < 1 {
		p.add("api_tokens.max_per_user: %d must be at least 1", t.MaxPerUser)
	}
	if t.DefaultTTLDays < 1 {
		p.add("api_tokens.default_ttl_days: %d must be at least 1", t.DefaultTTLDays)
	}
	if t.MaxTTLDays < 1 {
		p.add("api_tokens.max_ttl_days: %d must be at least 1", t.MaxTTLDays)
	} else if t.DefaultTTLDays > t.MaxTTLDays {
		p.add("api_tokens.default_ttl_days: %d exceeds api_tokens.max_ttl_days (%d)", t.DefaultTTLDays, t.MaxTTLDays)
	}
	roles := make([]string, 0, len(t.MaxTTLDaysByRole))
	for role := range t.MaxTTLDaysByRole {
		roles = append(roles, role)
	}
	slices.Sort(roles) // the same order every run
	for _, role := range roles {
		key, days := "api_tokens.max_ttl_days_by_role."+role, t.MaxTTLDaysByRole[role]
		switch {
		case !authz.ValidRole(role):
			p.add("%s: unknown role %q (want read, write or admin)", key, role)
		case days < 1:
			p.add("%s: %d must be at least 1", key, days)
		case t.MaxTTLDays >= 1 && days > t.MaxTTLDays:
			p.add("%s: %d exceeds api_tokens.max_ttl_days (%d)", key, days, t.MaxTTLDays)
		}
	}
}

func (c *Config) validateEngine(p *problems) {
	e := c.Engine
	p.oneOf("engine.signing", e.Signing, engineSigns)
	if e.Expiration <= 0 || e.Expiration > maxTokenTTL {
		p.add("engine.expiration: %s must be between 1s and %s", e.Expiration, maxTokenTTL)
	}
	if e.Audience != strings.TrimSpace(e.Audience) {
		p.add("engine.audience: %q has surrounding spaces", e.Audience)
	}
	if e.RefreshExpiration < 0 { // 0 (a Config built in code) means the default, 720h
		p.add("engine.refresh_expiration: %s must be positive", e.RefreshExpiration)
	}
	seen := map[string]bool{}
	for i, id := range e.PublicClients {
		switch {
		case id == "" || client.CheckID(id) != nil: // the rule the token endpoints apply
			p.add("engine.public_clients[%d]: %q must be 1 to %d printable ASCII characters (RFC 6749 Appendix A.1)", i, id, client.MaxIDLen)
		case seen[id]:
			p.add("engine.public_clients[%d]: %q is listed twice", i, id)
		}
		seen[id] = true
	}
	if e.Signing == "keys" && e.HMACSecretFile != "" {
		p.add("engine.hmac_secret_file: set, but engine.signing is keys (tokens are signed with keys.private_key)")
	}
	if !e.Enabled {
		return
	}
	if e.Issuer == "" {
		p.add("engine.issuer: required when engine.enabled; it must equal the issuer the services expect")
	}
	if e.Signing == "hmac" && e.HMACSecretFile == "" {
		p.add("engine.hmac_secret_file: required when engine.signing is hmac (a file of at least 32 bytes, mode 0600)")
	}
	if e.Signing == "keys" && e.Issuer == c.Token.Issuer && e.Issuer != "" {
		p.add("engine.issuer: %q equals token.issuer; with engine.signing keys they must differ, so that registry tokens and engine tokens cannot be taken for each other", e.Issuer)
	}
}

func (c *Config) validateStore(p *problems) {
	p.oneOf("store.type", c.Store.Type, storeTypes)
	if c.Store.Type == "sqlite" && c.Store.Path == "" {
		p.add("store.path: required for the sqlite store")
	}
	if c.Store.Type == "postgres" && c.Store.DSN == "" {
		p.add("store.dsn: required for the postgres store")
	}
}

func (c *Config) validateLog(p *problems) {
	p.oneOf("log.level", c.Log.Level, logLevels)
	p.oneOf("log.format", c.Log.Format, logFormats)
}

// problems collects validation messages.
type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

func (p *problems) oneOf(key, value string, allowed []string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	p.add("%s: %q is not one of %s", key, value, strings.Join(allowed, ", "))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// ValidationError lists every problem Validate found.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return ErrInvalid.Error() + ":\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Problems returns the individual messages of a Validate error, or nil.
func Problems(err error) []string {
	var v *ValidationError
	if !errors.As(err, &v) {
		return nil
	}
	return v.Problems
}

// loopbackAddr reports whether hostPort names a loopback IP or localhost.
func loopbackAddr(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
