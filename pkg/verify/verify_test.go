package verify_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/verify"
)

func TestVerifyValidTokens(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384", "RS256", "EdDSA", "HS256"} {
		t.Run(alg, func(t *testing.T) {
			c := newClock()
			k := generate(t, alg)
			v := newVerifier(t, optionsFor(k, c))
			got, err := v.Verify(context.Background(), sign(t, k, claimsAt(c.Now())))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject != "alice" || got.Issuer != testIssuer || !slices.Equal(got.Audience, []string{testAudience}) {
				t.Errorf("claims = %+v", got)
			}
			if !got.ExpiresAt.Equal(epoch.Add(5*time.Minute)) || !got.IssuedAt.Equal(epoch) || !got.NotBefore.Equal(epoch.Add(-time.Second)) {
				t.Errorf("times: exp %v iat %v nbf %v", got.ExpiresAt, got.IssuedAt, got.NotBefore)
			}
			if got.KeyID != k.ID() || got.Algorithm != alg || got.ID != "k2Qd5Yg0rY3w5fS1hJm7Tw" {
				t.Errorf("kid %q alg %q jti %q", got.KeyID, got.Algorithm, got.ID)
			}
			if !slices.Equal(got.Scope, []string{"invoices:read", "invoices:write"}) || !got.HasScope("invoices:write") || got.HasScope("invoices") {
				t.Errorf("scope = %q", got.Scope)
			}
			if !got.Allows("repository", "team/app", "push") || got.Allows("repository", "team/app", "delete") || got.Allows("repository", "team/other", "pull") {
				t.Errorf("access = %+v", got.Access)
			}
		})
	}
}

