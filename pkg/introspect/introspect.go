package introspect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/pkg/verify"
)

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	HintAccessToken  = "access_token"
	HintRefreshToken = "refresh_token"
)

// Token types of an active Result: access tokens are "Bearer" (RFC 7662
// §2.2 refers to RFC 6749 §5.1); refresh tokens, which have no such type,
// are "refresh_token", and API tokens "api_token".
const (
	TypeBearer   = "Bearer"
	TypeRefresh  = "refresh_token"
	TypeAPIToken = "api_token"
)

// verifyLeeway is the clock skew allowed on a registry token's exp, nbf
// and iat: between replicas, and for a token minted in the second of a
// revoke-tokens, whose iat is up to a second ahead (token.Grant.NotBefore).
const verifyLeeway = 5 * time.Second

// ErrUnsupportedTokenType is Revoke's answer to an access token named as
// such by the hint: JWTs cannot be revoked, they expire (RFC 7009 §2.2.1
// unsupported_token_type).
var ErrUnsupportedTokenType = errors.New("introspect: access tokens cannot be revoked; they expire")

// ErrNotYours is Revoke's answer to a caller who asks to revoke a token it
// neither owns nor may manage (RFC 7009 §2.1: the request is refused;
// §2.2.1 with RFC 6749 §5.2 unauthorized_client).
var ErrNotYours = errors.New("introspect: the token is neither the caller's nor may the caller manage it")

// KeyLookup returns the verification key of the registry signing key with
// that kid and its algorithm; ok is false for an unknown kid. The key ring
// provides it (keys.Ring.Lookup).
type KeyLookup func(kid string) (alg string, key any, ok bool)

// Accounts checks what a token stands for against its account
// (accounts.Service).
type Accounts interface {
	Admit(ctx context.Context, id authn.Identity) (authn.Identity, error)
	AdmitToken(ctx context.Context, id authn.Identity, issuedAt time.Time) (authn.Identity, error)
	Get(ctx context.Context, name string) (store.Account, error)
}

// ClientDirectory tells whether a registered client still exists.
type ClientDirectory interface {
	Client(ctx context.Context, id string) (store.Client, error)
}

// Service introspects and revokes. Every part is optional: a kind of token
// without its part is unknown, hence inactive.
type Service struct {
	Docker    *refresh.Tokens  // Docker identity tokens
	Engine    *engine.Service  // engine access and refresh tokens
	APITokens *apitoken.Tokens // API tokens
	Registry  KeyLookup        // registry access tokens
	Issuer    string           // token.issuer: the iss of registry tokens
	Accounts  Accounts         // a token whose account ended or is disabled is inactive
	Clients   ClientDirectory  // a client_credentials token of a removed client is inactive
	// Workloads checks the trust rule a workload's refresh token was
	// issued under (federation); nil: such tokens are inactive.
	Workloads grant.Readmitter
	Audit     Auditor // optional: records revocations of refresh tokens
	Now       func() time.Time
}

// Auditor receives audit events; it must not block (audit.Recorder).
type Auditor interface {
	Record(ev store.AuditEvent)
}

// recordRevoked audits caller's revocation of owner's refresh token of
// kind; n names it without the secret (its hash prefix, or its family).
func (s *Service) recordRevoked(caller authn.Identity, kind, owner, n string) {
	if s.Audit != nil {
		s.Audit.Record(store.AuditEvent{Kind: audit.TokenRevoked, Subject: caller.Name,
			Detail: "kind=" + kind + " owner=" + owner + " " + n})
	}
}

// Result is an introspection answer (RFC 7662 §2.2). Only Active is
// meaningful when it is false.
type Result struct {
	Active    bool
	Subject   string
	Username  string // the account's name (RFC 7662 §2.2 username)
	Role      string // an API token's role, or the role an access token carries
	Issuer    string
	Audience  []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Scope     *string // nil: the token has no scope
	ClientID  string
	TokenType string
	// Identity is the access token's identity claim (verify.IdentityClaim):
	// kind, ID, role, source, groups and labels of its caller.
	Identity *verify.Identity
}

// Introspect describes raw for caller. Anything invalid, expired, revoked,
// unknown, of an ended or disabled account, or someone else's (for a caller
// that is neither an admin nor a registered client: resource servers
// introspect what they are sent) is inactive: the answer never tells these
// apart. Only store failures are errors.
func (s *Service) Introspect(ctx context.Context, caller authn.Identity, raw, hint string) (Result, error) {
	res, err := s.lookup(ctx, raw)
	if err != nil || !res.Active {
		return Result{}, err
	}
	if res.Username != caller.Name && !s.manages(caller) {
		return Result{}, nil
	}
	return res, nil
}

