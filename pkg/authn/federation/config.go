package federation

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/verify"
)

// Config is the federation section of the configuration.
type Config struct {
	// Username is the HTTP Basic user name under which an identity token
	// is accepted as the password (docker login -u oidc); "" means
	// DefaultUsername.
	Username string   `mapstructure:"username"`
	Issuers  []Issuer `mapstructure:"issuers"`
}

// DefaultUsername is Config.Username's default.
const DefaultUsername = "oidc"

// Issuer is the trust policy of one issuer of identity tokens.
type Issuer struct {
	Issuer    string   `mapstructure:"issuer"`    // the tokens' iss, exactly
	Audiences []string `mapstructure:"audiences"` // a token's aud must hold one of these
	// JWKSURL is where the issuer's keys are (https); "" discovers it at
	// the issuer (OpenID Connect Discovery 1.0 §4).
	JWKSURL string `mapstructure:"jwks_url"`
	// JWKSFile is a JWK Set on disk instead (air-gapped sites, a cluster
	// whose issuer is not reachable).
	JWKSFile string `mapstructure:"jwks_file"`
	// CAFile is a PEM bundle trusted for the issuer's HTTPS besides the
	// system's (an internal GitLab).
	CAFile string `mapstructure:"ca_file"`
	// Algorithms are the accepted alg values; empty means DefaultAlgorithms.
	// none and HS* are never accepted: anyone holding a shared secret
	// could mint identity tokens.
	Algorithms []string `mapstructure:"algorithms"`
	// MaxAge refuses tokens whose iat is older (0: exp alone decides).
	MaxAge time.Duration `mapstructure:"max_age"`
	// Timeout bounds each fetch of discovery or keys; 0 means
	// DefaultTimeout.
	Timeout time.Duration `mapstructure:"timeout"`
	Rules   []Rule        `mapstructure:"rules"`
}

// Rule is one trust rule of an issuer: a token whose claims all match
// Claims is the workload that Subject names.
type Rule struct {
	// Claims maps a claim (a top-level name, or a JSON Pointer starting
	// with '/' for a nested one) to a glob, or a list of globs, of the
	// ACL's syntax ('*' also matches '/').
	Claims map[string]any `mapstructure:"claims"`
	// Subject names the workload: text and ${CLAIM} variables, starting
	// with a literal prefix that holds ':' ("ci:github:${repository}").
	Subject string `mapstructure:"subject"`
}

// Defaults.
var (
	DefaultAlgorithms = []string{verify.AlgRS256, verify.AlgES256}
	DefaultTimeout    = 5 * time.Second
)

// Bounds.
const (
	maxTimeout = time.Minute
	minTimeout = 100 * time.Millisecond
)

// supportedAlgorithms are the asymmetric algorithms pkg/verify checks.
var supportedAlgorithms = []string{verify.AlgRS256, verify.AlgES256, verify.AlgES384, verify.AlgEdDSA}

// policy is a compiled Issuer.
type policy struct {
	index     int
	issuer    string
	audiences []string
	algs      []string
	maxAge    time.Duration
	timeout   time.Duration
	jwksURL   string
	jwksFile  string
	caFile    string
	rules     []rule
}

// rule is a compiled Rule.
type rule struct {
	name     string // "issuers[0].rules[1]"
	id       string // fingerprint of the issuer and the rule (Attributes.Policy)
	matchers []matcher
	subject  template
}

// matcher is one claim of a rule and its globs.
type matcher struct {
	claim    string
	patterns []authz.Pattern
}

// Check reports every problem of cfg (config check), without touching
// the network or any file.
func Check(cfg Config) error {
	_, err := compile(cfg)
	return err
}

// compile validates cfg and compiles its policies, reporting every problem.
func compile(cfg Config) ([]*policy, error) {
	var c checker
	if cfg.Username != "" && !validUsername(cfg.Username) {
		c.fail("federation.username", "%q: want letters, digits, '.', '_' or '-'", cfg.Username)
	}
	var out []*policy
	for i, is := range cfg.Issuers {
		key := fmt.Sprintf("federation.issuers[%d]", i)
		if slices.IndexFunc(cfg.Issuers[:i], func(o Issuer) bool { return o.Issuer == is.Issuer }) >= 0 {
			c.fail(key+".issuer", "%q is listed twice", is.Issuer)
		}
		out = append(out, c.policy(key, i, is))
	}
	return out, c.err()
}

// checker collects problems.
type checker struct{ problems []string }

func (c *checker) fail(key, format string, args ...any) {
	c.problems = append(c.problems, key+": "+fmt.Sprintf(format, args...))
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return &ConfigError{Problems: c.problems}
}

// ConfigError lists every problem of a Config.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "; ") }

