package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
)

// GrantClientCredentials is the "gty" claim of a client_credentials token
// (the name Auth0 gives it). Verify refuses such tokens: their sub is a
// client, not an account.
const GrantClientCredentials = "client-credentials"

// Errors of the client_credentials grant (RFC 6749 §4.4), each the
// caller's error. Test with errors.Is.
var (
	// ErrInvalidClient: unknown client, a client without a secret, or the
	// wrong secret (RFC 6749 §5.2 invalid_client). Which one is not said.
	ErrInvalidClient = errors.New("engine: client authentication failed")
	// ErrInvalidScope: a scope the client may not ask for (§5.2 invalid_scope).
	ErrInvalidScope = errors.New("engine: scope not allowed for this client")
	// ErrInvalidTarget: an audience the client may not ask for
	// (RFC 8707 §2 invalid_target).
	ErrInvalidTarget = errors.New("engine: audience not allowed for this client")
)

// ClientStore is where registered clients are looked up (store.Clients).
type ClientStore interface {
	Client(ctx context.Context, id string) (store.Client, error)
}

// Clients serves the client_credentials grant for the confidential
// clients registered in the store (`tollgate clients add`): internal
// services that authenticate with their ID and secret and get tokens for
// their configured audiences and scopes only.
type Clients struct {
	store  ClientStore
	tokens *Tokens
	audit  Auditor // optional
	cost   int

	dummyOnce sync.Once
	dummy     []byte // bcrypt hash no secret matches, for unknown clients
}

// NewClients returns the grant over st, minting with tokens. cost is the
// bcrypt cost of the dummy hash unknown clients are checked against, so
// that they take as long as known ones (users.bcrypt_cost).
func NewClients(st ClientStore, tokens *Tokens, cost int, audit Auditor) *Clients {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		cost = bcrypt.DefaultCost
	}
	return &Clients{store: st, tokens: tokens, audit: audit, cost: cost}
}

// ClientRequest is one client_credentials request.
type ClientRequest struct {
	ClientID string
	Secret   authn.Secret
	Scope    string // space-separated; empty asks for every scope of the client
	Audience string // empty asks for every audience of the client
	ClientIP netip.Addr
}

// ClientToken is a minted client token and what it grants.
type ClientToken struct {
	Token
	Scopes    []string
	Audiences []string
}

// Known reports whether id is a registered client with a secret (a store
// failure answers false).
func (c *Clients) Known(ctx context.Context, id string) bool {
	cl, err := c.store.Client(ctx, id)
	return err == nil && cl.SecretHash != ""
}

// ClientSource is the Identity.Source of a registered client that
// authenticated (with its ID and secret) as the caller of an endpoint
// other than the token endpoint, such as introspection.
const ClientSource = "client"

// Caller authenticates a registered client as an authn.Authenticator, for
// endpoints that resource servers call with their client credentials (RFC
// 7662 §2.1): a name that is no client is authn.ErrNoSuchUser (a Chain
// goes on to the users), a wrong secret authn.ErrBadCredentials.
func (c *Clients) Caller() authn.Authenticator { return clientCaller{c} }

type clientCaller struct{ c *Clients }

func (cc clientCaller) Authenticate(ctx context.Context, id string, secret authn.Secret) (authn.Identity, error) {
	cl, err := cc.c.store.Client(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && cl.SecretHash == ""):
		return authn.Identity{}, fmt.Errorf("client %q: %w", id, authn.ErrNoSuchUser)
	case err != nil:
		return authn.Identity{}, err
	case bcrypt.CompareHashAndPassword([]byte(cl.SecretHash), []byte(secret)) != nil:
		return authn.Identity{}, fmt.Errorf("client %q: %w", id, authn.ErrBadCredentials)
	}
	return authn.Identity{Name: cl.ID, Source: ClientSource}, nil
}

// Authenticate checks the client's secret against its bcrypt hash (RFC
// 6749 §2.3.1). An unknown client, or one without a secret, costs one
// comparison against a dummy hash all the same. Every refusal is
// ErrInvalidClient; other errors are the store's.
func (c *Clients) Authenticate(ctx context.Context, id string, secret authn.Secret) (store.Client, error) {
	cl, err := c.store.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cl.SecretHash == "") {
		_ = bcrypt.CompareHashAndPassword(c.dummyHash(), []byte(secret)) // same work as a known client
		return store.Client{}, ErrInvalidClient
	}
	if err != nil {
		return store.Client{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(cl.SecretHash), []byte(secret)) != nil {
		return store.Client{}, ErrInvalidClient
	}
	return cl, nil
}

