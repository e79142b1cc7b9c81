package keys

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

const (
	// caName is the common name of the built-in CA's certificate.
	caName = "Tollgate signing CA"
	// leafName is the common name of the certificates it issues.
	leafName = "Tollgate token signing key"
	// caYears is how long the CA certificate is valid.
	caYears = 10
	// clockSkew backdates every certificate's NotBefore.
	clockSkew = time.Hour
)

// CA is Tollgate's built-in certificate authority: a long-lived key and its
// self-signed certificate, which certifies each new signing key. A registry
// whose rootcertbundle is the CA certificate ([CA.BundlePEM]) accepts the
// tokens of every future key, because tokens carry x5c = [leaf, CA]
// (distribution registry/auth/token verifies x5c against rootcertbundle).
// A CA is immutable.
type CA struct {
	priv crypto.Signer
	cert *x509.Certificate
}

// NewCA makes a CA with a new EC P-256 key and a self-signed certificate
// named "Tollgate signing CA", valid from an hour before now for ten years.
func NewCA(now time.Time) (*CA, error) {
	priv, err := generateEC(elliptic.P256())
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.AddDate(caYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it certifies signing keys only, no intermediate CAs
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, priv.Public(), priv)
	if err != nil {
		return nil, fmt.Errorf("keys: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("keys: create CA certificate: %w", err)
	}
	return &CA{priv: priv, cert: cert}, nil
}

// newCAFrom rebuilds a CA from its key and certificate.
func newCAFrom(priv crypto.Signer, cert *x509.Certificate) (*CA, error) {
	equal, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !equal.Equal(cert.PublicKey) {
		return nil, errors.New("keys: CA certificate is for another key than the CA key")
	}
	if !cert.IsCA {
		return nil, errors.New("keys: CA certificate is not a CA certificate")
	}
	return &CA{priv: priv, cert: cert}, nil
}

// Certificate returns the CA certificate. Do not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// BundlePEM returns the CA certificate as PEM: the registry's
// rootcertbundle.
func (ca *CA) BundlePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// String names the CA without key material.
func (ca *CA) String() string {
	return fmt.Sprintf("CA %q (serial %x)", ca.cert.Subject.CommonName, ca.cert.SerialNumber)
}

// GoString keeps %#v from printing key material.
func (ca *CA) GoString() string { return ca.String() }

// Issue makes a new signing key of policy.Algorithm and a certificate for it
// signed by the CA; the key's chain is [leaf, CA]. The leaf is valid from an
// hour before now for as long as the key can be in a ring under policy
// (pre-published, active for Interval, retired until its tokens expire),
// plus a margin for late rotations; never past the CA certificate. Its key
// usage is digital signature only, and it is not a CA. The key sends x5c
// unless policy.X5C is X5CNever.
func (ca *CA) Issue(now time.Time, policy Policy) (*Key, error) {
	policy, err := policy.resolve()
	if err != nil {
		return nil, err
	}
	if policy.Algorithm == algHS256 {
		return nil, fmt.Errorf("keys: %w: a CA cannot certify an HS256 secret", ErrUnsupportedKey)
	}
	priv, err := generateSigner(policy.Algorithm)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(leafLifetime(policy))
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: leafName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, priv.Public(), ca.priv)
	if err != nil {
		return nil, fmt.Errorf("keys: certify signing key: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("keys: certify signing key: %w", err)
	}
	return NewKey(priv, []*x509.Certificate{leaf, ca.cert}, Options{Algorithm: policy.Algorithm, X5C: policy.X5C})
}

// certMargin is leaf validity beyond a key's planned life, so that a late
// rotation does not leave tokens with an expired certificate: one
// Interval, at least a day.
func certMargin(p Policy) time.Duration { return max(p.Interval, 24*time.Hour) }

// leafLifetime is how long a leaf certificate is valid after its key is
// made: pre-published, active for Interval, then (the next key being
// pre-published) retired until its last token expires, plus certMargin.
func leafLifetime(p Policy) time.Duration {
	return p.Interval + 2*p.Prepublish + p.MaxTokenLifetime + VerifyLeeway + certMargin(p)
}

// randomSerial returns a positive 128-bit certificate serial number (RFC
// 5280 §4.1.2.2).
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("keys: certificate serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}
