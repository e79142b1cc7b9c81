package oidc

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/tollgate/tollgate/pkg/authn"
)

// ProviderConfig is one OpenID Provider of the UI (an entry of ui.oidc),
// where Tollgate is registered as a confidential client.
type ProviderConfig struct {
	// Name names the provider in the UI ("Sign in with <name>"), in its
	// URLs and in the identities it vouches for (Source "oidc:<name>"):
	// letters, digits, '.', '_' or '-'.
	Name string `mapstructure:"name"`
	// Issuer is the provider's issuer, exactly as its ID tokens name it
	// (https); discovery is at Issuer/.well-known/openid-configuration.
	Issuer   string `mapstructure:"issuer"`
	ClientID string `mapstructure:"client_id"`
	// ClientSecret or ClientSecretFile (whose trailing newline is
	// dropped) is the client's secret at the token endpoint.
	ClientSecret     authn.Secret `mapstructure:"client_secret"`
	ClientSecretFile string       `mapstructure:"client_secret_file"`
	// Scopes are asked for at the authorization endpoint; they must hold
	// openid. Empty means DefaultScopes.
	Scopes []string `mapstructure:"scopes"`
	// UsernameClaim is the ID token claim that names the user; ""
	// means DefaultUsernameClaim. "email" is accepted only when
	// email_verified is true. The name is the Tollgate user's: trust only
	// a provider whose users cannot pick it (a company's Keycloak, Dex or
	// Entra ID tenant), as Core 1.0 §5.7 warns.
	UsernameClaim string `mapstructure:"username_claim"`
	// GroupsClaim holds the user's groups (a list of strings, or one
	// string); "" means DefaultGroupsClaim. A token without it has none.
	GroupsClaim string `mapstructure:"groups_claim"`
	// CAFile is a PEM bundle trusted for the provider's HTTPS besides the
	// system's (an internal Keycloak or Dex).
	CAFile string `mapstructure:"ca_file"`
	// Timeout bounds each request to the provider (discovery, keys,
	// token); 0 means DefaultTimeout.
	Timeout time.Duration `mapstructure:"timeout"`
}

// DefaultScopes are asked for when a configuration lists none.
var DefaultScopes = []string{"openid", "profile", "email", "groups"}

// Defaults and bounds.
const (
	DefaultUsernameClaim = "preferred_username"
	DefaultGroupsClaim   = "groups"
	DefaultTimeout       = 5 * time.Second

	minTimeout = 100 * time.Millisecond
	maxTimeout = time.Minute
	maxName    = 64
)

// withDefaults fills the keys left out.
func (c ProviderConfig) withDefaults() ProviderConfig {
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = DefaultUsernameClaim
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultGroupsClaim
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Check reports every problem of c (config check), each under its key
// within the entry ("issuer: ..."), without touching the network or any
// file.
func (c ProviderConfig) Check() error {
	return errors.Join(c.problems("")...)
}

// CheckAll reports every problem of the ui.oidc entries, each under the
// key the configuration wrote ("ui.oidc[1].issuer: ..."), names listed
// twice among them.
func CheckAll(providers []ProviderConfig) error {
	var errs []error
	for i, c := range providers {
		key := fmt.Sprintf("ui.oidc[%d].", i)
		errs = append(errs, c.problems(key)...)
		if c.Name != "" && slices.ContainsFunc(providers[:i], func(o ProviderConfig) bool { return o.Name == c.Name }) {
			errs = append(errs, fmt.Errorf("%sname: %q is listed twice", key, c.Name))
		}
	}
	return errors.Join(errs...)
}

// problems lists the problems of c, each key after prefix.
func (c ProviderConfig) problems(prefix string) []error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if !validName(c.Name) {
		fail("name", "%q: want 1 to %d letters, digits, '.', '_' or '-'", c.Name, maxName)
	}
	if why := checkIssuer(c.Issuer); why != "" {
		fail("issuer", "%s", why)
	}
	if c.ClientID == "" {
		fail("client_id", "required: the client Tollgate is registered as at the provider")
	}
	switch {
	case c.ClientSecret != "" && c.ClientSecretFile != "":
		fail("client_secret_file", "set client_secret_file or client_secret, not both")
	case c.ClientSecret == "" && c.ClientSecretFile == "":
		fail("client_secret_file", "required (or client_secret): the client's secret at the token endpoint")
	}
	c = c.withDefaults()
	if !slices.Contains(c.Scopes, "openid") {
		fail("scopes", "%q: must hold openid (OpenID Connect Core 1.0 §3.1.2.1)", c.Scopes)
	}
	if slices.ContainsFunc(c.Scopes, func(s string) bool { return s == "" || strings.ContainsFunc(s, spaceOrControl) }) {
		fail("scopes", "%q: a scope is empty or holds white space", c.Scopes)
	}
	for _, kv := range [][2]string{{"username_claim", c.UsernameClaim}, {"groups_claim", c.GroupsClaim}} {
		if strings.ContainsFunc(kv[1], spaceOrControl) {
			fail(kv[0], "%q: white space or control characters in a claim name", kv[1])
		}
	}
	if c.Timeout < minTimeout || c.Timeout > maxTimeout {
		fail("timeout", "%s must be between %s and %s", c.Timeout, minTimeout, maxTimeout)
	}
	return errs
}

// checkIssuer says what is wrong with an issuer, or "": an https URL
// with no query or fragment (OpenID Connect Discovery 1.0 §3).
func checkIssuer(issuer string) string {
	if issuer == "" {
		return "required: the provider's issuer URL (https)"
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q: want an https:// URL with no query or fragment", issuer)
	}
	return ""
}

// validName reports whether name matches ^[A-Za-z0-9._-]{1,64}$.
func validName(name string) bool {
	for _, r := range name {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-", r))) {
			return false
		}
	}
	return name != "" && len(name) <= maxName
}

func spaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
