package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/token"
)

// Source is the Identity.Source of callers that present an engine token.
const Source = "engine_token"

// ErrInvalidToken means a bearer token is not an engine access token we
// issued and that is still good: bad signature, other issuer or audience,
// expired, not yet valid, or malformed. It is the caller's error (RFC 6750
// §3.1 invalid_token), never an internal one.
var ErrInvalidToken = errors.New("engine: invalid, expired or foreign access token")

// ErrNoAccount: the identity has no account ID to put in sub (the store
// was away when it logged in). It is store.ErrUnavailable: try again later.
var ErrNoAccount = refresh.ErrNoAccount

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
type Claims = token.EngineClaims

// GrantClientCredentials is the "gty" claim of a client's token: Verify
// refuses it, its sub is a client, not an account.
const GrantClientCredentials = token.GrantClientCredentials

// Token is a minted engine token and its lifetime.
type Token = token.Token

// Tokens are the engine tokens of one configuration: who issues them, for
// which audience, for how long, with which key. The grant pipeline mints
// them (Minter); Verify checks them.
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

// Minter mints engine tokens: the Engine claims profile of pkg/token.
func (t *Tokens) Minter() *token.Minter {
	return &token.Minter{Profile: token.Engine, Issuer: t.Issuer, TTL: t.TTL, Signer: t.Key, Now: t.Now}
}

// Mint signs a token for the account id with the given scopes: sub is the
// account ID, username the name.
func (t *Tokens) Mint(id authn.Identity, scopes []string) (Token, error) {
	if id.Anonymous() {
		return Token{}, errors.New("engine: no token for the anonymous caller")
	}
	if id.AccountID == "" {
		return Token{}, ErrNoAccount
	}
	var aud []string
	if t.Audience != "" {
		aud = []string{t.Audience}
	}
	return t.Minter().Mint(token.Grant{Subject: id.Name, Audience: aud, Scope: scopes, Identity: id.Claim(),
		NotBefore: id.NotBefore})
}

// Verified is a verified engine token of an account.
type Verified struct {
	Identity authn.Identity // from the claims
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
// an account's token. A client's or a workload's token, or one without a
// username (signed before sub held the account ID), wraps ErrInvalidToken.
func AccountToken(c Claims) (Verified, error) {
	if c.GrantType == GrantClientCredentials {
		return Verified{}, fmt.Errorf("%w: a client's token, not an account's", ErrInvalidToken)
	}
	if c.Identity != nil && c.Identity.Kind == authn.KindWorkload {
		return Verified{}, fmt.Errorf("%w: a workload's token, not an account's", ErrInvalidToken)
	}
	if c.Username == "" {
		return Verified{}, fmt.Errorf("%w: no username claim", ErrInvalidToken)
	}
	return Verified{Identity: claimedIdentity(c), Claims: c}, nil
}

// claimedIdentity is the identity an account's token names: from the
// identity claim, or from the claims tokens minted before it carried.
func claimedIdentity(c Claims) authn.Identity {
	id := authn.Identity{Kind: authn.KindUser, Name: c.Username, Source: Source, AccountID: c.Subject,
		Role: c.Role, TokenID: c.APIToken}
	if ic := c.Identity; ic != nil {
		id.Kind, id.Role, id.TokenID = ic.Kind, ic.Role, ic.APIToken
		if len(ic.Groups) > 0 || len(ic.Labels) > 0 {
			id.Attrs = &authn.Attributes{Groups: ic.Groups, Labels: ic.Labels}
		}
	}
	return id
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

// Bearer authenticates a Bearer credential of the account calls (RFC 6750
// §2.1) for the pipeline's authentication sequence: an API token (through
// APITokens, as apitoken.Username), else an engine access token
// (Service.Verify). One that does not verify, or whose account or API
// token has ended, is a failed login charged to the address alone; a
// disabled account is denied.
type Bearer struct {
	Service   *Service
	APITokens authn.Authenticator
}

// Authenticate implements grant.Handler: req.Password holds the token.
func (b Bearer) Authenticate(ctx context.Context, req *grant.Request) (authn.Identity, error) {
	req.Username = ""
	var id authn.Identity
	var err error
	if raw := string(req.Password); apitoken.LooksLike(raw) {
		id, err = b.APITokens.Authenticate(ctx, apitoken.Username, req.Password)
	} else {
		id, err = b.Service.Verify(ctx, raw)
	}
	if errors.Is(err, ErrInvalidToken) {
		err = fmt.Errorf("%w: %w", authn.ErrBadCredentials, err)
	}
	return id, grant.Credentials(err, "invalid, expired or revoked access token")
}
