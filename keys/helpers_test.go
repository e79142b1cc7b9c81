package keys_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/tollgate/tollgate/keys/keystest"
)

// Values that a registry under test is configured with.
const (
	testIssuer  = keystest.Issuer
	testService = keystest.Service
)

// What these tests share with the interop module's (keys/keystest).
var (
	asymmetricAlgorithms = keystest.AsymmetricAlgorithms
	registryClaims       = keystest.RegistryClaims
	mustSign             = keystest.MustSign
	writeDev             = keystest.WriteDev
	writeFile            = keystest.WriteFile
	pemBytes             = keystest.PEM
	writePKCS8           = keystest.WritePKCS8
	certificateFor       = keystest.CertificateFor
	issuedCertificate    = keystest.IssuedCertificate
	shortCoordinateKey   = keystest.ShortCoordinateKey
	unpaddedThumbprint   = keystest.UnpaddedThumbprint
	testPolicy           = keystest.Policy
	newRing              = keystest.NewRing
	rotate               = keystest.Rotate
	syncPolicy           = keystest.SyncPolicy
	newReplicas          = keystest.NewReplicas
	syncAll              = keystest.SyncAll
)

// allAlgorithms are all the algorithms the package supports.
var allAlgorithms = append(append([]string(nil), asymmetricAlgorithms...), "HS256")

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
