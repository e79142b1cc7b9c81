package token

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/scope"
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
}

// Signer signs claims into a compact JWT. The key ring implements it.
type Signer interface {
	Sign(claims jwt.Claims) (string, error)
}

// Grant is what the token says: who may do what, where.
type Grant struct {
	Subject  string        // account name; empty for anonymous
	Audience string        // the service (registry) the token is for
	Access   []scope.Scope // granted access; empty for a login check
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

// Minter turns grants into signed tokens.
type Minter struct {
	Issuer string
	TTL    time.Duration
	Signer Signer
	Now    func() time.Time // nil means time.Now
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
	jti, err := newID()
	if err != nil {
		return Token{}, err
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.Issuer,
			Subject:   g.Subject,
			IssuedAt:  jwt.NewNumericDate(iat),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(m.TTL)),
			ID:        jti,
		},
		Access: accessClaim(g.Access),
	}
	if g.Audience != "" {
		claims.Audience = jwt.ClaimStrings{g.Audience}
	}
	raw, err := m.Signer.Sign(claims)
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	return Token{Raw: raw, IssuedAt: now, ExpiresAt: now.Add(m.TTL)}, nil
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

// newID returns 128 random bits, base64url: a JWT ID.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
