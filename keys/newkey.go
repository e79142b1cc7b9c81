package keys

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
)

// NewKey builds a Key from an asymmetric private key that fits
// opts.Algorithm and an optional certificate chain, leaf first, which
// [Key.Sign] then sends as x5c. The leaf must certify priv's public key; its
// validity period is not checked here (a retired key's certificate may have
// expired), so check it where that matters. HS256 keys are secrets, not
// crypto.Signers: make them with [Generate] or [Load].
func NewKey(priv crypto.Signer, chain []*x509.Certificate, opts Options) (*Key, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if opts.Algorithm == algHS256 {
		return nil, fmt.Errorf("keys: %w: NewKey needs an asymmetric key, not HS256", ErrUnsupportedKey)
	}
	if priv == nil {
		return nil, fmt.Errorf("keys: %w: no private key", ErrUnsupportedKey)
	}
	if err := checkFits(opts.Algorithm, priv); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if len(chain) > 0 {
		equal, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || chain[0] == nil || !equal.Equal(chain[0].PublicKey) {
			return nil, fmt.Errorf("keys: first certificate of the chain is for another key than the private key")
		}
	}
	return newSigningKey(priv, slices.Clone(chain), opts)
}

// NewHMACKey makes an HS256 key from a secret given directly (for example
// from an environment variable) rather than a file; surrounding whitespace
// is trimmed and at least 32 bytes must remain.
func NewHMACKey(secret []byte) (*Key, error) {
	return loadSecret("the HMAC secret", "", secret)
}