func (c *checker) policy(key string, index int, is Issuer) *policy {
	p := &policy{index: index, issuer: is.Issuer, audiences: is.Audiences, algs: is.Algorithms, maxAge: is.MaxAge,
		timeout: is.Timeout, jwksURL: is.JWKSURL, jwksFile: is.JWKSFile, caFile: is.CAFile}
	c.issuer(key, is)
	if len(is.Audiences) == 0 || slices.Contains(is.Audiences, "") {
		c.fail(key+".audiences", "list the audiences its tokens must name (one at least, none empty)")
	}
	if len(p.algs) == 0 {
		p.algs = DefaultAlgorithms
	}
	for j, alg := range p.algs {
		if !slices.Contains(supportedAlgorithms, alg) {
			c.fail(fmt.Sprintf("%s.algorithms[%d]", key, j), "%q: want %s (never none or HS*)", alg, strings.Join(supportedAlgorithms, ", "))
		}
	}
	if is.MaxAge < 0 {
		c.fail(key+".max_age", "%s must not be negative", is.MaxAge)
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	if p.timeout < minTimeout || p.timeout > maxTimeout {
		c.fail(key+".timeout", "%s must be between %s and %s", p.timeout, minTimeout, maxTimeout)
	}
	if len(is.Rules) == 0 {
		c.fail(key+".rules", "list at least one rule: without one no token of the issuer is accepted")
	}
	for j, r := range is.Rules {
		p.rules = append(p.rules, c.rule(fmt.Sprintf("%s.rules[%d]", key, j), is, r))
	}
	return p
}

// issuer checks the issuer and where its keys are: https everywhere the
// network is used.
func (c *checker) issuer(key string, is Issuer) {
	if is.Issuer == "" {
		c.fail(key+".issuer", "required: the iss of the tokens to trust")
	}
	switch {
	case is.JWKSURL != "" && is.JWKSFile != "":
		c.fail(key, "set jwks_url or jwks_file, not both")
	case is.JWKSURL != "":
		if !isHTTPS(is.JWKSURL) {
			c.fail(key+".jwks_url", "%q: want an https:// URL", is.JWKSURL)
		}
	case is.JWKSFile == "" && !isHTTPS(is.Issuer):
		c.fail(key+".issuer", "%q: discovery needs an https:// issuer; or set jwks_url or jwks_file", is.Issuer)
	}
}

func (c *checker) rule(key string, is Issuer, r Rule) rule {
	out := rule{name: strings.TrimPrefix(key, "federation.")}
	if len(r.Claims) == 0 {
		c.fail(key+".claims", "list the claims a token must have: a rule without any would accept every token of the issuer")
	}
	for _, name := range sortedKeys(r.Claims) {
		m, err := newMatcher(name, r.Claims[name])
		if err != nil {
			c.fail(key+".claims."+name, "%v", err)
		}
		out.matchers = append(out.matchers, m)
	}
	var err error
	if out.subject, err = parseTemplate(r.Subject); err != nil {
		c.fail(key+".subject", "%v", err)
	}
	out.id = fingerprint(is, out)
	return out
}

// newMatcher compiles the glob or globs of claim.
func newMatcher(claim string, value any) (matcher, error) {
	m := matcher{claim: claim}
	if err := checkClaimName(claim); err != nil {
		return m, err
	}
	var globs []string
	switch v := value.(type) {
	case string:
		globs = []string{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return m, fmt.Errorf("want a glob or a list of globs, got %T in the list", e)
			}
			globs = append(globs, s)
		}
	case []string:
		globs = v
	default:
		return m, fmt.Errorf("want a glob or a list of globs, got %T", value)
	}
	if len(globs) == 0 {
		return m, errors.New("an empty list matches nothing")
	}
	for _, g := range globs {
		if g == "" {
			return m, errors.New(`"" is not a glob: write "*" for any value`)
		}
		p, err := authz.CompilePattern(g)
		if err != nil {
			return m, fmt.Errorf("%q: %v", g, err)
		}
		m.patterns = append(m.patterns, p)
	}
	return m, nil
}

// checkClaimName accepts a top-level claim name or a JSON Pointer (RFC
// 6901 §3: '~' only as ~0 or ~1).
func checkClaimName(name string) error {
	switch {
	case name == "" || name == "/":
		return errors.New("a claim name or a JSON Pointer such as /kubernetes.io/namespace")
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return errors.New("white space or control characters in a claim name")
	case !strings.HasPrefix(name, "/"):
		return nil
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '~' && (i+1 == len(name) || (name[i+1] != '0' && name[i+1] != '1')) {
			return fmt.Errorf("%q: '~' must be written ~0, and '/' within a name ~1 (RFC 6901)", name)
		}
	}
	return nil
}

// fingerprint names the issuer's policy and the rule, so that a refresh
// token issued under them ends when either changes: the issuer, where its
// keys are, its audiences, algorithms and max_age, the rule's claims and
// subject.
func fingerprint(is Issuer, r rule) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %q %q %s", is.Issuer, is.JWKSURL, is.JWKSFile, is.CAFile, is.Audiences, is.MaxAge)
	algs := is.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	fmt.Fprintf(h, " %q", algs)
	for _, m := range r.matchers {
		h.Write([]byte{0})
		h.Write([]byte(m.claim))
		for _, p := range m.patterns {
			h.Write([]byte{1})
			h.Write([]byte(p.String()))
		}
	}
	h.Write([]byte{0, 0})
	h.Write([]byte(r.subject.text))
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func isHTTPS(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// validUsername reports whether name matches ^[A-Za-z0-9._-]+$.
func validUsername(name string) bool {
	for _, r := range name {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-", r))) {
			return false
		}
	}
	return name != ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
