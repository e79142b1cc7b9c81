package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Errors returned by this package. They are wrapped with the file or key they
// concern; test for them with errors.Is.
var (
	// ErrUnsupportedKey means a key, key size or algorithm cannot be used.
	ErrUnsupportedKey = errors.New("unsupported key")
	// ErrKeyPermissions means a private key or secret file can be read by
	// its group or by everyone.
	ErrKeyPermissions = errors.New("key file is readable by group or others")
)

// Kid formats for [Options.KidFormat].
const (
	// KidThumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url), what
	// distribution v3 computes for the certificates in its rootcertbundle.
	KidThumbprint = "thumbprint"
	// KidLibtrust is libtrust's key ID, what distribution 2.x registries expect.
	KidLibtrust = "libtrust"
)

// x5c modes for [Options.X5C]: when [Key.Sign] sends the key's certificate
// chain as the x5c header (RFC 7515 §4.1.6). A key without a chain never
// sends one.
const (
	// X5CAlways sends the chain whenever the key has one.
	X5CAlways = "always"
	// X5CNever never sends it: the registry finds the key by kid, in its
	// jwks file or among its rootcertbundle's thumbprints.
	X5CNever = "never"
	// X5CAuto sends it only where a registry cannot find the key by kid
	// reliably: a libtrust kid (distribution 2.x), a key whose thumbprint
	// distribution 3.x computes differently ([Key.ThumbprintMismatch]),
	// and a key whose certificate a CA issued (a ring's, [CA.Issue], or
	// another), since the registry's rootcertbundle may hold only the CA,
	// whose thumbprint is not the key's kid. A self-signed certificate is
	// itself the bundle, so its kid is found.
	X5CAuto = "auto"
)

// X5CModes are the values Options.X5C and keys.x5c take.
func X5CModes() []string { return []string{X5CAuto, X5CAlways, X5CNever} }

// JWT "alg" values (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	algES256 = "ES256"
	algES384 = "ES384"
	algRS256 = "RS256"
	algEdDSA = "EdDSA"
	algHS256 = "HS256"
)

// signingMethods are the methods Tollgate signs with, the default first:
// the one list that SigningAlgorithms, Options and keys.algorithm take.
var signingMethods = []jwt.SigningMethod{
	jwt.SigningMethodES256,
	jwt.SigningMethodES384,
	jwt.SigningMethodRS256,
	jwt.SigningMethodEdDSA,
	jwt.SigningMethodHS256,
}

// SigningAlgorithms returns the JWT "alg" values (RFC 7518 §3.1, RFC 8037
// §3.1) Tollgate can sign with, the default (ES256) first: what
// keys.algorithm and Options.Algorithm accept. Every one of them is
// verified by pkg/verify's defaults (a test keeps it so), so a service
// that imports pkg/verify accepts whatever Tollgate is configured to sign.
func SigningAlgorithms() []string {
	algs := make([]string, len(signingMethods))
	for i, m := range signingMethods {
		algs[i] = m.Alg()
	}
	return algs
}

// VerifyingAlgorithms returns the "alg" values Tollgate accepts on the
// tokens it verifies itself (introspection, `tollgate token inspect`).
// Those are only tokens it issued, so the list is SigningAlgorithms; a
// token naming any other alg is refused before a key is looked at
// (RFC 8725 §3.1: use an allow-list of algorithms).
func VerifyingAlgorithms() []string { return SigningAlgorithms() }

// Options say which kind of key to make or expect.
type Options struct {
	// Algorithm is the JWT alg: "ES256" (the default when empty), "ES384",
	// "RS256", "EdDSA" or "HS256".
	Algorithm string
	// KidFormat is KidThumbprint (the default when empty) or KidLibtrust.
	// HS256 keys always get their own kid, derived from the secret.
	KidFormat string
	// X5C is X5CAlways (the default when empty), X5CNever or X5CAuto.
	X5C string
}

// resolve fills in defaults and checks the options.
func (o Options) resolve() (Options, error) {
	if o.Algorithm == "" {
		o.Algorithm = algES256
	}
	if o.KidFormat == "" {
		o.KidFormat = KidThumbprint
	}
	if o.X5C == "" {
		o.X5C = X5CAlways
	}
	if signingMethod(o.Algorithm) == nil {
		return o, fmt.Errorf("keys: %w: algorithm %q (want one of %s)", ErrUnsupportedKey, o.Algorithm, strings.Join(SigningAlgorithms(), ", "))
	}
	if o.KidFormat != KidThumbprint && o.KidFormat != KidLibtrust {
		return o, fmt.Errorf("keys: kid format %q (want %q or %q)", o.KidFormat, KidThumbprint, KidLibtrust)
	}
	if !slices.Contains(X5CModes(), o.X5C) {
		return o, fmt.Errorf("keys: x5c mode %q (want %s)", o.X5C, strings.Join(X5CModes(), ", "))
	}
	if o.KidFormat == KidLibtrust && o.Algorithm == algHS256 {
		return o, fmt.Errorf("keys: kid format %q needs a public key; HS256 has none", KidLibtrust)
	}
	return o, nil
}

