package verify

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT "alg" values this package verifies (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgES384 = "ES384"
	AlgEdDSA = "EdDSA"
)

// DefaultLeeway is the clock skew allowed on exp and nbf when
// [Options.Leeway] is zero; distribution's registry allows the same.
const DefaultLeeway = 60 * time.Second

// minHMACSecret is the shortest HS256 secret accepted: RFC 7518 §3.2 requires
// a key at least as long as the hash output.
const minHMACSecret = 32

// Options configure a [Verifier]. Exactly one of HMACSecret, PublicKeys,
// JWKS and JWKSURL must be set.
type Options struct {
	// Issuer is the required "iss" (Tollgate's token.issuer).
	Issuer string
	// Audience must be one of the token's "aud" values: the name this
	// service is known by (the "service" tokens are requested for).
	Audience string
	// AnyAudience accepts any "aud" instead of requiring Audience. It is
	// for inspection tools such as `tollgate token inspect`; a service must
	// never set it, or it accepts tokens minted for other services.
	AnyAudience bool

	// HMACSecret verifies HS256 tokens (at least 32 bytes).
	HMACSecret []byte
	// PublicKeys maps kid to an *rsa.PublicKey, *ecdsa.PublicKey (P-256 or
	// P-384) or ed25519.PublicKey. A token without kid is tried against the
	// only key when there is exactly one.
	PublicKeys map[string]crypto.PublicKey
	// JWKS is a JWK Set (RFC 7517) held in memory: the keys of an issuer
	// whose set cannot be fetched (an air-gapped site, a file on disk).
	JWKS []byte
	// JWKSURL is fetched for the keys: a JWK Set (RFC 7517); see
	// [Verifier] for caching and refresh.
	JWKSURL string
	// HTTPClient fetches JWKSURL; nil means a client with a 10 s timeout.
	HTTPClient *http.Client

	// Algorithms is the allow-list of "alg" values. Empty means HS256 when
	// HMACSecret is set, otherwise RS256, ES256, ES384 and EdDSA. "none" is
	// never accepted, nor HS256 without HMACSecret.
	Algorithms []string
	// Leeway is the clock skew allowed on exp and nbf. Zero means
	// DefaultLeeway; a negative value means none.
	Leeway time.Duration
	// Realm is the realm of the Middleware's WWW-Authenticate challenge;
	// empty means Audience.
	Realm string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var problems []string
	sources := 0
	if len(o.HMACSecret) > 0 {
		sources++
		if len(o.HMACSecret) < minHMACSecret {
			problems = append(problems, fmt.Sprintf("HMACSecret: %d bytes, want at least %d (RFC 7518 §3.2)", len(o.HMACSecret), minHMACSecret))
		}
	}
	if len(o.PublicKeys) > 0 {
		sources++
		for kid, pub := range o.PublicKeys {
			if _, err := keyKind(pub); err != nil {
				problems = append(problems, fmt.Sprintf("PublicKeys[%q]: %v", kid, err))
			}
		}
	}
	if len(o.JWKS) > 0 {
		sources++
		if _, err := parseJWKS(o.JWKS); err != nil {
			problems = append(problems, fmt.Sprintf("JWKS: %v", err))
		}
	}
	if o.JWKSURL != "" {
		sources++
		if !strings.HasPrefix(o.JWKSURL, "https://") && !strings.HasPrefix(o.JWKSURL, "http://") {
			problems = append(problems, fmt.Sprintf("JWKSURL: %q is not an http(s) URL", o.JWKSURL))
		}
	}
	if sources != 1 {
		problems = append(problems, fmt.Sprintf("exactly one of HMACSecret, PublicKeys, JWKS and JWKSURL must be set (%d are)", sources))
	}
	if o.Issuer == "" {
		problems = append(problems, "Issuer is required")
	}
	if o.Audience == "" && !o.AnyAudience {
		problems = append(problems, "Audience is required")
	}
	hmac := len(o.HMACSecret) > 0
	for _, alg := range o.Algorithms {
		switch alg {
		case AlgHS256:
			if !hmac {
				problems = append(problems, "Algorithms: HS256 needs HMACSecret")
			}
		case AlgRS256, AlgES256, AlgES384, AlgEdDSA:
			if hmac {
				problems = append(problems, fmt.Sprintf("Algorithms: %s cannot be verified with HMACSecret", alg))
			}
		default:
			problems = append(problems, fmt.Sprintf("Algorithms: %q is not supported", alg))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrOptions, strings.Join(problems, "; "))
	}
	return nil
}