func TestVerifyScopeAsArray(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	claims := claimsAt(c.Now())
	claims["scope"] = []string{"a", "b"}
	got, err := newVerifier(t, optionsFor(k, c)).Verify(context.Background(), sign(t, k, claims))
	if err != nil || !got.HasScope("b") {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
}

// forge builds a compact JWS with any header, signed with HMAC-SHA256 under
// secret (or unsigned when secret is nil).
func forge(t *testing.T, header map[string]any, claims jwt.MapClaims, secret []byte) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header = header
	if secret == nil {
		s, err := tok.SigningString()
		if err != nil {
			t.Fatal(err)
		}
		return s + "."
	}
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRefusals(t *testing.T) {
	c := newClock()
	now := c.Now()
	es := generate(t, "ES256")
	other := generate(t, "ES256")
	rs := generate(t, "RS256")
	hs := generate(t, "HS256")
	pubs := map[string]crypto.PublicKey{es.ID(): es.Public(), rs.ID(): rs.Public()}
	base := verify.Options{Issuer: testIssuer, Audience: testAudience, PublicKeys: pubs, Now: c.Now}

	with := func(f func(jwt.MapClaims)) jwt.MapClaims {
		cl := claimsAt(now)
		f(cl)
		return cl
	}
	rsaPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(rs.Public())
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claimsAt(now)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// A valid ES256 token with one signature byte flipped.
	tampered := func() string {
		raw := sign(t, es, claimsAt(now))
		i := strings.LastIndexByte(raw, '.')
		sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		sig[len(sig)/2] ^= 1
		return raw[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
	}()
	header := func(alg, kid string) map[string]any { return map[string]any{"alg": alg, "typ": "JWT", "kid": kid} }

	tests := []struct {
		name  string
		opts  func(o *verify.Options)
		token string
		want  error
	}{
		{"garbage", nil, "not a token", verify.ErrMalformed},
		{"three empty parts", nil, "..", verify.ErrMalformed},
		{"bad base64 claims", nil, "eyJhbGciOiJFUzI1NiJ9.!!!.AAAA", verify.ErrMalformed},
		{"missing exp", nil, sign(t, es, with(func(cl jwt.MapClaims) { delete(cl, "exp") })), verify.ErrMalformed},
		{"kid not a string", nil, forge(t, map[string]any{"alg": "ES256", "kid": 7}, claimsAt(now), nil) + "AAAA", verify.ErrMalformed},
		{"alg none", nil, none, verify.ErrAlgorithm},
		{"alg none with kid", nil, forge(t, header("none", es.ID()), claimsAt(now), nil), verify.ErrAlgorithm},
		{"alg unknown", nil, forge(t, header("HS999", es.ID()), claimsAt(now), nil), verify.ErrAlgorithm},
		{"HS256 with RSA public key as secret", nil, forge(t, header("HS256", rs.ID()), claimsAt(now), rsaPEM), verify.ErrAlgorithm},
		{"HS256 token against public keys", nil, sign(t, hs, claimsAt(now)), verify.ErrAlgorithm},
		{"RS256 against HMAC secret", func(o *verify.Options) {
			o.PublicKeys, o.HMACSecret = nil, hs.VerificationKey().([]byte)
		}, sign(t, rs, claimsAt(now)), verify.ErrAlgorithm},
		{"alg outside allow-list", func(o *verify.Options) { o.Algorithms = []string{"ES256"} }, sign(t, rs, claimsAt(now)), verify.ErrAlgorithm},
		{"ES256 header naming the RSA key", nil, forge(t, header("ES256", rs.ID()), claimsAt(now), nil) + "AAAA", verify.ErrAlgorithm},
		{"unknown kid", nil, sign(t, other, claimsAt(now)), verify.ErrUnknownKey},
		{"no kid with two keys", nil, forge(t, map[string]any{"alg": "ES256"}, claimsAt(now), nil) + "AAAA", verify.ErrUnknownKey},
		{"tampered signature", nil, tampered, verify.ErrSignature},
		{"signed by another key under our kid", func(o *verify.Options) {
			o.PublicKeys = map[string]crypto.PublicKey{other.ID(): es.Public()}
		}, sign(t, other, claimsAt(now)), verify.ErrSignature},
		{"wrong HMAC secret", func(o *verify.Options) {
			o.PublicKeys, o.HMACSecret = nil, []byte("another secret of at least 32 bytes!!")
		}, sign(t, hs, claimsAt(now)), verify.ErrSignature},
		{"expired beyond leeway", nil, sign(t, es, with(func(cl jwt.MapClaims) { cl["exp"] = now.Add(-61 * time.Second).Unix() })), verify.ErrExpired},
		{"expired, no leeway", func(o *verify.Options) { o.Leeway = -1 }, sign(t, es, with(func(cl jwt.MapClaims) { cl["exp"] = now.Unix() })), verify.ErrExpired},
		{"expired beyond custom leeway", func(o *verify.Options) { o.Leeway = 5 * time.Second }, sign(t, es, with(func(cl jwt.MapClaims) { cl["exp"] = now.Add(-6 * time.Second).Unix() })), verify.ErrExpired},
		{"not yet valid beyond leeway", nil, sign(t, es, with(func(cl jwt.MapClaims) { cl["nbf"] = now.Add(61 * time.Second).Unix() })), verify.ErrNotYetValid},
		{"wrong issuer", nil, sign(t, es, with(func(cl jwt.MapClaims) { cl["iss"] = "evil" })), verify.ErrIssuer},
		{"no issuer", nil, sign(t, es, with(func(cl jwt.MapClaims) { delete(cl, "iss") })), verify.ErrIssuer},
		{"wrong audience", nil, sign(t, es, with(func(cl jwt.MapClaims) { cl["aud"] = []string{"registry.local", "other"} })), verify.ErrAudience},
		{"no audience", nil, sign(t, es, with(func(cl jwt.MapClaims) { delete(cl, "aud") })), verify.ErrAudience},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			if tt.opts != nil {
				tt.opts(&o)
			}
			got, err := newVerifier(t, o).Verify(context.Background(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %+v, %v; want %v", got, err, tt.want)
			}
			if got.Subject != "" || got.ExpiresAt != (time.Time{}) {
				t.Errorf("claims returned with an error: %+v", got)
			}
		})
	}
}

func TestVerifyWithinLeeway(t *testing.T) {
	c := newClock()
	now := c.Now()
	k := generate(t, "ES256")
	tests := []struct {
		name string
		exp  time.Time
		nbf  time.Time
	}{
		{"expired 59 s ago", now.Add(-59 * time.Second), now.Add(-time.Hour)},
		{"valid in 59 s", now.Add(time.Hour), now.Add(59 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := claimsAt(now)
			cl["exp"], cl["nbf"] = tt.exp.Unix(), tt.nbf.Unix()
			if _, err := newVerifier(t, optionsFor(k, c)).Verify(context.Background(), sign(t, k, cl)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyTokenWithoutKid(t *testing.T) {
	c := newClock()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.NewWithClaims(jwt.SigningMethodES256, claimsAt(c.Now())).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	o := verify.Options{Issuer: testIssuer, Audience: testAudience, Now: c.Now,
		PublicKeys: map[string]crypto.PublicKey{"the-only-key": &priv.PublicKey}}
	if _, err := newVerifier(t, o).Verify(context.Background(), raw); err != nil {
		t.Fatalf("one key: Verify: %v", err)
	}
	o.PublicKeys["another"] = generate(t, "ES256").Public()
	if _, err := newVerifier(t, o).Verify(context.Background(), raw); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("two keys: Verify = %v, want ErrUnknownKey", err)
	}
}

func TestVerifyAnyAudience(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	o := optionsFor(k, c)
	o.Audience, o.AnyAudience = "", true
	cl := claimsAt(c.Now())
	cl["aud"] = "somewhere.else"
	got, err := newVerifier(t, o).Verify(context.Background(), sign(t, k, cl))
	if err != nil || !slices.Equal(got.Audience, []string{"somewhere.else"}) {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
}

func TestVerifyOptionsValidate(t *testing.T) {
	k := generate(t, "ES256")
	pubs := map[string]crypto.PublicKey{k.ID(): k.Public()}
	secret := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name string
		opts verify.Options
	}{
		{"no key source", verify.Options{Issuer: "i", Audience: "a"}},
		{"two key sources", verify.Options{Issuer: "i", Audience: "a", PublicKeys: pubs, HMACSecret: secret}},
		{"no issuer", verify.Options{Audience: "a", PublicKeys: pubs}},
		{"no audience", verify.Options{Issuer: "i", PublicKeys: pubs}},
		{"short secret", verify.Options{Issuer: "i", Audience: "a", HMACSecret: []byte("short")}},
		{"HS256 without secret", verify.Options{Issuer: "i", Audience: "a", PublicKeys: pubs, Algorithms: []string{"HS256"}}},
		{"RS256 with secret", verify.Options{Issuer: "i", Audience: "a", HMACSecret: secret, Algorithms: []string{"RS256"}}},
		{"none allowed", verify.Options{Issuer: "i", Audience: "a", PublicKeys: pubs, Algorithms: []string{"none"}}},
		{"secret as public key", verify.Options{Issuer: "i", Audience: "a", PublicKeys: map[string]crypto.PublicKey{"k": secret}}},
		{"not a URL", verify.Options{Issuer: "i", Audience: "a", JWKSURL: "file:///etc/passwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify.New(tt.opts)
			if !errors.Is(err, verify.ErrOptions) || v != nil {
				t.Fatalf("New = %v, %v; want ErrOptions", v, err)
			}
		})
	}
}

func BenchmarkVerifyES256(b *testing.B) {
	c := newClock()
	k := generate(b, "ES256")
	v := newVerifier(b, optionsFor(k, c))
	raw := sign(b, k, claimsAt(c.Now()))
	ctx := context.Background()
	b.ReportAllocs()
	for range b.N {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}
