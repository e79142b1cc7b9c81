package engine

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
)

// Source is the Identity.Source of callers that present an engine token.
const Source = "engine_token"

// ErrInvalidToken means a bearer token is not an engine access token we
// issued and that is still good: bad signature, other issuer or audience,
// expired, not yet valid, or malformed. It is the caller's error (RFC 6750
// §3.1 invalid_token), never an internal one.
var ErrInvalidToken = errors.New("engine: invalid, expired or foreign access token")

// Key signs and verifies engine tokens. *keys.Key implements it, for an
// HS256 secret as for the registry signing key; so does *keys.Holder, the
// rotating key ring, which also implements KeyResolver.
type Key interface {
	Sign(claims jwt.Claims) (string, error)
	Algorithm() string
	VerificationKey() any
}

// KeyResolver finds the verification key of a token by its kid: a key ring
// verifies tokens of pending, active and retired keys.
type KeyResolver interface {
	VerificationKeyFor(kid string) (any, error)
}

// Claims are the claims of an engine access token.
type Claims struct {
	jwt.RegisteredClaims
	// Scope is the space-separated granted scope (RFC 8693 §4.2 "scope"),
	// possibly empty but always present: registry tokens have none, which
	// keeps them from being taken for engine tokens.
	Scope *string `json:"scope"`
	// Username is the account's name; sub is its ID (a UUID), which
	// Anchore's services look accounts up by.
	Username string `json:"username,omitempty"`
	// Role, when the token was issued to an API token, is its role: an
	// engine token never carries more than the credential it came from.
	Role string `json:"role,omitempty"`
	// APIToken names the API token it was issued to (its hash prefix): the
	// engine token is refused where Tollgate checks it once that API token
	// is revoked.
	APIToken string `json:"api_token,omitempty"`
	// ClientID (RFC 9068 §2.2) and GrantType ("gty") mark a token of the
	// client_credentials grant, whose sub is a client: Verify refuses it.
	ClientID  string `json:"client_id,omitempty"`
	GrantType string `json:"gty,omitempty"`
}

// Token is a minted engine token and its lifetime.
type Token struct {
	Raw       string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Tokens mints and verifies engine tokens.
type Tokens struct {
	Issuer   string
	Audience string // optional aud
	TTL      time.Duration
	Key      Key
	Now      func() time.Time // nil means time.Now
}

// verifyLeeway is the clock skew Verify allows: between replicas, and for
// a token issued at its account's NotBefore, up to a second ahead.
const verifyLeeway = 5 * time.Second

// ErrNoAccount: the identity has no account ID to put in sub (the store
// was away when it logged in). It is store.ErrUnavailable: try again later.
var ErrNoAccount = fmt.Errorf("engine: the account is not known: %w", store.ErrUnavailable)

// Mint signs a token for id with the given scopes: sub is the account ID,
// username the name.
func (t *Tokens) Mint(id authn.Identity, scopes []string) (Token, error) {
	if id.Anonymous() {
		return Token{}, errors.New("engine: no token for the anonymous caller")
	}
	if id.AccountID == "" {
		return Token{}, ErrNoAccount
	}
	now := t.now().Truncate(time.Second)
	if now.Before(id.NotBefore) { // minted in the second of a revoke-tokens: not older than it
		now = id.NotBefore
	}
	jti, err := newID()
	if err != nil {
		return Token{}, err
	}
	scope := strings.Join(scopes, " ")
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.Issuer,
			Subject:   id.AccountID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.TTL)),
			ID:        jti,
		},
		Scope:    &scope,
		Username: id.Name,
		Role:     id.Role,
		APIToken: id.TokenID,
	}
	if t.Audience != "" {
		claims.Audience = jwt.ClaimStrings{t.Audience}
	}
	raw, err := t.Key.Sign(claims)
	if err != nil {
		return Token{}, fmt.Errorf("engine: sign token: %w", err)
	}
	return Token{Raw: raw, IssuedAt: now, ExpiresAt: now.Add(t.TTL)}, nil
}

// Verified is a verified engine token of an account.
type Verified struct {
	Identity authn.Identity // Name, AccountID, Role, TokenID from the claims
	Claims   Claims
}

// IssuedAt is the token's iat.
func (v Verified) IssuedAt() time.Time { return v.Claims.IssuedAt.Time }

// Verify checks an engine token's signature (only with the key's own
// algorithm), issuer, audience (when configured), nbf and exp, and returns
// who it was issued to. A client's token (client_credentials) is not an
// account's and is refused here. Every failure wraps ErrInvalidToken.
func (t *Tokens) Verify(raw string) (Verified, error) {
	c, err := t.VerifyAny(raw)
	if err != nil {
		return Verified{}, err
	}
	return AccountToken(c)
}

// AccountToken reads the claims of a verified engine token (VerifyAny) as
// an account's token. A client's token, or one without a username (signed
// before sub held the account ID), wraps ErrInvalidToken.
func AccountToken(c Claims) (Verified, error) {
	if c.GrantType == GrantClientCredentials {
		return Verified{}, fmt.Errorf("%w: a client's token, not an account's", ErrInvalidToken)
	}
	if c.Username == "" {
		return Verified{}, fmt.Errorf("%w: no username claim", ErrInvalidToken)
	}
	id := authn.Identity{Name: c.Username, Source: Source, AccountID: c.Subject, Role: c.Role, TokenID: c.APIToken}
	return Verified{Identity: id, Claims: c}, nil
}

// VerifyAny checks an engine token as Verify does, the tokens of clients
// included, and returns its claims.
func (t *Tokens) VerifyAny(raw string) (Claims, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{t.Key.Algorithm()}),
		jwt.WithIssuer(t.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
		jwt.WithLeeway(verifyLeeway),
	}
	if t.Audience != "" {
		opts = append(opts, jwt.WithAudience(t.Audience))
	}
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, t.verificationKey, opts...)
	if err != nil {
		// jwt's messages name the failed check, never the token.
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.Scope == nil || c.NotBefore == nil || c.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: not an engine token (sub, scope, iat and nbf are required)", ErrInvalidToken)
	}
	return c, nil
}

// verificationKey picks the key for tok: by kid from a key ring, else the
// one key.
func (t *Tokens) verificationKey(tok *jwt.Token) (any, error) {
	if r, ok := t.Key.(KeyResolver); ok {
		kid, _ := tok.Header["kid"].(string)
		return r.VerificationKeyFor(kid)
	}
	return t.Key.VerificationKey(), nil
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// newID returns 128 random bits, base64url: a JWT ID.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("engine: token id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
