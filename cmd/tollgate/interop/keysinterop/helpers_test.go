package keysinterop_test

// Helpers shared with the keys package's own tests (keys/helpers_test.go,
// keys/ring_test.go, keys/sync_test.go), copied: a test package cannot
// import another's.

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
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// Values that a registry under test is configured with.
const (
	testIssuer  = "tollgate-test"
	testService = "registry.test"
)

// asymmetricAlgorithms are the algorithms that have a public key.
var asymmetricAlgorithms = []string{"ES256", "ES384", "RS256", "EdDSA"}

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

func mustSign(t *testing.T, k *keys.Key) string {
	t.Helper()
	raw, err := k.Sign(registryClaims(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return raw
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
// leading zero byte (about 1 key in 128 per coordinate).
func shortCoordinateKey(t testing.TB) *ecdsa.PrivateKey {
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

// unpaddedThumbprint is the EC thumbprint as INTEROP.md says distribution
// 3.1 computes it: coordinates with their leading zero bytes dropped.
func unpaddedThumbprint(pub *ecdsa.PublicKey) string {
	point, _ := pub.Bytes()
	x := bytes.TrimLeft(point[1:33], "\x00")
	y := bytes.TrimLeft(point[33:], "\x00")
	enc := base64.RawURLEncoding.EncodeToString
	sum := sha256.Sum256(fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, enc(x), enc(y)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var testPolicy = keys.Policy{
	Interval:         30 * 24 * time.Hour,
	Prepublish:       24 * time.Hour,
	MaxTokenLifetime: 15 * time.Minute,
	Algorithm:        "ES256",
}

func newRing(t testing.TB, now time.Time, policy keys.Policy, ca *keys.CA) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(now, policy, ca)
	if err != nil {
		t.Fatalf("NewRing: %v", err)
	}
	return r
}

func rotate(t testing.TB, r *keys.Ring, now time.Time, policy keys.Policy) *keys.Ring {
	t.Helper()
	next, err := r.Rotate(now, policy, nil)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return next
}

// clock is a settable time source shared by the replicas of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncPolicy is short enough that a test lives through several rotations
// while every certificate stays valid in real time (they start an hour
// before the fake now, and the fake clock moves less than an hour).
var syncPolicy = keys.Policy{Interval: 8 * time.Minute, Prepublish: time.Minute, MaxTokenLifetime: 2 * time.Minute, Algorithm: "ES256"}

func newReplicas(t *testing.T, n int, c *clock, ca bool) ([]*keys.Syncer, store.Store) {
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
		replicas[i] = &keys.Syncer{Store: st, Sealer: sealer, Policy: syncPolicy, Holder: &keys.Holder{}, CA: ca, Now: c.Now}
	}
	return replicas, st
}

// syncAll runs Sync on every replica at once, as their schedules would.
func syncAll(t *testing.T, replicas []*keys.Syncer) {
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