func (c *Clients) dummyHash() []byte {
	c.dummyOnce.Do(func() {
		c.dummy, _ = bcrypt.GenerateFromPassword([]byte(rand.Text()), c.cost)
	})
	return c.dummy
}

// Issue authorizes req for the authenticated client cl and mints its
// token: the scopes asked (all of the client's when none are), each one
// of the client's, else ErrInvalidScope; the audience asked (all of the
// client's when none is), one of the client's, else ErrInvalidTarget. The
// token's sub is the client ID. Issues and refusals are audited.
func (c *Clients) Issue(cl store.Client, req ClientRequest) (ClientToken, error) {
	scopes, err := grantScopes(cl.Scopes, req.Scope)
	if err != nil {
		c.record(audit.TokenDenied, req, nil, "invalid scope")
		return ClientToken{}, err
	}
	aud := slices.Clone(cl.Audiences)
	if req.Audience != "" {
		if !slices.Contains(cl.Audiences, req.Audience) {
			c.record(audit.TokenDenied, req, nil, "invalid audience")
			return ClientToken{}, fmt.Errorf("%w: %q", ErrInvalidTarget, req.Audience)
		}
		aud = []string{req.Audience}
	}
	tok, err := c.tokens.mintClient(cl.ID, aud, scopes)
	if err != nil {
		return ClientToken{}, err
	}
	c.record(audit.TokenIssued, req, scopes, "")
	return ClientToken{Token: tok, Scopes: scopes, Audiences: aud}, nil
}

// Denied records a refused request; reason must hold no secret. Wrong
// client credentials go to FailedLogin instead.
func (c *Clients) Denied(req ClientRequest, reason string) {
	c.record(audit.TokenDenied, req, nil, reason)
}

// FailedLogin records wrong client credentials under the client ID
// tried, aggregated per client address and minute like users' logins.
func (c *Clients) FailedLogin(req ClientRequest) {
	failedLogin(c.audit, req.ClientID, req.ClientIP)
}

// grantScopes returns the scopes asked, without repeats, if the client
// has each; nothing asked means every scope of the client.
func grantScopes(allowed []string, asked string) ([]string, error) {
	fields := strings.Fields(asked)
	if len(fields) == 0 {
		return slices.Clone(allowed), nil
	}
	out := make([]string, 0, len(fields))
	for _, s := range fields {
		if !slices.Contains(allowed, s) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidScope, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (c *Clients) record(kind string, req ClientRequest, granted []string, reason string) {
	if c.audit == nil {
		return
	}
	detail := auditDetail + ": client_credentials"
	if reason != "" {
		detail += ": " + reason
	}
	ev := store.AuditEvent{
		Kind:      kind,
		Subject:   req.ClientID,
		ClientID:  req.ClientID,
		Service:   req.Audience,
		Requested: req.Scope,
		Granted:   strings.Join(granted, " "),
		Detail:    detail,
	}
	if req.ClientIP.IsValid() {
		ev.ClientIP = req.ClientIP.String()
	}
	c.audit.Record(ev)
}

// mintClient signs a client_credentials token (RFC 9068 §2.2 for the
// claims): sub and client_id are the client, aud its audiences, scope
// the granted scopes, gty GrantClientCredentials.
func (t *Tokens) mintClient(clientID string, aud, scopes []string) (Token, error) {
	now := t.now().Truncate(time.Second)
	jti, err := newID()
	if err != nil {
		return Token{}, err
	}
	scope := strings.Join(scopes, " ")
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.Issuer,
			Subject:   clientID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.TTL)),
			ID:        jti,
		},
		Scope:     &scope,
		ClientID:  clientID,
		GrantType: GrantClientCredentials,
	}
	if len(aud) > 0 {
		claims.Audience = jwt.ClaimStrings(aud)
	}
	raw, err := t.Key.Sign(claims)
	if err != nil {
		return Token{}, fmt.Errorf("engine: sign token: %w", err)
	}
	return Token{Raw: raw, IssuedAt: now, ExpiresAt: now.Add(t.TTL)}, nil
}
