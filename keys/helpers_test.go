package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
)

// Values that a registry under test is configured with.
const (
	testIssuer  = "tollgate-test"
	testService = "registry.test"
)

// asymmetricAlgorithms are the algorithms that have a public key.
var asymmetricAlgorithms = []string{"ES256", "ES384", "RS256", "EdDSA"}

// allAlgorithms are all the algorithms the package supports.
var allAlgorithms = append(append([]string(nil), asymmetricAlgorithms...), "HS256")

// registryClaims are claims shaped like distribution's token.ClaimSet.
func registryClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer,
		"sub": "alice",
		"aud": testService,
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

// writeDev calls keys.WriteDev into a fresh temp dir and returns the key and
// both paths.
func writeDev(t testing.TB, alg string) (k *keys.Key, keyPath, certPath string) {
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

// writeFile writes data with the given mode into dir, exactly.
func writeFile(t testing.TB, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask
		t.Fatal(err)
	}
	return path
}

func pemBytes(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

// writePKCS8 writes priv as a PKCS#8 PEM file with mode 0600.
func writePKCS8(t testing.TB, dir, name string, priv crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, pemBytes("PRIVATE KEY", der), 0o600)
}

// certificateFor makes a self-signed CA certificate for priv valid between
// notBefore and notAfter, written as PEM to dir/name.
func certificateFor(t testing.TB, dir, name string, priv crypto.Signer, notBefore, notAfter time.Time) (*x509.Certificate, string) {
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
	der, err := x509.CreateCertificate(rand.Reader, template, template, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, writeFile(t, dir, name, pemBytes("CERTIFICATE", der), 0o644)
}

// shortCoordinateKey returns a P-256 key whose X or Y coordinate has a
// newRSAKey generates an RSA key of bits for one test.
func newRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// newECKey generates an ECDSA key on curve for one test.
func newECKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// newEdKey generates an Ed25519 key for one test.
func newEdKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// leading zero byte (about 1 key in 128 per coordinate).
func shortCoordinateKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	for range 20000 {
		priv := newECKey(t, elliptic.P256())
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
