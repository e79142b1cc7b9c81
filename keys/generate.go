package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
)

const (
	// generatedRSABits is the size of a generated RS256 key.
	generatedRSABits = 3072
	// minRSABits is the smallest RSA key Load accepts.
	minRSABits = 2048
	// minSecretBytes is the shortest HS256 secret accepted (RFC 7518 §3.2:
	// at least the hash output size).
	minSecretBytes = 32
	// ecAttempts bounds the search for an EC key with full-length
	// coordinates; each attempt fails with probability about 1/128.
	ecAttempts = 64
)

// Generate makes a new random key of the kind opts describe. EC keys are
// chosen so that distribution v3.1 computes the same thumbprint as RFC 7638
// (see [Key.ThumbprintMismatch]). An HS256 secret is 32 random bytes in
// base64url, so that it is printable text.
func Generate(opts Options) (*Key, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if opts.Algorithm == algHS256 {
		secret, err := generateSecret()
		if err != nil {
			return nil, err
		}
		return newHMACKey(secret), nil
	}
	priv, err := generateSigner(opts.Algorithm)
	if err != nil {
		return nil, err
	}
	return newSigningKey(priv, nil, opts)
}

// generateSigner makes a private key for an asymmetric algorithm.
func generateSigner(alg string) (crypto.Signer, error) {
	switch alg {
	case algES256:
		return generateEC(elliptic.P256())
	case algES384:
		return generateEC(elliptic.P384())
	case algRS256:
		priv, err := rsa.GenerateKey(rand.Reader, generatedRSABits)
		if err != nil {
			return nil, fmt.Errorf("keys: generate RSA key: %w", err)
		}
		return priv, nil
	case algEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate Ed25519 key: %w", err)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("keys: %w: algorithm %q has no private key", ErrUnsupportedKey, alg)
}

// generateEC makes EC keys until one has no leading zero byte in either
// coordinate, so that its thumbprint is the same in distribution and RFC 7638.
func generateEC(curve elliptic.Curve) (*ecdsa.PrivateKey, error) {
	for range ecAttempts {
		priv, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate EC key: %w", err)
		}
		full, err := fullLengthCoordinates(&priv.PublicKey)
		if err != nil {
			return nil, err
		}
		if full {
			return priv, nil
		}
	}
	return nil, errors.New("keys: generate EC key: no key with full-length coordinates; is the random source broken?")
}

// generateSecret returns 32 random bytes as base64url text; that text is the
// HMAC secret.
func generateSecret() ([]byte, error) {
	raw := make([]byte, minSecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("keys: generate HMAC secret: %w", err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(raw)), nil
}
