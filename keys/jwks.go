package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
)

// jwk is a public JSON Web Key (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2). It
// has no member for private key material.
type jwk struct {
	Kty string   `json:"kty"`
	Kid string   `json:"kid"`
	Use string   `json:"use"`
	Alg string   `json:"alg"`
	Crv string   `json:"crv,omitempty"`
	X   string   `json:"x,omitempty"`
	Y   string   `json:"y,omitempty"`
	N   string   `json:"n,omitempty"`
	E   string   `json:"e,omitempty"`
	X5C []string `json:"x5c,omitempty"`
}

// buildJWKS returns the JWK Set (RFC 7517 §5) of the entries' public keys.
// HMAC keys have none and are left out.
func buildJWKS(entries []Entry) []byte {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, e := range entries {
		if k, ok := publicJWK(e.Key); ok {
			set.Keys = append(set.Keys, k)
		}
	}
	data, err := json.Marshal(set)
	if err != nil {
		panic("keys: encode JWKS: " + err.Error()) // only strings: cannot fail
	}
	return data
}

// publicJWK describes k's public key; false for HMAC keys.
func publicJWK(k *Key) (jwk, bool) {
	b64 := base64.RawURLEncoding.EncodeToString
	out := jwk{Kid: k.id, Use: "sig", Alg: k.alg, X5C: k.x5c}
	switch pub := k.public.(type) {
	case *ecdsa.PublicKey:
		x, y, err := coordinates(pub) // full length: RFC 7518 §6.2.1.2
		if err != nil {
			return jwk{}, false
		}
		out.Kty, out.Crv, out.X, out.Y = "EC", pub.Curve.Params().Name, b64(x), b64(y)
	case *rsa.PublicKey:
		out.Kty, out.N, out.E = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	case ed25519.PublicKey:
		out.Kty, out.Crv, out.X = "OKP", "Ed25519", b64(pub)
	default:
		return jwk{}, false
	}
	return out, true
}
