package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/pkg/authn"
)

// MaxPendingAge is how long a sign-in may take from Begin to Finish; the
// UI keeps a Pending no longer (a cookie's Max-Age).
const MaxPendingAge = 10 * time.Minute

// SourcePrefix starts the Identity.Source of the users a Provider vouches
// for: "oidc:<name>".
const SourcePrefix = "oidc:"

// Options are what a Provider needs besides its config.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider signs users in with one OpenID Provider. It is safe for
// concurrent use. Its endpoints are discovered at first use and kept.
type Provider struct {
	cfg         ProviderConfig // defaults filled
	secret      authn.Secret
	redirectURL string
	now         func() time.Time
	client      *http.Client // discovery and the token endpoint
	keysClient  *http.Client // the JWKS; keysDown records its last fetch
	keysDown    atomic.Bool

	mu    sync.Mutex
	ready *endpoints // nil until discovery succeeded
	tried time.Time  // last failed discovery
	err   error      // its error
}

// New checks c, reads the files it names (client secret, CA) and returns
// the provider; it fetches nothing yet, so that a provider that is down
// does not keep Tollgate from starting. redirectURL is the UI's callback,
// as registered at the provider: https, or http on loopback.
func New(c ProviderConfig, redirectURL string, opts Options) (*Provider, error) {
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("oidc provider %q: %w", c.Name, err)
	}
	if err := checkRedirectURL(redirectURL); err != nil {
		return nil, fmt.Errorf("oidc provider %q: %w", c.Name, err)
	}
	c = c.withDefaults()
	secret, err := clientSecret(c)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: c, secret: secret, redirectURL: redirectURL, now: opts.Now}
	if p.now == nil {
		p.now = time.Now
	}
	if p.client, err = httpClient(c, nil); err != nil {
		return nil, err
	}
	if p.keysClient, err = httpClient(c, &p.keysDown); err != nil {
		return nil, err
	}
	return p, nil
}

// Name is the provider's name (ProviderConfig.Name).
func (p *Provider) Name() string { return p.cfg.Name }

// clientSecret is c's secret, from the config or its file.
func clientSecret(c ProviderConfig) (authn.Secret, error) {
	if c.ClientSecretFile == "" {
		return c.ClientSecret, nil
	}
	b, err := os.ReadFile(c.ClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("oidc provider %s: client_secret_file: %w", c.Name, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("oidc provider %s: client_secret_file %s: empty", c.Name, c.ClientSecretFile)
	}
	return authn.Secret(s), nil
}

func checkRedirectURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" ||
		!(u.Scheme == "https" || (u.Scheme == "http" && loopback(u.Hostname()))) {
		return fmt.Errorf("redirect URL %q: want an absolute https:// URL (http:// on loopback only)", s)
	}
	return nil
}

func loopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// Pending is a sign-in in progress: what the UI keeps between Begin and
// Finish (in a short-lived HttpOnly cookie, not sealed: it binds the
// callback to the browser that started it; MaxPendingAge bounds Created,
// which that browser could change).
// It prints none of its values.
type Pending struct {
	Provider string    `json:"provider"` // the Provider's name
	State    string    `json:"state"`    // RFC 6749 §10.12
	Nonce    string    `json:"nonce"`    // OpenID Connect Core 1.0 §15.5.2
	Verifier string    `json:"verifier"` // PKCE code_verifier, RFC 7636 §4.1
	Created  time.Time `json:"created"`
}

// String hides the state, nonce and verifier from fmt.
func (p Pending) String() string {
	return fmt.Sprintf("oidc sign-in with %s started %s", p.Provider, p.Created.Format(time.RFC3339))
}

// LogValue hides the state, nonce and verifier from slog.
func (p Pending) LogValue() slog.Value {
	return slog.GroupValue(slog.String("provider", p.Provider), slog.Time("created", p.Created))
}

// Begin starts a sign-in: the URL of the provider's authorization
// endpoint to send the browser to, and the Pending to keep until it comes
// back. A provider that cannot be reached is authn.ErrUnavailable.
func (p *Provider) Begin(ctx context.Context) (authURL string, pending Pending, err error) {
	e, err := p.endpoints(ctx)
	if err != nil {
		return "", Pending{}, err
	}
	pending = Pending{Provider: p.cfg.Name, State: random256(), Nonce: random256(), Verifier: random256(), Created: p.now()}
	authURL = e.oauth.AuthCodeURL(pending.State, gooidc.Nonce(pending.Nonce), oauth2.S256ChallengeOption(pending.Verifier))
	return authURL, pending, nil
}

