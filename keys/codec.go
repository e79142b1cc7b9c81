package keys

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// ringFormat is the version of the serialized ring.
const ringFormat = 1

// ErrRingFormat means serialized ring data is not a ring this version reads.
var ErrRingFormat = errors.New("not a key ring this version of Tollgate reads")

// ringJSON is the serialized ring: public parts in the clear, private keys
// sealed. It is what store.KeyRing.Data holds.
type ringJSON struct {
	Version int         `json:"version"`
	Sealer  string      `json:"sealer"` // Sealer.ID of the key-encryption key
	CA      *caJSON     `json:"ca,omitempty"`
	Keys    []entryJSON `json:"keys"`
}

type caJSON struct {
	Certificate []byte `json:"certificate"` // DER
	PrivateKey  []byte `json:"private_key"` // sealed PKCS#8 DER; additional data: "ca:" + thumbprint
}

type entryJSON struct {
	Kid         string   `json:"kid"`
	Alg         string   `json:"alg"`
	State       State    `json:"state"`
	CreatedAt   string   `json:"created_at"`
	ActivatesAt string   `json:"activates_at"`
	RetiredAt   string   `json:"retired_at,omitempty"`
	DropAt      string   `json:"drop_at,omitempty"`
	Chain       [][]byte `json:"chain,omitempty"` // DER, leaf first
	// PrivateKey is the sealed PKCS#8 DER, or for HS256 the sealed secret;
	// additional data: the kid.
	PrivateKey []byte `json:"private_key"`
}

// Marshal serializes the ring as JSON for storage, private keys (and the
// CA's) sealed by sealer: AES-256-GCM for [NewSealer], bound to each key's
// kid. Certificates are stored as DER, times as RFC 3339 UTC with
// nanoseconds.
func (r *Ring) Marshal(sealer Sealer) ([]byte, error) {
	out := ringJSON{Version: ringFormat, Sealer: sealer.ID(), Keys: make([]entryJSON, 0, len(r.entries))}
	if r.ca != nil {
		ad, err := caAdditionalData(r.ca.cert)
		if err != nil {
			return nil, err
		}
		sealed, err := sealSigner(sealer, r.ca.priv, ad)
		if err != nil {
			return nil, err
		}
		out.CA = &caJSON{Certificate: r.ca.cert.Raw, PrivateKey: sealed}
	}
	for _, e := range r.entries {
		plain, err := e.Key.privateBytes()
		if err != nil {
			return nil, err
		}
		sealed, err := sealer.Seal(plain, []byte(e.Key.id))
		clear(plain)
		if err != nil {
			return nil, fmt.Errorf("keys: seal key %s: %w", e.Key.id, err)
		}
		ej := entryJSON{
			Kid:         e.Key.id,
			Alg:         e.Key.alg,
			State:       e.State,
			CreatedAt:   formatTime(e.CreatedAt),
			ActivatesAt: formatTime(e.ActivatesAt),
			RetiredAt:   formatTime(e.RetiredAt),
			DropAt:      formatTime(e.DropAt),
			PrivateKey:  sealed,
		}
		for _, c := range e.Key.chain {
			ej.Chain = append(ej.Chain, c.Raw)
		}
		out.Keys = append(out.Keys, ej)
	}
	return json.Marshal(out)
}

// Unmarshal restores a ring that [Ring.Marshal] serialized, opening the
// private keys with sealer. A sealer for another secret, or sealed data
// that was changed, gives an error wrapping ErrSealed. Its keys send their
// certificate chains as x5c ([X5CAlways]).
func Unmarshal(data []byte, sealer Sealer) (*Ring, error) {
	return unmarshal(data, sealer, X5CAlways)
}