// Verifier verifies tokens. It is safe for concurrent use.
//
// In JWKS mode the key set is fetched on first use and cached. It is fetched
// again when it is older than its Cache-Control max-age (bounded to between
// 1 minute and 24 hours; 15 minutes without one), and when a token names an
// unknown kid, but at most once every 30 seconds whatever the reason, so a
// flood of tokens with made-up kids costs the JWKS server one request;
// concurrent callers share one fetch. A failed fetch keeps the last good key
// set; only while no key set was ever fetched does Verify fail with
// ErrKeysUnavailable.
type Verifier struct {
	issuer      string
	audience    string
	anyAudience bool
	algs        []string
	leeway      time.Duration
	realm       string
	now         func() time.Time
	keys        keySource
	parser      *jwt.Parser
}

// New checks opts and returns a Verifier. It does not fetch a JWKS yet.
func New(opts Options) (*Verifier, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		issuer:      opts.Issuer,
		audience:    opts.Audience,
		anyAudience: opts.AnyAudience,
		algs:        slices.Clone(opts.Algorithms),
		leeway:      opts.Leeway,
		realm:       opts.Realm,
		now:         opts.Now,
		parser:      jwt.NewParser(jwt.WithoutClaimsValidation()),
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.realm == "" {
		v.realm = v.audience
	}
	switch {
	case len(opts.HMACSecret) > 0:
		v.keys = hmacKey(slices.Clone(opts.HMACSecret))
		if len(v.algs) == 0 {
			v.algs = []string{AlgHS256}
		}
	case len(opts.PublicKeys) > 0:
		v.keys = newStaticKeys(opts.PublicKeys)
	case len(opts.JWKS) > 0:
		keys, _ := parseJWKS(opts.JWKS) // checked by Validate
		v.keys = staticKeys(keys)
	default:
		v.keys = newJWKS(opts.JWKSURL, opts.HTTPClient, v.now)
	}
	if len(v.algs) == 0 {
		v.algs = []string{AlgRS256, AlgES256, AlgES384, AlgEdDSA}
	}
	return v, nil
}

// Access is one entry of the Docker "access" claim (distribution jwt.md).
type Access struct {
	Type    string   `json:"type"`
	Class   string   `json:"class,omitempty"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are what a service needs from a verified token.
type Claims struct {
	Issuer    string
	Subject   string // empty for anonymous tokens
	Audience  []string
	ExpiresAt time.Time
	NotBefore time.Time // zero when absent
	IssuedAt  time.Time // zero when absent
	ID        string    // jti
	// Scope is the OAuth2 "scope" claim split at spaces (RFC 8693 §4.2).
	Scope []string
	// Access is the Docker "access" claim.
	Access []Access
	// Identity is who the token was issued to, from Tollgate's private
	// claim "tollgate"; nil in tokens without it (anonymous, or minted by
	// another issuer).
	Identity *Identity
	// KeyID and Algorithm come from the header.
	KeyID     string
	Algorithm string
}

// IdentityClaim is the name of Tollgate's one private claim: an object
// describing the caller a token was issued to, the same in registry tokens
// and Engine API tokens.
const IdentityClaim = "tollgate"

// Kinds of caller ([Identity.Kind]).
const (
	KindUser     = "user"      // a person or service account with a password
	KindAPIToken = "api_token" // an API token of a user, capped by its role
	KindClient   = "client"    // a registered OAuth2 client (client_credentials)
	KindWorkload = "workload"  // a CI job or pod vouched for by a federated issuer
)

// Identity is the "tollgate" claim: who the token was issued to. A service
// should decide on Role as well as on the access or scope a token lists: a
// token minted through a read API token says role "read".
type Identity struct {
	Kind string `json:"kind"`         // KindUser, KindAPIToken, KindClient or KindWorkload
	ID   string `json:"id,omitempty"` // stable: an account's UUID, a client's ID
	Name string `json:"name,omitempty"`
	// Role, when set, caps what the credential may do: read, write or admin.
	Role string `json:"role,omitempty"`
	// Source names the backend that vouched for the caller (htpasswd,
	// api_token, client, ...).
	Source string            `json:"source,omitempty"`
	Groups []string          `json:"groups,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// Claims are, for a workload, the claims of the identity token that
	// vouched for it which decided: its issuer ("iss"), those its trust
	// rule and subject read, and those the ACL reads.
	Claims map[string]string `json:"claims,omitempty"`
	// APIToken names the API token the caller used (its hash prefix).
	APIToken string `json:"api_token,omitempty"`
}