// random256 is 256 random bits, base64url: a state, a nonce, or a PKCE
// verifier (43 characters, RFC 7636 §4.1).
func random256() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Finish completes the sign-in that pending started, with the state and
// code of the provider's callback, and returns the user. The UI forgets
// pending whatever the outcome: a state is good for one callback.
//
// A refused sign-in (another state, a code used twice or not valid, an ID
// token not valid or of another sign-in, a sign-in older than
// MaxPendingAge, a user name Tollgate cannot take) is
// authn.ErrBadCredentials; a provider that cannot be reached is
// authn.ErrUnavailable; both as a *Refusal.
func (p *Provider) Finish(ctx context.Context, pending Pending, state, code string) (authn.Identity, error) {
	// 1. The callback is of this sign-in (RFC 6749 §10.12), started here
	// not too long ago.
	if err := p.checkPending(pending, state); err != nil {
		return authn.Identity{}, err
	}
	if code == "" {
		return authn.Identity{}, p.refuse("the provider sent no code")
	}
	e, err := p.endpoints(ctx)
	if err != nil {
		return authn.Identity{}, err
	}
	// 2. The code for tokens, with the PKCE verifier (RFC 7636 §4.5).
	tok, err := e.oauth.Exchange(gooidc.ClientContext(ctx, p.client), code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		return authn.Identity{}, p.exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return authn.Identity{}, p.refuse("the provider sent no ID token")
	}
	// 3. The ID token (OpenID Connect Core 1.0 §3.1.3.7): signature,
	// issuer, audience, expiry, authorized party; its nonce (§3.1.3.7 11).
	idt, err := p.verify(ctx, e, raw)
	if err != nil {
		return authn.Identity{}, err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.Nonce)) != 1 {
		return authn.Identity{}, p.refuse("the ID token is of another sign-in (nonce)")
	}
	// 4. The user its claims name.
	return p.identity(idt)
}

// checkPending refuses a callback that is not of pending's sign-in.
func (p *Provider) checkPending(pending Pending, state string) error {
	age := p.now().Sub(pending.Created)
	switch {
	case pending.Provider != p.cfg.Name:
		return p.refuse("the sign-in was started with another provider")
	case pending.State == "" || pending.Nonce == "" || pending.Verifier == "" || pending.Created.IsZero():
		return p.refuse("no sign-in is in progress")
	case subtle.ConstantTimeCompare([]byte(state), []byte(pending.State)) != 1:
		return p.refuse("the callback is of another sign-in (state)")
	case age > MaxPendingAge || age < -time.Minute:
		return p.refuse(fmt.Sprintf("the sign-in took longer than %s; start again", MaxPendingAge))
	}
	return nil
}

// exchangeError classes a failed code exchange: the provider refusing the
// code (RFC 6749 §5.2) is a refusal; the provider failing, or refusing
// Tollgate's own client credentials (which no user can fix), is
// unavailability.
func (p *Provider) exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return p.unavailable("the provider cannot be reached; try again later", err)
	}
	status := re.Response.StatusCode
	switch {
	case status >= 500 || status == 429:
		return p.unavailable("the provider cannot be reached; try again later", err)
	case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
		return p.unavailable("the provider refuses Tollgate's client credentials", err)
	case re.ErrorCode != "" || status >= 400:
		return &Refusal{Provider: p.cfg.Name, Why: fmt.Sprintf("the provider refused the code (%.40q)", re.ErrorCode),
			Err: fmt.Errorf("%w: %v", authn.ErrBadCredentials, err)}
	}
	return p.unavailable("the provider sent an unexpected answer", err)
}

// verify checks the ID token with go-oidc, and the authorized party,
// which go-oidc leaves to the caller (§3.1.3.7 4-5).
func (p *Provider) verify(ctx context.Context, e *endpoints, raw string) (*gooidc.IDToken, error) {
	note := new(keysNote)
	idt, err := e.verifier.Verify(context.WithValue(ctx, keysNoteKey{}, note), raw)
	var expired *gooidc.TokenExpiredError
	switch {
	case err != nil && note.down:
		return nil, p.unavailable("the provider's keys cannot be fetched; try again later", err)
	case errors.As(err, &expired):
		return nil, p.refuseErr("the ID token has expired", err)
	case err != nil:
		return nil, p.refuseErr("the ID token is not valid", err)
	}
	var c struct {
		AZP string `json:"azp"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, p.refuseErr("the ID token's claims are malformed", err)
	}
	if (len(idt.Audience) > 1 || c.AZP != "") && c.AZP != p.cfg.ClientID {
		return nil, p.refuse("the ID token was issued to another client (azp)")
	}
	return idt, nil
}

// Refusal is a sign-in that did not complete: Why is for the user (it
// holds no secret and no token), and Err wraps authn.ErrBadCredentials or
// authn.ErrUnavailable with the details for the log.
type Refusal struct {
	Provider string
	Why      string
	Err      error
}

func (r *Refusal) Error() string {
	return "sign-in with " + r.Provider + ": " + r.Why + " (" + r.Err.Error() + ")"
}

// Reason is the refusal in words fit for the user.
func (r *Refusal) Reason() string { return r.Why }

// Unwrap exposes the authn sentinel.
func (r *Refusal) Unwrap() error { return r.Err }

func (p *Provider) refuse(why string) error {
	return &Refusal{Provider: p.cfg.Name, Why: why, Err: authn.ErrBadCredentials}
}

func (p *Provider) refuseErr(why string, err error) error {
	return &Refusal{Provider: p.cfg.Name, Why: why, Err: fmt.Errorf("%w: %v", authn.ErrBadCredentials, err)}
}

func (p *Provider) unavailable(why string, err error) error {
	return &Refusal{Provider: p.cfg.Name, Why: why, Err: fmt.Errorf("%w: %v", authn.ErrUnavailable, err)}
}
