package token

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/verify"
)

// Access is one entry of the "access" claim (distribution jwt.md).
type Access struct {
	Type    string   `json:"type"`
	Class   string   `json:"class,omitempty"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are the claims of a registry token.
type Claims struct {
	jwt.RegisteredClaims
	Access []Access `json:"access"`
	// Identity is Tollgate's private claim (verify.IdentityClaim): who the
	// token was issued to; absent for the anonymous caller.
	Identity *verify.Identity `json:"tollgate,omitempty"`
}

// EngineClaims are the claims of an Engine API access token.
type EngineClaims struct {
	jwt.RegisteredClaims
	// Scope is the space-separated granted scope (RFC 8693 §4.2 "scope"),
	// possibly empty but always present: registry tokens have none, which
	// keeps them from being taken for engine tokens.
	Scope *string `json:"scope"`
	// Username is the account's name; sub is its ID (a UUID), which
	// Anchore's services look accounts up by.
	Username string `json:"username,omitempty"`
	// ClientID (RFC 9068 §2.2) and GrantType ("gty") mark a token of the
	// client_credentials grant, whose sub is a client.
	ClientID  string `json:"client_id,omitempty"`
	GrantType string `json:"gty,omitempty"`
	// Identity is Tollgate's private claim, as in registry tokens.
	Identity *verify.Identity `json:"tollgate,omitempty"`
	// Role and APIToken are what tokens minted before the identity claim
	// said of an API token; they are read, never written.
	Role     string `json:"role,omitempty"`
	APIToken string `json:"api_token,omitempty"`
}

// GrantClientCredentials is the "gty" claim of a client_credentials token
// (the name Auth0 gives it): its sub is a client, not an account.
const GrantClientCredentials = "client-credentials"

// Signer signs claims into a compact JWT. The key ring implements it.
type Signer interface {
	Sign(claims jwt.Claims) (string, error)
}

// Profile is the claim set a Minter writes: a dialect's tokens.
type Profile uint8

// Profiles.
const (
	// Registry tokens (distribution jwt.md): sub is the account name,
	// access the granted repository scopes.
	Registry Profile = iota
	// Engine tokens (Anchore Engine's OAuth2 API): sub is the account ID
	// (a client's name for a client), scope the granted OAuth2 scopes.
	Engine
)

// Grant is what the token says: who may do what, where.
type Grant struct {
	Subject  string   // account name; empty for anonymous
	Audience []string // the services (registries) the token is for
	Access   []scope.Scope
	Scope    []string // OAuth2 scopes (Engine profile)
	// Identity is the caller the token is issued to (authn.Identity.Claim).
	Identity *verify.Identity
	// NotBefore is the subject's last revoke-tokens (authn.Identity's): a
	// token minted in the very second of one says iat = NotBefore, so that
	// it is not taken for one issued before. nbf stays the minting time.
	NotBefore time.Time
}

// Token is a minted token and its lifetime.
type Token struct {
	Raw       string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Minter turns grants into signed tokens of one profile.
type Minter struct {
	Profile Profile
	Issuer  string
	TTL     time.Duration
	Signer  Signer
	Now     func() time.Time // nil means time.Now
}

// Mint signs a token for the grant (distribution token.md: Token Response
// Fields; jwt.md: the claim set).
func (m *Minter) Mint(g Grant) (Token, error) {
	now := m.now().Truncate(time.Second)
	// iat has whole seconds: a token minted in the second of a
	// revoke-tokens says it was issued at its end. Only iat moves, never
	// nbf (distribution ignores iat; nbf must not lie in the future).
	iat := now
	if iat.Before(g.NotBefore) {
		iat = g.NotBefore
	}
	jti, err := NewID()
	if err != nil {
		return Token{}, err
	}
	rc := jwt.RegisteredClaims{
		Issuer:    m.Issuer,
		Subject:   g.Subject,
		IssuedAt:  jwt.NewNumericDate(iat),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(m.TTL)),
		ID:        jti,
	}
	if len(g.Audience) > 0 {
		rc.Audience = jwt.ClaimStrings(g.Audience)
	}
	raw, err := m.Signer.Sign(m.Profile.claims(rc, g))
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	return Token{Raw: raw, IssuedAt: now, ExpiresAt: now.Add(m.TTL)}, nil
}

// claims is the profile's claim set around the registered claims.
func (p Profile) claims(rc jwt.RegisteredClaims, g Grant) jwt.Claims {
	if p == Registry {
		return Claims{RegisteredClaims: rc, Access: accessClaim(g.Access), Identity: g.Identity}
	}
	sc := strings.Join(g.Scope, " ")
	if g.Identity != nil {
		rc.Subject = g.Identity.ID // an account's ID, a client's name
	}
	c := EngineClaims{RegisteredClaims: rc, Scope: &sc, Identity: g.Identity}
	if g.Identity != nil && g.Identity.Kind == verify.KindClient {
		c.ClientID, c.GrantType = g.Identity.ID, GrantClientCredentials
	} else if g.Identity != nil {
		c.Username = g.Identity.Name
	}
	return c
}

func (m *Minter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// accessClaim converts granted scopes; it is never nil, so a login check
// carries "access": [].
func accessClaim(granted []scope.Scope) []Access {
	out := make([]Access, 0, len(granted))
	for _, s := range granted {
		out = append(out, Access{Type: s.Type, Class: s.Class, Name: s.Name, Actions: s.Actions})
	}
	return out
}

// NewID returns 128 random bits, base64url: a JWT ID, or a refresh family's.
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
