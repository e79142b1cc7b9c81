package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// b64 is the JWS segment encoding (RFC 7515 §2: base64url, no padding).
var b64 = base64.RawURLEncoding

// joseHeader is the JOSE header of every token (RFC 7515 §4.1): alg, typ
// "JWT", kid and, when sent, x5c. The members are in the order golang-jwt's
// map encoding gave them.
type joseHeader struct {
	Alg string   `json:"alg"`
	Kid string   `json:"kid"`
	Typ string   `json:"typ"`
	X5C []string `json:"x5c,omitempty"`
}

// render computes what Sign needs of the key once: the encoded header
// (with x5c when k.sendsX5C) and the signature's encoded length.
func (k *Key) render() {
	h := joseHeader{Alg: k.alg, Kid: k.id, Typ: "JWT"}
	if k.sendsX5C {
		h.X5C = k.x5c
	}
	data, err := json.Marshal(h)
	if err != nil {
		panic("keys: encode JOSE header: " + err.Error()) // only strings: cannot fail
	}
	k.header = b64.EncodeToString(data) + "."
	k.sigLen = 1 + b64.EncodedLen(signatureSize(k.private))
}

// signatureSize is the length of the key's raw signatures (RFC 7518 §3.2,
// §3.3, §3.4; RFC 8037 §3.1), or 0 when unknown: only a size hint.
func signatureSize(priv any) int {
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		return 2 * ((p.Curve.Params().BitSize + 7) / 8)
	case *rsa.PrivateKey:
		return p.Size()
	case ed25519.PrivateKey:
		return ed25519.SignatureSize
	case []byte:
		return sha256.Size
	}
	return 0
}

// jsonAppender is claims that write their own JSON without reflection
// (token.Claims): the hot path's registry tokens.
type jsonAppender interface {
	AppendJSON(b []byte) []byte
}

// encodeClaims encodes claims into buf: through AppendJSON when they have
// it, else encoding/json.
func encodeClaims(buf *bytes.Buffer, claims jwt.Claims) ([]byte, error) {
	if a, ok := claims.(jsonAppender); ok {
		b := a.AppendJSON(buf.AvailableBuffer())
		buf.Write(b) // keeps the grown array for the pool; copies nothing when it fit
		return buf.Bytes(), nil
	}
	if err := json.NewEncoder(buf).Encode(claims); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil // Encode ends with a newline
}

// payloads holds the buffers that claims are encoded into.
var payloads = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledPayload keeps an unusually large claim set's buffer out of the
// pool.
const maxPooledPayload = 64 << 10

// Sign returns the compact JWS of claims (RFC 7515 §7.1). The header holds
// alg, typ "JWT", kid and, when [Key.SendsX5C], x5c; it
// was encoded when the key was built, so a signature costs the claims'
// JSON, one allocation for the token and the signature itself.
func (k *Key) Sign(claims jwt.Claims) (string, error) {
	buf := payloads.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledPayload {
			payloads.Put(buf)
		}
	}()
	buf.Reset()
	payload, err := encodeClaims(buf, claims)
	if err != nil {
		return "", fmt.Errorf("keys: sign with key %s: encode claims: %w", k.id, err)
	}

	var token strings.Builder
	token.Grow(len(k.header) + b64.EncodedLen(len(payload)) + k.sigLen)
	token.WriteString(k.header)
	writeBase64(&token, payload)
	// The signing input stays valid while the signature is appended: a
	// Builder only ever appends to what String returned.
	sig, err := k.method.Sign(token.String(), k.private)
	if err != nil {
		return "", fmt.Errorf("keys: sign with key %s: %w", k.id, err)
	}
	token.WriteByte('.')
	writeBase64(&token, sig)
	return token.String(), nil
}

// writeBase64 appends the base64url encoding of src to b through a buffer
// on the stack. Chunks are a multiple of 3 bytes, so their unpadded
// encodings concatenate to the encoding of src.
func writeBase64(b *strings.Builder, src []byte) {
	var chunk [512]byte
	const step = len(chunk) / 4 * 3
	for len(src) > 0 {
		n := min(len(src), step)
		b64.Encode(chunk[:], src[:n])
		b.Write(chunk[:b64.EncodedLen(n)])
		src = src[n:]
	}
}