// manages reports whether caller may see and revoke others' tokens: an
// admin acting as one, or a registered client (a resource server).
func (s *Service) manages(caller authn.Identity) bool {
	return caller.ActsAsAdmin() || caller.Kind == authn.KindClient
}

func (s *Service) lookup(ctx context.Context, raw string) (Result, error) {
	var (
		res Result
		err error
	)
	switch {
	case raw == "":
		return Result{}, nil
	case apitoken.LooksLike(raw):
		res, err = s.apiToken(ctx, raw)
	case refresh.LooksLikeFamily(raw):
		res, err = s.engineRefresh(ctx, raw)
	case strings.HasPrefix(raw, refresh.Prefix):
		res, err = s.dockerRefresh(ctx, raw)
	default:
		res, err = s.accessToken(ctx, raw)
	}
	if errors.Is(err, authn.ErrBadCredentials) || errors.Is(err, authn.ErrDisabled) {
		return Result{}, nil
	}
	return res, err
}

// apiToken describes a live API token of a live, enabled account.
func (s *Service) apiToken(ctx context.Context, raw string) (Result, error) {
	if s.APITokens == nil {
		return Result{}, nil
	}
	rec, err := s.APITokens.Lookup(ctx, raw)
	if err != nil {
		return Result{}, err
	}
	id, err := s.admit(ctx, apitoken.Identity(rec), time.Time{})
	if err != nil {
		return Result{}, err
	}
	return Result{Active: true, Subject: id.AccountID, Username: id.Name, Role: rec.Role, IssuedAt: rec.CreatedAt,
		ExpiresAt: rec.ExpiresAt, TokenType: TypeAPIToken}, nil
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
	id, err := s.admit(ctx, authn.Identity{Name: rec.Subject, AccountID: rec.AccountID, Epoch: rec.Epoch}, time.Time{})
	if err != nil {
		return Result{}, err
	}
	res := Result{Active: true, Subject: id.AccountID, Username: id.Name, Issuer: s.Engine.Tokens.Issuer,
		IssuedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt, ClientID: rec.ClientID, TokenType: TypeRefresh}
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
	if rec.Binding != "" {
		return s.workloadRefresh(ctx, rec)
	}
	id, err := s.admit(ctx, authn.Identity{Name: rec.Subject, AccountID: rec.AccountID, Epoch: rec.Epoch}, time.Time{})
	if err != nil {
		return Result{}, err
	}
	return Result{Active: true, Subject: id.AccountID, Username: id.Name, Issuer: s.Issuer, Audience: []string{rec.Service},
		IssuedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt, ClientID: rec.ClientID, TokenType: TypeRefresh}, nil
}

// workloadRefresh describes a workload's Docker identity token: active
// while the trust rule it was issued under is in force. A workload has no
// account: its subject is its name.
func (s *Service) workloadRefresh(ctx context.Context, rec store.RefreshToken) (Result, error) {
	b, err := refresh.ParseBinding(rec.Binding)
	if err != nil || s.Workloads == nil {
		return Result{}, nil
	}
	id, err := s.Workloads.Readmit(ctx, rec.Subject, b.Policy, b.Claims)
	if err != nil {
		return Result{}, err
	}
	return Result{Active: true, Subject: id.Name, Username: id.Name, Issuer: s.Issuer, Audience: []string{rec.Service},
		IssuedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt, ClientID: rec.ClientID, TokenType: TypeRefresh,
		Identity: id.Claim()}, nil
}

// admit checks id against its account, when there is an account service.
func (s *Service) admit(ctx context.Context, id authn.Identity, issuedAt time.Time) (authn.Identity, error) {
	if s.Accounts == nil {
		return id, nil
	}
	return s.Accounts.AdmitToken(ctx, id, issuedAt)
}

// accessToken describes a JWT: an engine token (an account's or a
// client's), else a registry token.
func (s *Service) accessToken(ctx context.Context, raw string) (Result, error) {
	if res, ok, err := s.engineAccess(ctx, raw); ok || err != nil {
		return res, err
	}
	return s.registryAccess(ctx, raw)
}

