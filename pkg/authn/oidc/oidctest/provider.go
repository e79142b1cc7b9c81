// Package oidctest is an OpenID Provider for tests of the UI's sign-in:
// an httptest TLS server with discovery, a JWKS, an authorization
// endpoint at which the configured user signs in at once (it redirects
// straight back with a code), and a token endpoint that checks what RFC
// 6749 §4.1.3 and RFC 7636 §4.6 ask (a code used once, the client's
// credentials, the redirect URI, the PKCE verifier) before it returns an
// RS256 ID token carrying the nonce of the authorization request.
//
// It can go down (every answer 503), lose its keys (the JWKS alone 503),
// edit the claims of its ID tokens (a wrong nonce, audience or expiry),
// and sign with a key it does not publish.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/oidc"
)

// codeTTL is how long a code may wait for its exchange.
const codeTTL = time.Minute

// Provider is a running test OpenID Provider. Its URL is its issuer.
type Provider struct {
	URL    string
	CAFile string // a PEM file of its TLS certificate (ProviderConfig.CAFile)
	// ClientID and ClientSecret are the one client registered.
	ClientID     string
	ClientSecret string

	server *httptest.Server
	key    *rsa.PrivateKey
	kid    string

	mu         sync.Mutex
	user       user
	codes      map[string]*grant
	edit       func(jwt.MapClaims)
	now        func() time.Time
	unknownKey bool

	down     atomic.Bool
	keysDown atomic.Bool

	// Counters of the requests served, down or not.
	Discoveries    atomic.Int64
	KeyFetches     atomic.Int64
	Authorizations atomic.Int64
	TokenRequests  atomic.Int64
}

// user is who signs in at the authorization endpoint.
type user struct {
	username, email string
	groups          []string
}

// grant is what a code stands for.
type grant struct {
	clientID, redirectURI, challenge, nonce string
	user                                    user
	issued                                  time.Time
}

