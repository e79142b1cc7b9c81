// Package keystest holds what the tests of package keys and of the
// registry interop module (cmd/tollgate/interop/keysinterop) share: keys
// and certificates made per test, registry-shaped claims, key rings and
// replicas syncing one through a store. It is for tests only.
package keystest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/clocktest"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// Values that a registry under test is configured with.
const (
	Issuer  = "tollgate-test"
	Service = "registry.test"
)

// AsymmetricAlgorithms are the algorithms that have a public key.
var AsymmetricAlgorithms = []string{"ES256", "ES384", "RS256", "EdDSA"}

// RegistryClaims are claims shaped like distribution's token.ClaimSet.
func RegistryClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": Issuer,
		"sub": "alice",
		"aud": Service,
		"exp": now.Add(5 * time.Minute).Unix(),
		"nbf": now.Add(-time.Second).Unix(),
		"iat": now.Unix(),
		"jti": "k2Qd5Yg0rY3w5fS1hJm7Tw",
		"access": []map[string]any{{
			"type":    "repository",
			"name":    "library/alpine",
			"actions": []string{"pull", "push"},
		}},
	}
}

// Key generates a key of alg (keys.Generate) for one test.
func Key(t testing.TB, alg string) *keys.Key {
	t.Helper()
	k, err := keys.Generate(keys.Options{Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// MustSign signs RegistryClaims of now with k.
func MustSign(t testing.TB, k *keys.Key) string {
	t.Helper()
	raw, err := k.Sign(RegistryClaims(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// WriteDev calls keys.WriteDev into a fresh temp dir and returns the key and
// both paths.
func WriteDev(t testing.TB, alg string) (k *keys.Key, keyPath, certPath string) {
	t.Helper()
	dir := t.TempDir()
	keyPath = filepath.Join(dir, "signing.key")
	certPath = filepath.Join(dir, "signing.crt")
	k, err := keys.WriteDev(keyPath, certPath, keys.Options{Algorithm: alg})
	if err != nil {
		t.Fatalf("WriteDev(%s): %v", alg, err)
	}
	return k, keyPath, certPath
}

// WriteFile writes data with the given mode into dir, exactly (whatever the
// umask).
func WriteFile(t testing.TB, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// PEM encodes der as one PEM block of blockType.
func PEM(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

// WritePKCS8 writes priv as a PKCS#8 PEM file with mode 0600.
func WritePKCS8(t testing.TB, dir, name string, priv crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return WriteFile(t, dir, name, PEM("PRIVATE KEY", der), 0o600)
}

// CertificateFor makes a self-signed CA certificate for priv valid between
// notBefore and notAfter, written as PEM to dir/name.
func CertificateFor(t testing.TB, dir, name string, priv crypto.Signer, notBefore, notAfter time.Time) (*x509.Certificate, string) {
	t.Helper()
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "test " + name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert := certify(t, template, template, priv.Public(), priv)
	return cert, WriteFile(t, dir, name, PEM("CERTIFICATE", cert.Raw), 0o644)
}

// IssuedCertificate makes a leaf certificate for priv, valid for an hour
// either side of now, signed by the CA caCert with caPriv, and writes the
// chain [leaf, CA] as PEM to dir/name.
func IssuedCertificate(t testing.TB, dir, name string, priv crypto.Signer, caCert *x509.Certificate, caPriv crypto.Signer) string {
	t.Helper()
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "test leaf " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	leaf := certify(t, template, caCert, priv.Public(), caPriv)
	chain := append(PEM("CERTIFICATE", leaf.Raw), PEM("CERTIFICATE", caCert.Raw)...)
	return WriteFile(t, dir, name, chain, 0o644)
}

// certify makes a certificate from template, signed as parent by signer.
func certify(t testing.TB, template, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// ShortCoordinateKey returns a P-256 key whose X or Y coordinate has a
// leading zero byte (about 1 key in 128 per coordinate).
func ShortCoordinateKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	for range 20000 {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		point, err := priv.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if point[1] == 0 || point[33] == 0 {
			return priv
		}
	}
	t.Fatal("no P-256 key with a short coordinate in 20000 tries")
	return nil
}

// UnpaddedThumbprint is the EC thumbprint as INTEROP.md says distribution
// 3.1 computes it: coordinates with their leading zero bytes dropped.
func UnpaddedThumbprint(pub *ecdsa.PublicKey) string {
	point, _ := pub.Bytes()
	x := bytes.TrimLeft(point[1:33], "\x00")
	y := bytes.TrimLeft(point[33:], "\x00")
	enc := base64.RawURLEncoding.EncodeToString
	sum := sha256.Sum256(fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, enc(x), enc(y)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Policy is a rotation policy of a month with a day's prepublication.
var Policy = keys.Policy{
	Interval:         30 * 24 * time.Hour,
	Prepublish:       24 * time.Hour,
	MaxTokenLifetime: 15 * time.Minute,
	Algorithm:        "ES256",
}

// NewRing is keys.NewRing, failing the test on an error.
func NewRing(t testing.TB, now time.Time, policy keys.Policy, ca *keys.CA) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(now, policy, ca)
	if err != nil {
		t.Fatalf("NewRing: %v", err)
	}
	return r
}

// Rotate is Ring.Rotate, failing the test on an error.
func Rotate(t testing.TB, r *keys.Ring, now time.Time, policy keys.Policy) *keys.Ring {
	t.Helper()
	next, err := r.Rotate(now, policy, nil)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return next
}

// SyncPolicy is short enough that a test lives through several rotations
// while every certificate stays valid in real time (they start an hour
// before the fake now, and the fake clock moves less than an hour).
var SyncPolicy = keys.Policy{Interval: 8 * time.Minute, Prepublish: time.Minute, MaxTokenLifetime: 2 * time.Minute, Algorithm: "ES256"}

// NewReplicas is n key-ring replicas on SyncPolicy sharing one SQLite
// store and the clock c.
func NewReplicas(t testing.TB, n int, c *clocktest.Clock, ca bool) ([]*keys.Syncer, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ring.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := keys.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	replicas := make([]*keys.Syncer, n)
	for i := range replicas {
		replicas[i] = &keys.Syncer{Store: st, Sealer: sealer, Policy: SyncPolicy, Holder: &keys.Holder{}, CA: ca, Now: c.Now}
	}
	return replicas, st
}

// SyncAll runs Sync on every replica at once, as their schedules would.
func SyncAll(t testing.TB, replicas []*keys.Syncer) {
	t.Helper()
	errs := make(chan error, len(replicas))
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Go(func() { errs <- r.Sync(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
}