// engineAccess verifies raw as an engine access token (signature, issuer,
// audience, lifetime) and checks what it stands for: the account (and the
// API token it came from) or the client.
func (s *Service) engineAccess(ctx context.Context, raw string) (Result, bool, error) {
	if s.Engine == nil {
		return Result{}, false, nil
	}
	c, err := s.Engine.Tokens.VerifyAny(raw)
	if err != nil {
		return Result{}, false, nil
	}
	res := Result{Active: true, Subject: c.Subject, Username: c.Username, Role: c.Role, Issuer: c.Issuer,
		Audience: c.Audience, IssuedAt: timeOf(c.IssuedAt), ExpiresAt: timeOf(c.ExpiresAt), Scope: c.Scope,
		ClientID: c.ClientID, TokenType: TypeBearer, Identity: c.Identity}
	if c.Identity != nil {
		res.Role = c.Identity.Role
	}
	switch {
	case c.GrantType == engine.GrantClientCredentials:
		return res, true, s.clientLives(ctx, c.ClientID)
	case workload(c.Identity): // no account: it lives until it expires
		return res, true, nil
	}
	v, err := engine.AccountToken(c)
	if err != nil { // ours, but of no account
		return Result{}, true, nil
	}
	if _, err := s.Engine.Admit(ctx, v); err != nil {
		return Result{}, true, err
	}
	return res, true, nil
}

// workload reports whether a token's identity claim names a workload.
func workload(id *verify.Identity) bool { return id != nil && id.Kind == authn.KindWorkload }

// clientLives refuses (authn.ErrBadCredentials) the token of a client
// since removed.
func (s *Service) clientLives(ctx context.Context, id string) error {
	if s.Clients == nil {
		return nil
	}
	_, err := s.Clients.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("client %q was removed: %w", id, authn.ErrBadCredentials)
	}
	return err
}

// registryAccess verifies raw as a registry token (RegistryClaims) and
// describes its access claim as scopes.
func (s *Service) registryAccess(ctx context.Context, raw string) (Result, error) {
	if s.Registry == nil {
		return Result{}, nil
	}
	c, err := s.RegistryClaims(ctx, raw)
	if errors.Is(err, ErrNotOurs) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, err
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
	res := Result{Active: true, Subject: c.Subject, Username: c.Subject, Issuer: c.Issuer, Audience: c.Audience,
		IssuedAt: timeOf(c.IssuedAt), ExpiresAt: timeOf(c.ExpiresAt), Scope: &scope, TokenType: TypeBearer,
		Identity: c.Identity}
	if c.Identity != nil {
		res.Role = c.Identity.Role
	}
	return res, nil
}

// ErrNotOurs: not a registry token this Tollgate signed and still good
// (a bad signature, another issuer, expired, malformed).
var ErrNotOurs = fmt.Errorf("introspect: not a valid registry token of this issuer: %w", authn.ErrBadCredentials)

// RegistryClaims verifies raw as a registry token signed by a key of the
// ring with token.issuer, and checks its subject's account (gone,
// disabled, or tokens revoked since: authn.ErrBadCredentials or
// authn.ErrDisabled); a workload, which has no account, is good until it
// expires. A token that does not verify is ErrNotOurs.
func (s *Service) RegistryClaims(ctx context.Context, raw string) (token.Claims, error) {
	if s.Registry == nil {
		return token.Claims{}, ErrNotOurs
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
		jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now), jwt.WithLeeway(verifyLeeway),
		jwt.WithValidMethods(keys.VerifyingAlgorithms()))
	if err != nil {
		return token.Claims{}, fmt.Errorf("%w: %v", ErrNotOurs, err)
	}
	if !workload(c.Identity) { // a workload has no account: its token lives until it expires
		if err := s.subjectLives(ctx, c.Subject, timeOf(c.IssuedAt)); err != nil {
			return token.Claims{}, err
		}
	}
	return c, nil
}

// subjectLives checks the account a registry token names (anonymous
// tokens have none): it must exist, be enabled, be older than the token
// (a registry token names its account only by name, so one issued before
// the account was made belonged to an earlier user of the name) and have
// had no revoke-tokens since issuedAt. iat has whole seconds.
func (s *Service) subjectLives(ctx context.Context, name string, issuedAt time.Time) error {
	if s.Accounts == nil || name == "" {
		return nil
	}
	acct, err := s.Accounts.Get(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("account %q is gone: %w", name, authn.ErrBadCredentials)
	case err != nil:
		return err
	case !acct.Enabled():
		return authn.ErrDisabled
	case issuedAt.Before(acct.CreatedAt.Truncate(time.Second)):
		return fmt.Errorf("issued to an earlier account named %q: %w", name, authn.ErrBadCredentials)
	case issuedAt.Before(acct.TokensNotBefore):
		return fmt.Errorf("issued before a revocation: %w", authn.ErrBadCredentials)
	}
	return nil
}