// Start starts a provider whose user is alice (alice@example.com, in
// groups dev and ops); it stops with the test.
func Start(t testing.TB) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{ClientID: "tollgate", ClientSecret: random(), key: key, kid: random()[:12], codes: map[string]*grant{}, now: time.Now,
		user: user{username: "alice", email: "alice@example.com", groups: []string{"dev", "ops"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	mux.HandleFunc("GET /authorize", p.serveAuthorize)
	mux.HandleFunc("POST /token", p.serveToken)
	p.server = httptest.NewTLSServer(mux)
	t.Cleanup(p.server.Close)
	p.URL = p.server.URL
	p.CAFile = filepath.Join(t.TempDir(), "provider-ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.server.Certificate().Raw})
	if err := os.WriteFile(p.CAFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Config is a ProviderConfig of this provider under name, its secret
// inline and its CA trusted.
func (p *Provider) Config(name string) oidc.ProviderConfig {
	return oidc.ProviderConfig{Name: name, Issuer: p.URL, ClientID: p.ClientID, ClientSecret: authn.Secret(p.ClientSecret), CAFile: p.CAFile}
}

// SetUser sets who signs in from now on.
func (p *Provider) SetUser(username, email string, groups []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = user{username: username, email: email, groups: slices.Clone(groups)}
}

// SetClock makes the provider tell time by now (the clock of the code
// under test): codes expire and ID tokens are dated by it.
func (p *Provider) SetClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}

// EditClaims makes edit change the claims of every ID token issued from
// now on (nil: none). Deleting a claim leaves it out.
func (p *Provider) EditClaims(edit func(jwt.MapClaims)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.edit = edit
}

// SignWithUnknownKey makes ID tokens signed with a key the provider does
// not publish, under its published kid (true), or with its key again.
func (p *Provider) SignWithUnknownKey(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unknownKey = on
}

// SetDown makes every answer a 503 (true), or the usual one again.
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// SetKeysDown makes the JWKS alone answer 503 (true), or its keys again.
func (p *Provider) SetKeysDown(down bool) { p.keysDown.Store(down) }

// SignIn is the browser at the authorization endpoint: it follows
// authURL and returns where the provider redirects it back to (the UI's
// callback, with code and state, or error), without following it.
func (p *Provider) SignIn(t testing.TB, authURL string) *url.URL {
	t.Helper()
	client := &http.Client{Transport: p.server.Client().Transport, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %s, want a redirect to the callback", authURL, resp.Status)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	p.Discoveries.Add(1)
	if p.unavailable(w) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"grant_types_supported":                 []string{"authorization_code"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups"},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	p.KeyFetches.Add(1)
	if p.unavailable(w) {
		return
	}
	if p.keysDown.Load() {
		http.Error(w, "keys unavailable", http.StatusServiceUnavailable)
		return
	}
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": p.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// serveAuthorize signs the user in at once (RFC 6749 §4.1.1-2): an
// unknown client or a missing redirect URI is answered here, anything
// else at the redirect URI.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	p.Authorizations.Add(1)
	if p.unavailable(w) {
		return
	}
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != p.ClientID || err != nil || !back.IsAbs() {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	answer := back.Query()
	answer.Set("state", q.Get("state"))
	switch {
	case q.Get("response_type") != "code":
		answer.Set("error", "unsupported_response_type")
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		answer.Set("error", "invalid_scope")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		answer.Set("error", "invalid_request")
	default:
		code := random()
		p.mu.Lock()
		p.codes[code] = &grant{clientID: p.ClientID, redirectURI: back.String(), challenge: q.Get("code_challenge"),
			nonce: q.Get("nonce"), user: p.user, issued: p.now()}
		p.mu.Unlock()
		answer.Set("code", code)
	}
	back.RawQuery = answer.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// serveToken exchanges a code (RFC 6749 §4.1.3, RFC 7636 §4.6): once,
// for the client it was issued to, with the same redirect URI and the
// verifier of its challenge.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	p.TokenRequests.Add(1)
	if p.unavailable(w) {
		return
	}
	if !p.clientAuthenticated(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostFormValue("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	p.mu.Lock()
	g, ok := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code")) // a code is tried once, whatever the outcome
	now := p.now()
	p.mu.Unlock()
	challenge := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case !ok, now.Sub(g.issued) > codeTTL, g.redirectURI != r.PostFormValue("redirect_uri"),
		subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(challenge[:])), []byte(g.challenge)) != 1:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": random(), "token_type": "Bearer", "expires_in": 300,
		"id_token": p.idToken(g)})
}

// clientAuthenticated checks client_secret_basic (its parts
// form-urlencoded, RFC 6749 §2.3.1) or client_secret_post.
func (p *Provider) clientAuthenticated(r *http.Request) bool {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return false
		}
	} else {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	return id == p.ClientID && subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) == 1
}

// idToken is the ID token of a grant, edited and signed as set.
func (p *Provider) idToken(g *grant) string {
	p.mu.Lock()
	now, edit, key := p.now(), p.edit, p.key
	if p.unknownKey {
		key = otherKey()
	}
	p.mu.Unlock()
	sub := sha256.Sum256([]byte(g.user.username))
	claims := jwt.MapClaims{"iss": p.URL, "sub": hex.EncodeToString(sub[:8]), "aud": g.clientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "auth_time": now.Unix(), "nonce": g.nonce,
		"preferred_username": g.user.username, "email": g.user.email, "email_verified": true}
	if g.user.groups != nil {
		claims["groups"] = g.user.groups
	}
	if edit != nil {
		edit(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = p.kid
	raw, err := tok.SignedString(key)
	if err != nil {
		panic("oidctest: signing an ID token: " + err.Error())
	}
	return raw
}

// unavailable answers 503 when the provider is down; it reports whether it did.
func (p *Provider) unavailable(w http.ResponseWriter) bool {
	down := p.down.Load()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}
	return down
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// otherKey is a key no provider publishes, made once.
var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	return k
})