// signingMethod returns the golang-jwt method for alg, or nil when
// Tollgate does not sign with alg.
func signingMethod(alg string) jwt.SigningMethod {
	for _, m := range signingMethods {
		if m.Alg() == alg {
			return m
		}
	}
	return nil
}

// Key is one token signing key. It is immutable and safe for concurrent use.
type Key struct {
	id       string
	alg      string
	method   jwt.SigningMethod
	private  any // crypto.Signer, or []byte for HMAC
	public   crypto.PublicKey
	chain    []*x509.Certificate
	x5c      []string
	mismatch bool
	sendsX5C bool
	// header is the base64url JOSE header and the "." after it, rendered
	// once: the start of every token the key signs.
	header string
	// sigLen is the length of a base64url signature and the "." before it.
	sigLen int
}

// newSigningKey builds a Key for an asymmetric private key that already fits
// opts.Algorithm. chain may be nil; its leaf must hold priv's public key.
func newSigningKey(priv crypto.Signer, chain []*x509.Certificate, opts Options) (*Key, error) {
	pub := priv.Public()
	id, err := keyID(pub, opts.KidFormat)
	if err != nil {
		return nil, err
	}
	k := &Key{
		id:      id,
		alg:     opts.Algorithm,
		method:  signingMethod(opts.Algorithm),
		private: priv,
		public:  pub,
		chain:   chain,
		x5c:     encodeX5C(chain),
	}
	if ec, ok := pub.(*ecdsa.PublicKey); ok {
		full, err := fullLengthCoordinates(ec)
		if err != nil {
			return nil, err
		}
		k.mismatch = !full
	}
	k.sendsX5C = len(chain) > 0 && sendX5C(opts, k.mismatch || !selfSigned(chain[0]))
	k.render()
	return k, nil
}

// newHMACKey builds an HS256 Key; secret must be long enough already.
func newHMACKey(secret []byte) *Key {
	k := &Key{
		id:      hmacKeyID(secret),
		alg:     algHS256,
		method:  jwt.SigningMethodHS256,
		private: secret,
	}
	k.render()
	return k
}

func keyID(pub crypto.PublicKey, format string) (string, error) {
	if format == KidLibtrust {
		return LibtrustKeyID(pub)
	}
	return Thumbprint(pub)
}

// encodeX5C encodes a chain for the x5c header: standard base64 (not base64url)
// of each certificate's DER, leaf first (RFC 7515 §4.1.6).
func encodeX5C(chain []*x509.Certificate) []string {
	if len(chain) == 0 {
		return nil
	}
	x5c := make([]string, len(chain))
	for i, cert := range chain {
		x5c[i] = base64.StdEncoding.EncodeToString(cert.Raw)
	}
	return x5c
}

// ID returns the key ID, sent as the kid header.
func (k *Key) ID() string { return k.id }

// Algorithm returns the JWT alg: "ES256", "ES384", "RS256", "EdDSA" or "HS256".
func (k *Key) Algorithm() string { return k.alg }

// Public returns the public key, or nil for an HMAC key.
func (k *Key) Public() crypto.PublicKey { return k.public }

// Chain returns the certificate chain, leaf first, or nil when there is none.
func (k *Key) Chain() []*x509.Certificate { return slices.Clone(k.chain) }

// ThumbprintMismatch reports whether distribution v3.1 computes a different
// thumbprint for this key than RFC 7638 does: an EC key with a coordinate
// that has a leading zero byte. A registry then finds the key only through
// x5c (a certificate) or a jwks file that lists it under our kid.
func (k *Key) ThumbprintMismatch() bool { return k.mismatch }

// sendX5C reports whether a key with a chain, built with opts, sends it:
// always, never, or (auto) when a registry cannot rely on its kid: a
// libtrust kid, or kidUnsure (see [X5CAuto]).
func sendX5C(opts Options, kidUnsure bool) bool {
	switch opts.X5C {
	case X5CNever:
		return false
	case X5CAuto:
		return opts.KidFormat == KidLibtrust || kidUnsure
	}
	return true
}

// selfSigned reports whether cert is its own issuer and signer.
func selfSigned(cert *x509.Certificate) bool {
	return bytes.Equal(cert.RawIssuer, cert.RawSubject) &&
		cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
}

// SendsX5C reports whether [Key.Sign] puts the certificate chain in the
// header as x5c: the key has a chain and its [Options.X5C] mode says so.
func (k *Key) SendsX5C() bool { return k.sendsX5C }

// VerificationKey returns what a JWT library needs to verify this key's
// signatures: the public key, or a copy of the secret for HMAC.
func (k *Key) VerificationKey() any {
	if secret, ok := k.private.([]byte); ok {
		return slices.Clone(secret)
	}
	return k.public
}

// String names the key by kid and algorithm; it never prints key material.
func (k *Key) String() string { return fmt.Sprintf("key %s (%s)", k.id, k.alg) }

// GoString keeps %#v from printing key material.
func (k *Key) GoString() string { return k.String() }

// LogValue logs the key as its kid and algorithm only.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.id), slog.String("alg", k.alg))
}