// unmarshal is Unmarshal for keys of the x5c mode x5c (a [Policy.X5C]).
func unmarshal(data []byte, sealer Sealer, x5c string) (*Ring, error) {
	var in ringJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("keys: %w: %v", ErrRingFormat, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("keys: %w: data after the ring", ErrRingFormat)
	}
	if in.Version != ringFormat {
		return nil, fmt.Errorf("keys: %w: version %d (want %d)", ErrRingFormat, in.Version, ringFormat)
	}
	if in.Sealer != sealer.ID() {
		return nil, fmt.Errorf("keys: %w: the key ring was sealed with another key-encryption secret", ErrSealed)
	}
	var ca *CA
	if in.CA != nil {
		var err error
		if ca, err = decodeCA(in.CA, sealer); err != nil {
			return nil, err
		}
	}
	entries := make([]Entry, 0, len(in.Keys))
	for _, ej := range in.Keys {
		e, err := decodeEntry(ej, sealer, x5c)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return newRing(entries, ca)
}

func decodeCA(in *caJSON, sealer Sealer) (*CA, error) {
	cert, err := x509.ParseCertificate(in.Certificate)
	if err != nil {
		return nil, fmt.Errorf("keys: CA certificate: %w", err)
	}
	ad, err := caAdditionalData(cert)
	if err != nil {
		return nil, err
	}
	plain, err := sealer.Open(in.PrivateKey, ad)
	if err != nil {
		return nil, fmt.Errorf("keys: CA key: %w", err)
	}
	priv, err := parsePKCS8Signer(plain)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("keys: CA key: %w", err)
	}
	return newCAFrom(priv, cert)
}

func decodeEntry(ej entryJSON, sealer Sealer, x5c string) (Entry, error) {
	fail := func(err error) (Entry, error) { return Entry{}, fmt.Errorf("keys: key %q: %w", ej.Kid, err) }
	plain, err := sealer.Open(ej.PrivateKey, []byte(ej.Kid))
	if err != nil {
		return fail(err)
	}
	defer clear(plain)
	var k *Key
	if ej.Alg == algHS256 {
		if len(ej.Chain) > 0 {
			return fail(errors.New("HS256 key with certificates"))
		}
		k = newHMACKey(bytes.Clone(plain))
	} else {
		priv, err := parsePKCS8Signer(plain)
		if err != nil {
			return fail(err)
		}
		var chain []*x509.Certificate
		for i, der := range ej.Chain {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fail(fmt.Errorf("certificate %d: %w", i+1, err))
			}
			chain = append(chain, c)
		}
		if k, err = NewKey(priv, chain, Options{Algorithm: ej.Alg, X5C: x5c}); err != nil {
			return fail(err)
		}
		if k.id != ej.Kid {
			// A ring may hold a loaded key with a libtrust kid.
			if k2, err := NewKey(priv, chain, Options{Algorithm: ej.Alg, KidFormat: KidLibtrust, X5C: x5c}); err == nil {
				k = k2
			}
		}
	}
	if k.id != ej.Kid {
		return fail(fmt.Errorf("%w: stored kid does not match the key", ErrRingFormat))
	}
	e := Entry{Key: k, State: ej.State}
	for _, t := range []struct {
		dst  *time.Time
		text string
	}{{&e.CreatedAt, ej.CreatedAt}, {&e.ActivatesAt, ej.ActivatesAt}, {&e.RetiredAt, ej.RetiredAt}, {&e.DropAt, ej.DropAt}} {
		if *t.dst, err = parseTime(t.text); err != nil {
			return fail(fmt.Errorf("%w: %v", ErrRingFormat, err))
		}
	}
	return e, nil
}

// privateBytes returns the key's private material for sealing: PKCS#8 DER,
// or an HMAC secret. The caller should clear it after use.
func (k *Key) privateBytes() ([]byte, error) {
	switch priv := k.private.(type) {
	case []byte:
		return bytes.Clone(priv), nil
	case crypto.Signer:
		return marshalPKCS8(priv)
	}
	return nil, fmt.Errorf("keys: key %s: %w: private key of type %T", k.id, ErrUnsupportedKey, k.private)
}

func sealSigner(sealer Sealer, priv crypto.Signer, ad []byte) ([]byte, error) {
	der, err := marshalPKCS8(priv)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	sealed, err := sealer.Seal(der, ad)
	if err != nil {
		return nil, fmt.Errorf("keys: seal CA key: %w", err)
	}
	return sealed, nil
}

func marshalPKCS8(priv crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode private key: %w", err)
	}
	return der, nil
}

func parsePKCS8Signer(der []byte) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T cannot sign", ErrUnsupportedKey, key)
	}
	return signer, nil
}

// caAdditionalData binds the sealed CA key to its certificate's key.
func caAdditionalData(cert *x509.Certificate) ([]byte, error) {
	tp, err := Thumbprint(cert.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("keys: CA certificate: %w", err)
	}
	return []byte("ca:" + tp), nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
