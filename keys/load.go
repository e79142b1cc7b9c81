package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// Load reads a signing key from privateKeyPath and, unless certificatePath is
// empty, its certificate chain from certificatePath.
//
// The key file must not be readable by group or others (else
// ErrKeyPermissions). For HS256 it holds the secret itself (surrounding
// whitespace is trimmed; at least 32 bytes) and certificatePath must be empty.
// Otherwise it is PEM: PKCS#8 "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC1
// "EC PRIVATE KEY", and its type must fit opts.Algorithm.
//
// The certificate file holds one or more PEM certificates, leaf first; the
// leaf must certify this key and be valid now. The chain is sent as x5c.
func Load(privateKeyPath, certificatePath string, opts Options) (*Key, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	data, err := ReadPrivateFile(privateKeyPath)
	if err != nil {
		return nil, err
	}
	if opts.Algorithm == algHS256 {
		return loadSecret(privateKeyPath, certificatePath, data)
	}
	priv, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %w", privateKeyPath, err)
	}
	if err := checkFits(opts.Algorithm, priv); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", privateKeyPath, err)
	}
	var chain []*x509.Certificate
	if certificatePath != "" {
		chain, err = loadChain(certificatePath, priv.Public(), time.Now())
		if err != nil {
			return nil, err
		}
	}
	return newSigningKey(priv, chain, opts)
}

// ReadPrivateFile reads a private key or secret file, refusing one that its
// group or others may read (ErrKeyPermissions, naming the file and its
// mode). Every private file Tollgate reads goes through it: signing keys,
// secrets, the TLS key.
func ReadPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	// Windows has no such permission bits.
	if mode := info.Mode().Perm(); mode&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("keys: %s has mode %04o: %w (chmod 600 it)", path, mode, ErrKeyPermissions)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("keys: read %s: %w", path, err)
	}
	return data, nil
}

// loadSecret builds an HS256 key from a secret file's contents.
func loadSecret(path, certificatePath string, data []byte) (*Key, error) {
	if certificatePath != "" {
		return nil, fmt.Errorf("keys: %s: HS256 keys have no certificate, but certificate %s is set", path, certificatePath)
	}
	secret := bytes.TrimSpace(data)
	if len(secret) < minSecretBytes {
		return nil, fmt.Errorf("keys: %s: %w: HS256 secret is %d bytes, need at least %d", path, ErrUnsupportedKey, len(secret), minSecretBytes)
	}
	return newHMACKey(bytes.Clone(secret)), nil
}

// parsePrivateKey decodes the first private key PEM block in data. "EC
// PARAMETERS" blocks, which openssl writes before SEC1 keys, are skipped.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		if block.Type == "EC PARAMETERS" {
			continue
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("private key is encrypted; decrypt it first (openssl pkey -in old.pem -out new.pem)")
		}
		return parsePEMBlock(block)
	}
}

func parsePEMBlock(block *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T cannot sign", ErrUnsupportedKey, key)
	}
	return signer, nil
}

// checkFits checks that priv is the kind of key alg needs.
func checkFits(alg string, priv crypto.Signer) error {
	ok := false
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		ok = alg == algES256 && curveName(k.Curve) == "P-256" ||
			alg == algES384 && curveName(k.Curve) == "P-384"
	case *rsa.PrivateKey:
		if alg == algRS256 && k.N.BitLen() < minRSABits {
			return fmt.Errorf("%w: RSA key has %d bits, need at least %d", ErrUnsupportedKey, k.N.BitLen(), minRSABits)
		}
		ok = alg == algRS256
	case ed25519.PrivateKey:
		ok = alg == algEdDSA
	}
	if !ok {
		return fmt.Errorf("%w: algorithm %s needs %s, found %s", ErrUnsupportedKey, alg, wantedKey(alg), describeKey(priv))
	}
	return nil
}

func wantedKey(alg string) string {
	switch alg {
	case algES256:
		return "an EC P-256 key"
	case algES384:
		return "an EC P-384 key"
	case algRS256:
		return "an RSA key"
	case algEdDSA:
		return "an Ed25519 key"
	}
	return "a secret"
}

func describeKey(priv crypto.Signer) string {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		return "an EC " + curveName(k.Curve) + " key"
	case *rsa.PrivateKey:
		return fmt.Sprintf("a %d-bit RSA key", k.N.BitLen())
	case ed25519.PrivateKey:
		return "an Ed25519 key"
	}
	return fmt.Sprintf("a %T", priv)
}

// loadChain reads PEM certificates, leaf first, and checks that the leaf
// certifies pub and is valid at now.
func loadChain(path string, pub crypto.PublicKey, now time.Time) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	chain, err := parseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	if err := checkLeaf(chain[0], pub, now); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	return chain, nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return chain, nil
}

// checkLeaf checks what a registry's x509 verification would otherwise reject
// on every token: a leaf for another key, or one outside its validity period.
func checkLeaf(leaf *x509.Certificate, pub crypto.PublicKey, now time.Time) error {
	equal, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !equal.Equal(leaf.PublicKey) {
		return fmt.Errorf("first certificate (%q) is for another key than the private key", leaf.Subject.CommonName)
	}
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("certificate %q is not valid before %s", leaf.Subject.CommonName, leaf.NotBefore.Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("certificate %q expired at %s", leaf.Subject.CommonName, leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}
