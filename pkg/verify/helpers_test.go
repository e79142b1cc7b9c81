package verify_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/verify"
)

const (
	testIssuer   = "tollgate-test"
	testAudience = "billing.internal"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is an injectable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// claimsAt are valid claims for testAudience at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":   testIssuer,
		"sub":   "alice",
		"aud":   testAudience,
		"exp":   now.Add(5 * time.Minute).Unix(),
		"nbf":   now.Add(-time.Second).Unix(),
		"iat":   now.Unix(),
		"jti":   "k2Qd5Yg0rY3w5fS1hJm7Tw",
		"scope": "invoices:read invoices:write",
		"access": []map[string]any{{
			"type": "repository", "name": "team/app", "actions": []string{"pull", "push"},
		}},
	}
}

// testKey is a signing key made for one test. It is built with crypto/*
// directly: this module depends on nothing of Tollgate, its tests included,
// so it cannot borrow Tollgate's keys package. Its methods are named after
// that package's Key.
type testKey struct {
	alg    string
	id     string
	method jwt.SigningMethod
	priv   any              // crypto.Signer, or []byte for HS256
	pub    crypto.PublicKey // nil for HS256
}

func (k *testKey) ID() string               { return k.id }
func (k *testKey) Algorithm() string        { return k.alg }
func (k *testKey) Public() crypto.PublicKey { return k.pub }

// VerificationKey is the public key, or the secret of an HS256 key.
func (k *testKey) VerificationKey() any {
	if k.pub == nil {
		return k.priv
	}
	return k.pub
}

// Sign signs claims with kid in the header, as Tollgate does.
func (k *testKey) Sign(claims jwt.Claims) (string, error) {
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.id
	return tok.SignedString(k.priv)
}

// generate makes a new key for alg (ES256, ES384, RS256, EdDSA or HS256)
// with a random kid.
func generate(t testing.TB, alg string) *testKey {
	t.Helper()
	k := &testKey{alg: alg, id: randomID(t)}
	var err error
	switch alg {
	case "ES256", "ES384":
		curve, method := elliptic.P256(), jwt.SigningMethod(jwt.SigningMethodES256)
		if alg == "ES384" {
			curve, method = elliptic.P384(), jwt.SigningMethodES384
		}
		var priv *ecdsa.PrivateKey
		priv, err = ecdsa.GenerateKey(curve, rand.Reader)
		if err == nil {
			k.method, k.priv, k.pub = method, priv, &priv.PublicKey
		}
	case "RS256":
		var priv *rsa.PrivateKey
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
		if err == nil {
			k.method, k.priv, k.pub = jwt.SigningMethodRS256, priv, &priv.PublicKey
		}
	case "EdDSA":
		var pub ed25519.PublicKey
		var priv ed25519.PrivateKey
		pub, priv, err = ed25519.GenerateKey(rand.Reader)
		k.method, k.priv, k.pub = jwt.SigningMethodEdDSA, priv, pub
	case "HS256":
		secret := make([]byte, 32) // RFC 7518 §3.2: at least the hash size
		_, err = rand.Read(secret)
		k.method, k.priv = jwt.SigningMethodHS256, secret
	default:
		t.Fatalf("generate: algorithm %q", alg)
	}
	if err != nil {
		t.Fatalf("generate %s key: %v", alg, err)
	}
	return k
}

// randomID is a kid: 16 random bytes, base64url.
func randomID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func sign(t testing.TB, k *testKey, claims jwt.Claims) string {
	t.Helper()
	raw, err := k.Sign(claims)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return raw
}

// optionsFor verifies tokens of k with the clock c.
func optionsFor(k *testKey, c *clock) verify.Options {
	o := verify.Options{Issuer: testIssuer, Audience: testAudience, Now: c.Now}
	if k.Algorithm() == "HS256" {
		o.HMACSecret = k.VerificationKey().([]byte)
	} else {
		o.PublicKeys = map[string]crypto.PublicKey{k.ID(): k.Public()}
	}
	return o
}

func newVerifier(t testing.TB, o verify.Options) *verify.Verifier {
	t.Helper()
	v, err := verify.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// jwkOf encodes a public key as a JWK (RFC 7517, RFC 7518 §6, RFC 8037).
func jwkOf(t testing.TB, kid string, pub crypto.PublicKey) map[string]any {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		pk, err := p.ECDH() // for its uncompressed point, full-length coordinates
		if err != nil {
			t.Fatal(err)
		}
		b := pk.Bytes()
		size := (len(b) - 1) / 2
		return map[string]any{"kty": "EC", "use": "sig", "kid": kid, "crv": p.Curve.Params().Name,
			"x": enc(b[1 : 1+size]), "y": enc(b[1+size:])}
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "use": "sig", "kid": kid, "n": enc(p.N.Bytes()),
			"e": enc(big.NewInt(int64(p.E)).Bytes())}
	case ed25519.PublicKey:
		return map[string]any{"kty": "OKP", "use": "sig", "kid": kid, "crv": "Ed25519", "x": enc(p)}
	}
	t.Fatalf("jwkOf: %T", pub)
	return nil
}

// jwksServer serves a JWK set that tests change, counting requests.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	keys         []map[string]any
	down         bool
	cacheControl string
	delay        time.Duration
	fetches      atomic.Int64
}

func newJWKSServer(t testing.TB, jwks ...map[string]any) *jwksServer {
	s := &jwksServer{keys: jwks}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		down, body, cc, delay := s.down, map[string]any{"keys": s.keys}, s.cacheControl, s.delay
		s.mu.Unlock()
		time.Sleep(delay)
		if down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// jwksOptions verifies against s with the clock c.
func jwksOptions(s *jwksServer, c *clock) verify.Options {
	return verify.Options{Issuer: testIssuer, Audience: testAudience, JWKSURL: s.URL, Now: c.Now}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// epochNow is the wall clock, for the example (which has no injected clock).
func epochNow() time.Time { return time.Now() }
