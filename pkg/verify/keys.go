package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
const minRSABits = 2048

// Key kinds: what a key can verify.
const (
	kindHMAC  = "an HMAC secret"
	kindRSA   = "RSA"
	kindP256  = "ECDSA P-256"
	kindP384  = "ECDSA P-384"
	kindEd255 = "Ed25519"
)

// verificationKey is one key and what it may verify.
type verificationKey struct {
	key  any    // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	kind string // kind* constant
	alg  string // the JWK's "alg", when it names one
}

// keySource finds the key for a kid ("" when the token has none).
type keySource interface {
	lookup(ctx context.Context, kid string) (verificationKey, error)
}

// keyKind names the kind of a public key, or fails for one this package
// cannot use.
func keyKind(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", fmt.Errorf("nil RSA key")
		}
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return kindRSA, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "", fmt.Errorf("nil ECDSA key")
		}
		switch k.Curve {
		case elliptic.P256():
			return kindP256, nil
		case elliptic.P384():
			return kindP384, nil
		}
		return "", fmt.Errorf("ECDSA curve %s is not supported", k.Curve.Params().Name)
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("Ed25519 key of %d bytes", len(k))
		}
		return kindEd255, nil
	}
	return "", fmt.Errorf("key type %T is not supported (want *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey)", pub)
}

// kindFits reports whether a key of kind may verify alg; this is what stops
// algorithm confusion (an RSA public key used as an HS256 secret).
func kindFits(kind, alg string) bool {
	switch alg {
	case AlgHS256:
		return kind == kindHMAC
	case AlgRS256:
		return kind == kindRSA
	case AlgES256:
		return kind == kindP256
	case AlgES384:
		return kind == kindP384
	case AlgEdDSA:
		return kind == kindEd255
	}
	return false
}

// hmacKey is the HMACSecret source: every kid maps to the one secret.
type hmacKey []byte

func (h hmacKey) lookup(context.Context, string) (verificationKey, error) {
	return verificationKey{key: []byte(h), kind: kindHMAC}, nil
}

// staticKeys is the PublicKeys source.
type staticKeys map[string]verificationKey

func newStaticKeys(pubs map[string]crypto.PublicKey) staticKeys {
	s := make(staticKeys, len(pubs))
	for kid, pub := range pubs {
		kind, _ := keyKind(pub) // checked by Validate
		s[kid] = verificationKey{key: pub, kind: kind}
	}
	return s
}

func (s staticKeys) lookup(_ context.Context, kid string) (verificationKey, error) {
	return findKey(s, kid)
}

// findKey returns the key for kid; a token without kid gets the only key
// when there is exactly one.
func findKey(set map[string]verificationKey, kid string) (verificationKey, error) {
	if k, ok := set[kid]; ok {
		return k, nil
	}
	if kid == "" && len(set) == 1 {
		for _, k := range set {
			return k, nil
		}
	}
	if kid == "" {
		return verificationKey{}, fmt.Errorf("%w: token has no kid and %d keys are known", ErrUnknownKey, len(set))
	}
	return verificationKey{}, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
}
