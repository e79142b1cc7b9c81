package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// ErrSealed means sealed key material cannot be opened: it was sealed under
// another secret, or it was corrupted or tampered with.
var ErrSealed = errors.New("sealed key material cannot be opened")

// MinSealingSecret is the shortest key-encryption secret [NewSealer] accepts.
const MinSealingSecret = 32

// HKDF (RFC 5869) labels: one key for AES-256-GCM, one public identifier.
const (
	sealKeyInfo = "tollgate key ring sealing key v1"
	sealIDInfo  = "tollgate key ring sealing key id v1"
)

// Sealer encrypts private key material before it is stored, and decrypts
// it again. Implementations must authenticate additionalData.
type Sealer interface {
	// ID names the key-encryption key without revealing it; it is stored
	// beside sealed data to tell "another secret" from "tampered".
	ID() string
	// Seal encrypts plaintext, bound to additionalData.
	Seal(plaintext, additionalData []byte) ([]byte, error)
	// Open decrypts what Seal returned for the same additionalData; an
	// error wrapping ErrSealed if it cannot.
	Open(sealed, additionalData []byte) ([]byte, error)
}

// gcmSealer seals with AES-256-GCM, a random 96-bit nonce per message.
type gcmSealer struct {
	aead cipher.AEAD
	id   string
}

var _ Sealer = (*gcmSealer)(nil)

// NewSealer returns a Sealer whose AES-256-GCM key is derived from secret
// with HKDF-SHA256. secret must be at least 32 bytes and should be random
// (for example `openssl rand -base64 48`).
func NewSealer(secret []byte) (Sealer, error) {
	if len(secret) < MinSealingSecret {
		return nil, fmt.Errorf("keys: key-encryption secret is %d bytes, need at least %d", len(secret), MinSealingSecret)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, sealKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive sealing key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, secret, nil, sealIDInfo, 12)
	if err != nil {
		return nil, fmt.Errorf("keys: derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keys: sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: sealing cipher: %w", err)
	}
	return &gcmSealer{aead: aead, id: base64.RawURLEncoding.EncodeToString(id)}, nil
}

func (s *gcmSealer) ID() string { return s.id }

// Seal returns nonce || ciphertext || tag.
func (s *gcmSealer) Seal(plaintext, additionalData []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: sealing nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, additionalData), nil
}

func (s *gcmSealer) Open(sealed, additionalData []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, fmt.Errorf("keys: %w: too short", ErrSealed)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], additionalData)
	if err != nil {
		return nil, fmt.Errorf("keys: %w: authentication failed (another secret, or corrupted)", ErrSealed)
	}
	return plain, nil
}

// String names the sealer by ID only.
func (s *gcmSealer) String() string { return "sealer " + s.id }

// GoString keeps %#v from printing the cipher.
func (s *gcmSealer) GoString() string { return s.String() }

// LoadSecretFile reads a key-encryption secret for [NewSealer] from path. Like
// a private key file, it must not be readable by group or others (else
// ErrKeyPermissions). Surrounding whitespace is trimmed; at least 32 bytes
// must remain.
func LoadSecretFile(path string) ([]byte, error) {
	data, err := ReadPrivateFile(path)
	if err != nil {
		return nil, err
	}
	secret := bytes.TrimSpace(data)
	if len(secret) < MinSealingSecret {
		return nil, fmt.Errorf("keys: %s: key-encryption secret is %d bytes, need at least %d", path, len(secret), MinSealingSecret)
	}
	return bytes.Clone(secret), nil
}
