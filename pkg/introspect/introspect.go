package introspect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
)

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	HintAccessToken  = "access_token"
	HintRefreshToken = "refresh_token"
)

// Token types of an active Result: access tokens are "Bearer" (RFC 7662
// §2.2 refers to RFC 6749 §5.1); refresh tokens, which have no such type,
// are "refresh_token".
const (
	TypeBearer  = "Bearer"
	TypeRefresh = "refresh_token"
)

// ErrUnsupportedTokenType is Revoke's answer to an access token named as
// such by the hint: JWTs cannot be revoked, they expire (RFC 7009 §2.2.1
// unsupported_token_type).
var ErrUnsupportedTokenType = errors.New("introspect: access tokens cannot be revoked; they expire")

// KeyLookup returns the verification key of the registry signing key with
// that kid and its algorithm; ok is false for an unknown kid. The key ring
// provides it (keys.Ring.Lookup).
type KeyLookup func(kid string) (alg string, key any, ok bool)

// Service introspects and revokes. Every part is optional: a kind of token
// without its part is unknown, hence inactive.
type Service struct {
	Admins   []string        // users.admins: they may see and revoke any token
	Docker   *refresh.Tokens // Docker identity tokens
	Engine   *engine.Service // engine access and refresh tokens
	Registry KeyLookup       // registry access tokens
	Issuer   string          // token.issuer: the iss of registry tokens
	Users    authn.Lookup    // a token of a user since removed is inactive
	Now      func() time.Time
}

// Result is an introspection answer (RFC 7662 §2.2). Only Active is
// meaningful when it is false.
type Result struct {
	Active    bool
	Subject   string
	Issuer    string
	Audience  []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Scope     *string // nil: the token has no scope
	ClientID  string
	TokenType string
}

// IsAdmin reports whether caller may see and revoke every token: an admin
// with its password, or with an API token of the admin role.
func (s *Service) IsAdmin(caller authn.Identity) bool {
	return slices.Contains(s.Admins, caller.Name) && (caller.Role == "" || caller.Role == authz.RoleAdmin)
}

// Introspect describes raw for caller. Anything invalid, expired, revoked,
// unknown, or someone else's (for a non-admin) is inactive: the answer
// never tells these apart. Only store failures are errors.
func (s *Service) Introspect(ctx context.Context, caller authn.Identity, raw, hint string) (Result, error) {
	res, err := s.lookup(ctx, raw, hint)
	if err != nil || !res.Active {
		return Result{}, err
	}
	if res.Subject != caller.Name && !s.IsAdmin(caller) {
		return Result{}, nil
	}
	if s.Users != nil && res.Subject != "" {
		ok, err := s.Users.Exists(ctx, res.Subject)
		if err != nil {
			return Result{}, err
		}
		if !ok {
			return Result{}, nil
		}
	}
	return res, nil
}

func (s *Service) lookup(ctx context.Context, raw, hint string) (Result, error) {
	switch {
	case raw == "":
		return Result{}, nil
	case engine.LooksLikeRefresh(raw):
		return s.engineRefresh(ctx, raw)
	case strings.HasPrefix(raw, refresh.Prefix):
		return s.dockerRefresh(ctx, raw)
	}
	if res, ok := s.engineAccess(ctx, raw); ok {
		return res, nil
	}
	if res, ok := s.registryAccess(raw); ok {
		return res, nil
	}
	return Result{}, nil
}

func (s *Service) engineRefresh(ctx context.Context, raw string) (Result, error) {
	if s.Engine == nil || s.Engine.Refresh == nil {
		return Result{}, nil
	}
	rec, err := s.Engine.Refresh.Lookup(ctx, raw)
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, nil
	}
	if err != nil || !rec.Usable(s.now()) {
		return Result{}, err
	}
	res := Result{Active: true, Subject: rec.Subject, Issuer: s.Engine.Tokens.Issuer, IssuedAt: rec.CreatedAt,
		ExpiresAt: rec.ExpiresAt, ClientID: rec.ClientID, TokenType: TypeRefresh}
	if aud := s.Engine.Tokens.Audience; aud != "" {
		res.Audience = []string{aud}
	}
	return res, nil
}

