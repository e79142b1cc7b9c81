// Package federationtest is an OpenID Provider for tests of identity-token
// federation: an httptest TLS server with discovery and a JWKS of its own
// keys, minting GitHub-Actions-shaped and Kubernetes-shaped identity
// tokens, and able to rotate its keys, go down or hang.
package federationtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is a running test OpenID Provider. Its URL is its issuer.
type Issuer struct {
	URL    string
	server *httptest.Server

	mu    sync.Mutex
	keys  []*rsaKey // published; the last one signs
	cache string    // Cache-Control of the JWKS

	down    atomic.Bool   // every answer is 503
	hang    atomic.Bool   // no answer until the caller gives up
	release chan struct{} // closed when the server closes: hanging handlers return

	// JWKSFetches and DiscoveryFetches count the requests served.
	JWKSFetches      atomic.Int64
	DiscoveryFetches atomic.Int64
}

type rsaKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// NewIssuer starts an issuer with one RS256 key; it stops with the test.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{release: make(chan struct{})}
	i.keys = []*rsaKey{newKey(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET /jwks", i.serveJWKS)
	i.server = httptest.NewTLSServer(mux)
	i.URL = i.server.URL
	t.Cleanup(func() {
		close(i.release)
		i.server.Close()
	})
	return i
}

func newKey(t testing.TB) *rsaKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var id [9]byte
	_, _ = rand.Read(id[:])
	return &rsaKey{kid: base64.RawURLEncoding.EncodeToString(id[:]), priv: priv}
}

// CAFile writes the issuer's TLS certificate to a PEM file in a test
// directory (federation's ca_file) and returns its path.
func (i *Issuer) CAFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "issuer-ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.server.Certificate().Raw})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// JWKSURL is where the issuer publishes its keys.
func (i *Issuer) JWKSURL() string { return i.URL + "/jwks" }

// SetDown makes every answer a 503 (true) or the usual one again.
func (i *Issuer) SetDown(down bool) { i.down.Store(down) }

// SetHang makes the issuer keep every request waiting until the caller
// gives up (true), or answer again.
func (i *Issuer) SetHang(hang bool) { i.hang.Store(hang) }

// SetCacheControl sets the Cache-Control header of the JWKS.
func (i *Issuer) SetCacheControl(v string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cache = v
}

// Rotate makes a new key that signs from now on; keep says whether the
// old ones stay published.
func (i *Issuer) Rotate(t testing.TB, keep bool) {
	t.Helper()
	k := newKey(t)
	i.mu.Lock()
	defer i.mu.Unlock()
	if !keep {
		i.keys = nil
	}
	i.keys = append(i.keys, k)
}

// KeyID is the kid of the key that signs.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[len(i.keys)-1].kid
}

// Mint signs claims with the issuer's signing key (RS256, its kid in the
// header); iss is the issuer's unless claims name one.
func (i *Issuer) Mint(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	i.mu.Lock()
	k := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = i.URL
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = k.kid
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// MintWithKey signs claims with a key the issuer does not publish, under
// the kid given.
func (i *Issuer) MintWithKey(t testing.TB, kid string, claims jwt.MapClaims) string {
	t.Helper()
	k := newKey(t)
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = i.URL
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// MintNone is an unsigned token (alg none) of claims.
func (i *Issuer) MintNone(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	claims["iss"] = i.URL
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	tok.Header["kid"] = i.KeyID()
	raw, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// MintHMAC signs claims with HS256 over the modulus of the issuer's public
// key, the classic algorithm-confusion attack.
func (i *Issuer) MintHMAC(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	i.mu.Lock()
	k := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	claims["iss"] = i.URL
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = k.kid
	raw, err := tok.SignedString(k.priv.N.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// JWKS is the key set the issuer publishes.
func (i *Issuer) JWKS() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	type jwk struct {
		Kty string `json:"kty"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range i.keys {
		pub := k.priv.PublicKey
		set.Keys = append(set.Keys, jwk{Kty: "RSA", Use: "sig", Alg: "RS256", Kid: k.kid,
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())})
	}
	b, _ := json.Marshal(set)
	return b
}

// JWKSFile writes the key set to a file in a test directory.
func (i *Issuer) JWKSFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, i.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// unavailable answers 503 or hangs, as set; it reports whether it did.
func (i *Issuer) unavailable(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case i.hang.Load():
		select {
		case <-r.Context().Done():
		case <-i.release:
		}
		return true
	case i.down.Load():
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	}
	return false
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	i.DiscoveryFetches.Add(1)
	if i.unavailable(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer": i.URL, "jwks_uri": i.JWKSURL(),
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public", "pairwise"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	i.JWKSFetches.Add(1)
	if i.unavailable(w, r) {
		return
	}
	i.mu.Lock()
	cache := i.cache
	i.mu.Unlock()
	if cache != "" {
		w.Header().Set("Cache-Control", cache)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(i.JWKS())
}

// GitHubClaims are the claims of a GitHub Actions identity token of a
// workflow run of repository (owner/name) on ref, issued at now for aud.
func GitHubClaims(aud, repository, ref string, now time.Time) jwt.MapClaims {
	owner, _, _ := strings.Cut(repository, "/")
	return jwt.MapClaims{
		"aud":                   aud,
		"sub":                   "repo:" + repository + ":ref:" + ref,
		"ref":                   ref,
		"ref_type":              "branch",
		"repository":            repository,
		"repository_owner":      owner,
		"repository_owner_id":   "65491232",
		"repository_visibility": "private",
		"run_id":                "7791331130",
		"run_number":            "42",
		"actor":                 "octocat",
		"workflow":              "publish",
		"event_name":            "push",
		"job_workflow_ref":      repository + "/.github/workflows/publish.yml@" + ref,
		"jti":                   "b9a4ff1c-5f3e-4b8f-9c3f-2d3f6d8e1a7b",
		"iat":                   now.Unix(),
		"nbf":                   now.Unix(),
		"exp":                   now.Add(5 * time.Minute).Unix(),
	}
}

// KubernetesClaims are the claims of a projected service-account token of
// serviceAccount in namespace, issued at now for aud.
func KubernetesClaims(aud, namespace, serviceAccount string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"aud": []string{aud},
		"sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
		"kubernetes.io": map[string]any{
			"namespace":      namespace,
			"pod":            map[string]any{"name": "builder-7c9d", "uid": "5d7e2c1a-0000-4000-8000-000000000001"},
			"serviceaccount": map[string]any{"name": serviceAccount, "uid": "5d7e2c1a-0000-4000-8000-000000000002"},
		},
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}
