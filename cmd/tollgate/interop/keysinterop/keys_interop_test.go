// These tests run distribution's own token verifier and access controller
// (registry/auth/token, v3.1.2) against our keys, as STYLE.md asks of interop
// tests.

package keysinterop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/keys/keystest"
)

var joseAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.EdDSA, jose.HS256}

// The kid of a generated key is what distribution computes for its
// certificate, and what go-jose computes as the RFC 7638 thumbprint.
func TestDistributionThumbprintMatchesGeneratedKid(t *testing.T) {
	counts := map[string]int{"ES256": 300, "ES384": 30, "RS256": 3, "EdDSA": 30}
	for alg, n := range counts {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			for range n {
				k := keystest.Key(t, alg)
				ours, err := keys.Thumbprint(k.Public())
				if err != nil {
					t.Fatal(err)
				}
				if dist := token.GetJWKThumbprint(k.Public()); k.ID() != dist || ours != dist {
					t.Fatalf("ID() %q, Thumbprint %q, distribution %q", k.ID(), ours, dist)
				}
				if jose := joseThumbprint(t, k.Public()); ours != jose {
					t.Fatalf("Thumbprint %q, go-jose %q", ours, jose)
				}
			}
		})
	}
}

func joseThumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// For an EC key with a short coordinate, distribution's thumbprint is not RFC
// 7638's (go-jose's); ours is RFC 7638's.
func TestDistributionThumbprintDropsLeadingZeros(t *testing.T) {
	priv := keystest.ShortCoordinateKey(t)
	ours, err := keys.Thumbprint(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dist := token.GetJWKThumbprint(&priv.PublicKey)
	if ours == dist {
		t.Fatalf("Thumbprint equals distribution's %q for a short coordinate", dist)
	}
	if jose := joseThumbprint(t, &priv.PublicKey); ours != jose {
		t.Fatalf("Thumbprint %q, go-jose (RFC 7638) %q", ours, jose)
	}
	if dist != keystest.UnpaddedThumbprint(&priv.PublicKey) {
		t.Fatal("distribution no longer drops leading zeros; update INTEROP.md and ThumbprintMismatch")
	}
	path := keystest.WritePKCS8(t, t.TempDir(), "short.pem", priv)
	k, err := keys.Load(path, "", keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !k.ThumbprintMismatch() {
		t.Fatal("ThumbprintMismatch() = false")
	}
}

// token.Verify accepts our tokens by x5c against a root pool, and by kid
// against trusted keys when there is no certificate at all.
func TestDistributionVerify(t *testing.T) {
	for _, alg := range keystest.AsymmetricAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			withCert, keyPath, _ := keystest.WriteDev(t, alg)
			roots := x509.NewCertPool()
			roots.AddCert(withCert.Chain()[0])
			verify(t, keystest.MustSign(t, withCert), token.VerifyOptions{Roots: roots})

			bare, err := keys.Load(keyPath, "", keys.Options{Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			verify(t, keystest.MustSign(t, bare), token.VerifyOptions{
				TrustedKeys: map[string]crypto.PublicKey{bare.ID(): bare.Public()},
			})
		})
	}
	t.Run("HS256", func(t *testing.T) {
		k, err := keys.Generate(keys.Options{Algorithm: "HS256"})
		if err != nil {
			t.Fatal(err)
		}
		verify(t, keystest.MustSign(t, k), token.VerifyOptions{
			TrustedKeys: map[string]crypto.PublicKey{k.ID(): k.VerificationKey()},
		})
	})
}

func verify(t *testing.T, raw string, opts token.VerifyOptions) {
	t.Helper()
	parsed, err := token.NewToken(raw, joseAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	opts.TrustedIssuers = []string{keystest.Issuer}
	opts.AcceptedAudiences = []string{keystest.Service}
	claims, err := parsed.Verify(opts)
	if err != nil {
		t.Fatalf("distribution rejects the token: %v", err)
	}
	if claims.Subject != "alice" || len(claims.Access) != 1 || claims.Access[0].Name != "library/alpine" {
		t.Fatalf("claims %+v", claims)
	}
}

// The registry's token access controller, configured from files as a real
// registry is: which of our tokens does it accept?
func TestDistributionAccessController(t *testing.T) {
	es256, es256Key, es256Cert := keystest.WriteDev(t, "ES256")
	es256Bare := mustLoad(t, es256Key, "", keys.Options{})
	eddsa, eddsaKey, eddsaCert := keystest.WriteDev(t, "EdDSA")
	eddsaBare := mustLoad(t, eddsaKey, "", keys.Options{Algorithm: "EdDSA"})
	libtrust := mustLoad(t, es256Key, es256Cert, keys.Options{KidFormat: keys.KidLibtrust})
	libtrustBare := mustLoad(t, es256Key, "", keys.Options{KidFormat: keys.KidLibtrust})

	dir := t.TempDir()
	short := keystest.ShortCoordinateKey(t)
	shortKey := keystest.WritePKCS8(t, dir, "short.pem", short)
	_, shortCert := keystest.CertificateFor(t, dir, "short.crt", short, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	shortWithCert := mustLoad(t, shortKey, shortCert, keys.Options{})
	shortBare := mustLoad(t, shortKey, "", keys.Options{})
	never, auto := keys.Options{X5C: keys.X5CNever}, keys.Options{X5C: keys.X5CAuto}
	caPriv, issued := newP256(t), newP256(t)
	caCert, caBundle := keystest.CertificateFor(t, dir, "ca.crt", caPriv, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	issuedKey := keystest.WritePKCS8(t, dir, "issued.pem", issued)
	issuedCert := keystest.IssuedCertificate(t, dir, "issued.crt", issued, caCert, caPriv)
	hmac, err := keys.Generate(keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		key        *keys.Key
		rootBundle string
		jwks       []*keys.Key
		wantOK     bool
	}{
		{"ES256 x5c, rootcertbundle", es256, es256Cert, nil, true},
		{"ES256 kid, rootcertbundle", es256Bare, es256Cert, nil, true},
		{"EdDSA x5c, rootcertbundle", eddsa, eddsaCert, nil, true},
		{"EdDSA kid, rootcertbundle", eddsaBare, eddsaCert, nil, true},
		{"ES256 kid, jwks", es256Bare, "", []*keys.Key{es256Bare}, true},
		{"x5c, jwks only: no fallback to kid", es256, "", []*keys.Key{es256Bare}, false},
		{"x5c not in rootcertbundle", es256, eddsaCert, nil, false},
		{"libtrust kid with x5c, rootcertbundle", libtrust, es256Cert, nil, true},
		{"libtrust kid alone, rootcertbundle", libtrustBare, es256Cert, nil, false},
		{"short EC coordinate, x5c", shortWithCert, shortCert, nil, true},
		{"short EC coordinate, kid, rootcertbundle", shortBare, shortCert, nil, false},
		{"short EC coordinate, kid, jwks", shortBare, "", []*keys.Key{shortBare}, true},
		{"HS256 kid, jwks oct key", hmac, "", []*keys.Key{hmac}, false},
		{"x5c never, rootcertbundle", mustLoad(t, es256Key, es256Cert, never), es256Cert, nil, true},
		{"x5c never, jwks only", mustLoad(t, es256Key, es256Cert, never), "", []*keys.Key{es256Bare}, true},
		{"x5c auto, rootcertbundle", mustLoad(t, es256Key, es256Cert, auto), es256Cert, nil, true},
		{"x5c auto, EdDSA, rootcertbundle", mustLoad(t, eddsaKey, eddsaCert, keys.Options{Algorithm: "EdDSA", X5C: keys.X5CAuto}), eddsaCert, nil, true},
		{"x5c auto, libtrust kid, rootcertbundle", mustLoad(t, es256Key, es256Cert, keys.Options{X5C: keys.X5CAuto, KidFormat: keys.KidLibtrust}), es256Cert, nil, true},
		{"x5c auto, short EC coordinate, rootcertbundle", mustLoad(t, shortKey, shortCert, auto), shortCert, nil, true},
		{"x5c never, short EC coordinate, rootcertbundle", mustLoad(t, shortKey, shortCert, never), shortCert, nil, false},
		{"x5c auto, certificate from a CA, rootcertbundle of the CA", mustLoad(t, issuedKey, issuedCert, auto), caBundle, nil, true},
		{"x5c never, certificate from a CA, rootcertbundle of the CA", mustLoad(t, issuedKey, issuedCert, never), caBundle, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ac := accessController(t, tt.rootBundle, tt.jwks)
			err := authorize(ac, keystest.MustSign(t, tt.key))
			if tt.wantOK && err != nil {
				t.Fatalf("registry rejects the token: %v", err)
			}
			if !tt.wantOK {
				if err == nil {
					t.Fatal("registry accepts the token; INTEROP.md says it should not")
				}
				t.Logf("rejected as expected: %v", err)
			}
		})
	}
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func mustLoad(t *testing.T, keyPath, certPath string, opts keys.Options) *keys.Key {
	t.Helper()
	k, err := keys.Load(keyPath, certPath, opts)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// accessController builds distribution's "token" access controller from a
// rootcertbundle file and/or a jwks file listing jwks under their kids.
func accessController(t *testing.T, rootBundle string, jwks []*keys.Key) auth.AccessController {
	t.Helper()
	options := map[string]any{
		"realm":   "https://auth.test/token",
		"issuer":  keystest.Issuer,
		"service": keystest.Service,
	}
	if rootBundle != "" {
		options["rootcertbundle"] = rootBundle
	}
	if len(jwks) > 0 {
		options["jwks"] = writeJWKS(t, jwks)
	}
	ac, err := auth.GetAccessController("token", options)
	if err != nil {
		t.Fatal(err)
	}
	return ac
}

func writeJWKS(t *testing.T, ks []*keys.Key) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range ks {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.VerificationKey(), KeyID: k.ID(), Algorithm: k.Algorithm(), Use: "sig"})
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return keystest.WriteFile(t, t.TempDir(), "jwks.json", data, 0o644)
}

func authorize(ac auth.AccessController, raw string) error {
	req, _ := http.NewRequest(http.MethodGet, "https://registry.test/v2/library/alpine/manifests/latest", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	grant, err := ac.Authorized(req, auth.Access{
		Resource: auth.Resource{Type: "repository", Name: "library/alpine"},
		Action:   "pull",
	})
	if err != nil {
		return err
	}
	if grant.User.Name != "alice" {
		return errors.New("grant for " + grant.User.Name)
	}
	return nil
}