func (s *Service) dockerRefresh(ctx context.Context, raw string) (Result, error) {
	if s.Docker == nil {
		return Result{}, nil
	}
	rec, err := s.Docker.Redeem(ctx, raw)
	if errors.Is(err, refresh.ErrInvalid) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Active: true, Subject: rec.Subject, Issuer: s.Issuer, Audience: []string{rec.Service},
		IssuedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt, ClientID: rec.ClientID, TokenType: TypeRefresh}, nil
}

// engineAccess verifies raw as an engine access token (engine.Tokens.Verify:
// signature, issuer, audience, lifetime) and then reads its claims.
func (s *Service) engineAccess(ctx context.Context, raw string) (Result, bool) {
	if s.Engine == nil {
		return Result{}, false
	}
	if _, err := s.Engine.Tokens.Verify(raw); err != nil {
		return Result{}, false
	}
	var c engine.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		return Result{}, false
	}
	return Result{Active: true, Subject: c.Subject, Issuer: c.Issuer, Audience: c.Audience, IssuedAt: timeOf(c.IssuedAt),
		ExpiresAt: timeOf(c.ExpiresAt), Scope: c.Scope, TokenType: TypeBearer}, true
}

// registryAccess verifies raw as a registry token signed by a key of the
// ring with token.issuer, and describes its access claim as scopes.
func (s *Service) registryAccess(raw string) (Result, bool) {
	if s.Registry == nil {
		return Result{}, false
	}
	var c token.Claims
	keyFunc := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		alg, key, ok := s.Registry(kid)
		if !ok {
			return nil, fmt.Errorf("unknown kid")
		}
		if t.Method.Alg() != alg {
			return nil, fmt.Errorf("alg %s is not the key's", t.Method.Alg())
		}
		return key, nil
	}
	_, err := jwt.ParseWithClaims(raw, &c, keyFunc, jwt.WithIssuer(s.Issuer), jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now),
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA", "HS256"}))
	if err != nil {
		return Result{}, false
	}
	scopes := make([]string, 0, len(c.Access))
	for _, a := range c.Access {
		typ := a.Type
		if a.Class != "" {
			typ += "(" + a.Class + ")"
		}
		scopes = append(scopes, typ+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	scope := strings.Join(scopes, " ")
	return Result{Active: true, Subject: c.Subject, Issuer: c.Issuer, Audience: c.Audience, IssuedAt: timeOf(c.IssuedAt),
		ExpiresAt: timeOf(c.ExpiresAt), Scope: &scope, TokenType: TypeBearer}, true
}

// Revoke revokes raw for caller (RFC 7009 §2.1): a Docker identity token,
// or an engine refresh token with its whole family. A token that is
// unknown, already revoked, or someone else's (for a non-admin) is left as
// it is without an error (§2.2: the answer is the same). An access token
// named by the hint gets ErrUnsupportedTokenType; one without the hint is
// treated as unknown.
func (s *Service) Revoke(ctx context.Context, caller authn.Identity, raw, hint string) error {
	switch {
	case engine.LooksLikeRefresh(raw):
		if s.Engine == nil || s.Engine.Refresh == nil {
			return nil
		}
		rec, err := s.Engine.Refresh.Lookup(ctx, raw)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil || (rec.Subject != caller.Name && !s.IsAdmin(caller)) {
			return err
		}
		return s.Engine.Refresh.RevokeFamily(ctx, rec.FamilyID)
	case strings.HasPrefix(raw, refresh.Prefix):
		if s.Docker == nil {
			return nil
		}
		rec, err := s.Docker.Store.RefreshToken(ctx, refresh.Hash(raw))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil || (rec.Subject != caller.Name && !s.IsAdmin(caller)) {
			return err
		}
		return s.Docker.Revoke(ctx, raw)
	case hint == HintAccessToken:
		return ErrUnsupportedTokenType
	}
	return nil
}

func timeOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