// HasScope reports whether s is one of the token's OAuth2 scopes.
func (c Claims) HasScope(s string) bool { return slices.Contains(c.Scope, s) }

// Allows reports whether the "access" claim grants action on the resource
// typ/name, e.g. Allows("repository", "team/app", "pull").
func (c Claims) Allows(typ, name, action string) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// wireClaims is the JSON form of the claims.
type wireClaims struct {
	jwt.RegisteredClaims
	Access   []Access   `json:"access"`
	Scope    scopeClaim `json:"scope"`
	Identity *Identity  `json:"tollgate,omitempty"`
}

// scopeClaim is a space-separated string (RFC 8693 §4.2); a JSON array of
// strings, which some issuers send, is accepted too.
type scopeClaim []string

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = strings.Fields(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("scope: want a string or an array of strings")
	}
	*s = list
	return nil
}

// Verify checks raw's signature and claims and returns the claims. Errors
// wrap one of this package's sentinels (ErrMalformed, ErrSignature, …).
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	var wc wireClaims
	var keyErr error
	token, err := v.parser.ParseWithClaims(raw, &wc, func(t *jwt.Token) (any, error) {
		key, err := v.key(ctx, t)
		keyErr = err
		return key, err
	})
	if err != nil {
		return Claims{}, classify(err, keyErr)
	}
	if err := v.checkClaims(&wc.RegisteredClaims); err != nil {
		return Claims{}, err
	}
	c := Claims{
		Issuer:    wc.Issuer,
		Subject:   wc.Subject,
		Audience:  wc.Audience,
		ExpiresAt: wc.ExpiresAt.Time,
		ID:        wc.ID,
		Scope:     wc.Scope,
		Access:    wc.Access,
		Identity:  wc.Identity,
		Algorithm: token.Method.Alg(),
	}
	if wc.NotBefore != nil {
		c.NotBefore = wc.NotBefore.Time
	}
	if wc.IssuedAt != nil {
		c.IssuedAt = wc.IssuedAt.Time
	}
	c.KeyID, _ = token.Header["kid"].(string)
	return c, nil
}

// key finds the verification key for t: the alg must be allowed and fit the
// type of the key its kid names.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !slices.Contains(v.algs, alg) {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
	}
	kid := ""
	if k, ok := t.Header["kid"]; ok {
		s, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%w: kid is not a string", ErrMalformed)
		}
		kid = s
	}
	k, err := v.keys.lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	if k.alg != "" && k.alg != alg {
		return nil, fmt.Errorf("%w: key %q is for %s, token says %s", ErrAlgorithm, kid, k.alg, alg)
	}
	if !kindFits(k.kind, alg) {
		return nil, fmt.Errorf("%w: key %q is %s, token says %s", ErrAlgorithm, kid, k.kind, alg)
	}
	return k.key, nil
}

// classify maps a golang-jwt error to this package's sentinels. keyErr is
// what the key lookup returned; it already wraps one of ours.
func classify(err, keyErr error) error {
	if keyErr != nil {
		return fmt.Errorf("verify: %w", keyErr)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("verify: %w: %v", ErrMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("verify: %w", ErrSignature)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Only an alg golang-jwt does not know gets here.
		return fmt.Errorf("verify: %w: %v", ErrAlgorithm, err)
	}
	return fmt.Errorf("verify: %w: %v", ErrMalformed, err)
}

// checkClaims checks exp (required), nbf, iss and aud (RFC 7519 §4.1).
func (v *Verifier) checkClaims(c *jwt.RegisteredClaims) error {
	now := v.now()
	if c.ExpiresAt == nil {
		return fmt.Errorf("verify: %w: no exp", ErrMalformed)
	}
	if !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return fmt.Errorf("verify: %w: at %s", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if c.NotBefore != nil && now.Add(v.leeway).Before(c.NotBefore.Time) {
		return fmt.Errorf("verify: %w: until %s", ErrNotYetValid, c.NotBefore.UTC().Format(time.RFC3339))
	}
	if c.Issuer != v.issuer {
		return fmt.Errorf("verify: %w: %q, want %q", ErrIssuer, c.Issuer, v.issuer)
	}
	if !v.anyAudience && !slices.Contains(c.Audience, v.audience) {
		return fmt.Errorf("verify: %w: %q, want %q", ErrAudience, []string(c.Audience), v.audience)
	}
	return nil
}
