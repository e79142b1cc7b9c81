package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
)

// Thumbprint returns the RFC 7638 JWK thumbprint of pub: base64url (no
// padding) of SHA-256 over the required JWK members in lexicographic order
// (RFC 7638 §3.2). It supports RSA, EC P-256 and P-384, and Ed25519 keys.
// EC coordinates are encoded at full length (RFC 7518 §6.2.1.2).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk, err := thumbprintInput(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// thumbprintInput returns the JSON that RFC 7638 §3.2 hashes. Every value is
// base64url or a fixed name, so nothing needs escaping.
func thumbprintInput(pub crypto.PublicKey) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		// RFC 7518 §6.3.1: n and e as unsigned big-endian, minimal length.
		e := big.NewInt(int64(pub.E)).Bytes()
		return fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, b64(e), b64(pub.N.Bytes())), nil
	case *ecdsa.PublicKey:
		x, y, err := coordinates(pub)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, pub.Curve.Params().Name, b64(x), b64(y)), nil
	case ed25519.PublicKey:
		// RFC 8037 §2 and Appendix A.3.
		return fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":%q}`, b64(pub)), nil
	}
	return "", fmt.Errorf("keys: %w: public key of type %T", ErrUnsupportedKey, pub)
}

// coordinates returns the EC point's X and Y at the curve's full byte length.
func coordinates(pub *ecdsa.PublicKey) (x, y []byte, err error) {
	if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() {
		return nil, nil, fmt.Errorf("keys: %w: EC curve %s (want P-256 or P-384)", ErrUnsupportedKey, curveName(pub.Curve))
	}
	point, err := pub.Bytes() // 0x04 || X || Y, each at full length (SEC 1 §2.3.3)
	if err != nil {
		return nil, nil, fmt.Errorf("keys: %w: %v", ErrUnsupportedKey, err)
	}
	size := (len(point) - 1) / 2
	return point[1 : 1+size], point[1+size:], nil
}

// fullLengthCoordinates reports whether neither coordinate of pub starts with
// a zero byte. Only then does distribution v3.1's GetJWKThumbprint, which
// drops leading zeros, agree with RFC 7638.
func fullLengthCoordinates(pub *ecdsa.PublicKey) (bool, error) {
	x, y, err := coordinates(pub)
	if err != nil {
		return false, err
	}
	return x[0] != 0 && y[0] != 0, nil
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "unknown"
	}
	return c.Params().Name
}

// LibtrustKeyID returns the key ID that libtrust (distribution 2.x) gives pub:
// SHA-256 over the PKIX DER of the public key, truncated to 240 bits, base32
// encoded (48 characters, no padding) and split into 12 groups of 4 joined by
// colons, like "ABCD:EFGH:...".
func LibtrustKeyID(pub crypto.PublicKey) (string, error) {
	if _, err := thumbprintInput(pub); err != nil {
		return "", err // same key types as Thumbprint
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("keys: %w: %v", ErrUnsupportedKey, err)
	}
	sum := sha256.Sum256(der)
	encoded := base32.StdEncoding.EncodeToString(sum[:30])
	groups := make([]string, 0, len(encoded)/4)
	for i := 0; i < len(encoded); i += 4 {
		groups = append(groups, encoded[i:i+4])
	}
	return strings.Join(groups, ":"), nil
}

// hmacKeyID names an HMAC secret without revealing it: the first 16
// base64url characters of SHA-256("tollgate-hmac:" + secret).
func hmacKeyID(secret []byte) string {
	h := sha256.New()
	h.Write([]byte("tollgate-hmac:"))
	h.Write(secret)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:16]
}