// Revoke revokes raw for caller (RFC 7009 §2.1): an API token, a Docker
// identity token, or an engine refresh token with its whole family, when
// the caller owns it or is an admin acting as one; anyone else gets
// ErrNotYours. Revocations of refresh tokens are audited (API tokens audit
// their own). A token that is
// unknown or already revoked is left as it is without an error (§2.2). An
// access token named by the hint gets ErrUnsupportedTokenType; one
// without the hint is treated as unknown.
func (s *Service) Revoke(ctx context.Context, caller authn.Identity, raw, hint string) error {
	var r revocable
	var err error
	switch {
	case apitoken.LooksLike(raw):
		r, err = s.apiTokenToRevoke(ctx, caller, raw)
	case refresh.LooksLikeFamily(raw):
		r, err = s.engineRefreshToRevoke(ctx, caller, raw)
	case strings.HasPrefix(raw, refresh.Prefix):
		r, err = s.dockerRefreshToRevoke(ctx, caller, raw)
	case hint == HintAccessToken:
		return ErrUnsupportedTokenType
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.revoke == nil) {
		return nil // unknown, or of a kind this server does not keep
	}
	if err != nil {
		return err
	}
	if err := s.mayRevoke(caller, r.owner, r.accountID); err != nil {
		return err
	}
	return r.revoke()
}

// revocable is a stored token Revoke found: whose it is, and how to end it.
type revocable struct {
	owner, accountID string
	revoke           func() error
}

// mayRevoke tells whether caller may revoke a token of the user owner (of
// the account ownerAccount, when known): its owner (the same account, not
// an earlier user of the name) or an admin acting as one. A registered
// client holds no revocable token (its own are JWTs, and a refresh token's
// client_id is a public client's name that anyone may send), so it may
// revoke none.
func (s *Service) mayRevoke(caller authn.Identity, owner, ownerAccount string) error {
	switch {
	case caller.Kind == authn.KindClient:
		return ErrNotYours
	case caller.ActsAsAdmin():
	case caller.Name == owner && (ownerAccount == "" || caller.AccountID == ownerAccount):
	default:
		return ErrNotYours
	}
	return nil
}

func (s *Service) apiTokenToRevoke(ctx context.Context, caller authn.Identity, raw string) (revocable, error) {
	if s.APITokens == nil {
		return revocable{}, nil
	}
	rec, err := s.APITokens.Store.APIToken(ctx, apitoken.Hash(raw))
	return revocable{owner: rec.Owner, accountID: rec.AccountID, revoke: func() error {
		_, err := s.APITokens.Revoke(ctx, caller, apitoken.HashPrefix(rec.Hash)) // audits itself
		return err
	}}, err
}

func (s *Service) engineRefreshToRevoke(ctx context.Context, caller authn.Identity, raw string) (revocable, error) {
	if s.Engine == nil || s.Engine.Refresh == nil {
		return revocable{}, nil
	}
	rec, err := s.Engine.Refresh.Lookup(ctx, raw)
	return revocable{owner: rec.Subject, accountID: rec.AccountID, revoke: func() error {
		if err := s.Engine.Refresh.RevokeFamily(ctx, rec.FamilyID); err != nil {
			return err
		}
		s.recordRevoked(caller, "engine_refresh", rec.Subject, "family="+rec.FamilyID)
		return nil
	}}, err
}

func (s *Service) dockerRefreshToRevoke(ctx context.Context, caller authn.Identity, raw string) (revocable, error) {
	if s.Docker == nil {
		return revocable{}, nil
	}
	rec, err := s.Docker.Store.RefreshToken(ctx, refresh.Hash(raw))
	return revocable{owner: rec.Subject, accountID: rec.AccountID, revoke: func() error {
		if err := s.Docker.Revoke(ctx, raw); err != nil {
			return err
		}
		s.recordRevoked(caller, "refresh", rec.Subject, "hash_prefix="+rec.Hash[:16])
		return nil
	}}, err
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
