package keys_test

import (
	"bytes"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
)

func testSecret(fill byte) []byte { return bytes.Repeat([]byte{fill}, 32) }

func newSealer(t testing.TB, secret []byte) keys.Sealer {
	t.Helper()
	s, err := keys.NewSealer(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fullRing has a retired, an active and a pending key (ES256 and EdDSA).
func fullRing(t *testing.T, ca *keys.CA) *keys.Ring {
	t.Helper()
	p := testPolicy
	r := newRing(t, t0, p, ca)
	r = rotate(t, r, t0.Add(time.Hour), p)
	r = r.Advance(t0.Add(time.Hour+p.Prepublish), p)
	p.Algorithm = "EdDSA"
	r = rotate(t, r, t0.Add(2*time.Hour+p.Prepublish+123456789), p)
	if len(r.Entries()) != 3 {
		t.Fatalf("ring has %d entries", len(r.Entries()))
	}
	return r
}

func TestMarshalRoundTrip(t *testing.T) {
	ca, err := keys.NewCA(t0)
	if err != nil {
		t.Fatal(err)
	}
	hmacPolicy := testPolicy
	hmacPolicy.Algorithm = "HS256"
	tests := []struct {
		name string
		ring *keys.Ring
	}{
		{"plain", fullRing(t, nil)},
		{"CA", fullRing(t, ca)},
		{"HS256", newRing(t, t0, hmacPolicy, nil)},
	}
	sealer := newSealer(t, testSecret('a'))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := tt.ring.Marshal(sealer)
			if err != nil {
				t.Fatal(err)
			}
			got, err := keys.Unmarshal(data, newSealer(t, testSecret('a')))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.ring.Entries()
			entries := got.Entries()
			if len(entries) != len(want) {
				t.Fatalf("%d entries, want %d", len(entries), len(want))
			}
			for i, e := range entries {
				w := want[i]
				if e.Key.ID() != w.Key.ID() || e.Key.Algorithm() != w.Key.Algorithm() || e.State != w.State ||
					!e.CreatedAt.Equal(w.CreatedAt) || !e.ActivatesAt.Equal(w.ActivatesAt) ||
					!e.RetiredAt.Equal(w.RetiredAt) || !e.DropAt.Equal(w.DropAt) {
					t.Fatalf("entry %d: %+v, want %+v", i, e, w)
				}
				if len(e.Key.Chain()) != len(w.Key.Chain()) {
					t.Fatalf("entry %d: chain of %d, want %d", i, len(e.Key.Chain()), len(w.Key.Chain()))
				}
				for j, c := range e.Key.Chain() {
					if !c.Equal(w.Key.Chain()[j]) {
						t.Fatalf("entry %d: certificate %d differs", i, j)
					}
				}
				// The restored private key signs what the original verifies.
				raw, err := e.Key.Sign(registryClaims(time.Now()))
				if err != nil {
					t.Fatal(err)
				}
				checkHeader(t, verifyWithJWT(t, raw, w.Key), w.Key)
			}
			if got.Active().ID() != tt.ring.Active().ID() {
				t.Fatal("different active key")
			}
			if !bytes.Equal(got.JWKS(), tt.ring.JWKS()) {
				t.Fatalf("JWKS differs:\n%s\n%s", got.JWKS(), tt.ring.JWKS())
			}
			if (got.CA() == nil) != (tt.ring.CA() == nil) {
				t.Fatal("CA lost or invented")
			}
			if got.CA() != nil {
				if !got.CA().Certificate().Equal(tt.ring.CA().Certificate()) {
					t.Fatal("different CA certificate")
				}
				// The restored CA key certifies new keys that chain to it.
				next := rotate(t, got, t0.Add(1000*time.Hour), testPolicy)
				checkChainsTo(t, next, tt.ring.CA(), t0.Add(1000*time.Hour))
			}
		})
	}
}

// checkChainsTo checks that every key of r has a certificate that verifies
// against ca alone at now.
func checkChainsTo(t *testing.T, r *keys.Ring, ca *keys.CA, now time.Time) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	for _, e := range r.Entries() {
		chain := e.Key.Chain()
		if len(chain) == 0 {
			t.Fatalf("key %s has no certificate", e.Key.ID())
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("key %s: %v", e.Key.ID(), err)
		}
	}
}

func TestUnmarshalWrongSecret(t *testing.T) {
	r := fullRing(t, nil)
	data, err := r.Marshal(newSealer(t, testSecret('a')))
	if err != nil {
		t.Fatal(err)
	}
	_, err = keys.Unmarshal(data, newSealer(t, testSecret('b')))
	if !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("Unmarshal with another secret: %v, want ErrSealed", err)
	}
	if strings.Contains(err.Error(), string(testSecret('b'))) || strings.Contains(err.Error(), string(testSecret('a'))) {
		t.Fatalf("error names the secret: %v", err)
	}
}

// Swapping the sealed private keys of two entries, or flipping a bit, is
// caught by GCM (the kid is the additional data).
func TestUnmarshalTampered(t *testing.T) {
	sealer := newSealer(t, testSecret('a'))
	data, err := fullRing(t, newCA(t)).Marshal(sealer)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	entries := func(m map[string]any) []any { return m["keys"].([]any) }
	flip := func(b64 string) string {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		return base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"bit flip", tamper(func(m map[string]any) {
			e := entries(m)[0].(map[string]any)
			e["private_key"] = flip(e["private_key"].(string))
		})},
		{"swapped keys", tamper(func(m map[string]any) {
			a, b := entries(m)[0].(map[string]any), entries(m)[1].(map[string]any)
			a["private_key"], b["private_key"] = b["private_key"], a["private_key"]
		})},
		{"CA key bit flip", tamper(func(m map[string]any) {
			ca := m["ca"].(map[string]any)
			ca["private_key"] = flip(ca["private_key"].(string))
		})},
		{"truncated", tamper(func(m map[string]any) {
			entries(m)[0].(map[string]any)["private_key"] = "AAAA"
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := keys.Unmarshal(tt.data, sealer); !errors.Is(err, keys.ErrSealed) {
				t.Fatalf("Unmarshal: %v, want ErrSealed", err)
			}
		})
	}
	t.Run("changed kid", func(t *testing.T) {
		// Renaming a key breaks its seal (additional data).
		data := tamper(func(m map[string]any) { entries(m)[0].(map[string]any)["kid"] = "other" })
		if _, err := keys.Unmarshal(data, sealer); !errors.Is(err, keys.ErrSealed) {
			t.Fatalf("Unmarshal: %v, want ErrSealed", err)
		}
	})
	t.Run("format", func(t *testing.T) {
		for _, data := range [][]byte{
			[]byte("not json"),
			tamper(func(m map[string]any) { m["version"] = 2 }),
			tamper(func(m map[string]any) { m["extra"] = true }),
			tamper(func(m map[string]any) { entries(m)[0].(map[string]any)["created_at"] = "yesterday" }),
		} {
			if _, err := keys.Unmarshal(data, sealer); !errors.Is(err, keys.ErrRingFormat) {
				t.Fatalf("Unmarshal(%.40s...): %v, want ErrRingFormat", data, err)
			}
		}
	})
	t.Run("two active keys", func(t *testing.T) {
		data := tamper(func(m map[string]any) {
			for _, e := range entries(m) {
				e.(map[string]any)["state"] = "active"
			}
		})
		if _, err := keys.Unmarshal(data, sealer); err == nil {
			t.Fatal("Unmarshal accepted a ring with three active keys")
		}
	})
}

func newCA(t *testing.T) *keys.CA {
	t.Helper()
	ca, err := keys.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// The stored blob holds no private key material in any encoding.
func TestMarshalHidesPrivateKeys(t *testing.T) {
	priv := newECKey(t, elliptic.P256())
	k, err := keys.NewKey(priv, nil, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := keys.NewRingWithKey(k, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.Marshal(newSealer(t, testSecret('a')))
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	d := priv.D.FillBytes(make([]byte, 32))
	blob := string(data)
	needles := map[string]string{
		"raw D":        string(d),
		"hex D":        hex.EncodeToString(d),
		"raw PKCS#8":   string(der[len(der)/2 : len(der)/2+24]),
		"base64url D":  base64.RawURLEncoding.EncodeToString(d),
		"base64 PKCS8": base64.StdEncoding.EncodeToString(der),
	}
	for off := range 3 { // every alignment of a base64 run
		needles[fmt.Sprintf("base64 D@%d", off)] = base64.StdEncoding.EncodeToString(d[off : off+27])
		needles[fmt.Sprintf("base64 DER@%d", off)] = base64.StdEncoding.EncodeToString(der[20+off : 20+off+27])
	}
	for name, needle := range needles {
		if strings.Contains(blob, needle) {
			t.Fatalf("sealed ring contains the private key (%s)", name)
		}
	}
	// The public parts are in the clear, and the blob opens again.
	if !strings.Contains(blob, k.ID()) {
		t.Fatal("sealed ring lacks the kid")
	}
	restored, err := keys.Unmarshal(data, newSealer(t, testSecret('a')))
	if err != nil {
		t.Fatal(err)
	}
	checkSignsWith(t, restored, k)
}

func TestNewSealerRefusesShortSecret(t *testing.T) {
	for _, n := range []int{0, 16, 31} {
		if _, err := keys.NewSealer(bytes.Repeat([]byte{'s'}, n)); err == nil {
			t.Fatalf("NewSealer accepted a %d-byte secret", n)
		}
	}
	a, b := newSealer(t, testSecret('a')), newSealer(t, testSecret('b'))
	if a.ID() == b.ID() || a.ID() != newSealer(t, testSecret('a')).ID() {
		t.Fatal("sealer IDs do not follow the secret")
	}
	if s := fmt.Sprintf("%v %+v %#v", a, a, a); strings.Contains(s, string(testSecret('a'))) {
		t.Fatalf("sealer prints its secret: %s", s)
	}
	// Each seal has a fresh nonce.
	x, _ := a.Seal([]byte("same"), []byte("kid"))
	y, _ := a.Seal([]byte("same"), []byte("kid"))
	if bytes.Equal(x[:12], y[:12]) {
		t.Fatal("nonce reused")
	}
	if _, err := a.Open(x, []byte("other kid")); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("Open with other additional data: %v, want ErrSealed", err)
	}
}

func TestLoadSecretFile(t *testing.T) {
	dir := t.TempDir()
	secret := testSecret('k')
	ok := writeFile(t, dir, "ok", append(append([]byte(nil), secret...), '\n'), 0o600)
	got, err := keys.LoadSecretFile(ok)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("LoadSecretFile = %q, %v", got, err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		path := writeFile(t, dir, fmt.Sprintf("open%o", mode), secret, mode)
		if _, err := keys.LoadSecretFile(path); !errors.Is(err, keys.ErrKeyPermissions) {
			t.Fatalf("mode %04o: %v, want ErrKeyPermissions", mode, err)
		}
	}
	short := writeFile(t, dir, "short", []byte("too short\n"), 0o600)
	if _, err := keys.LoadSecretFile(short); err == nil {
		t.Fatal("LoadSecretFile accepted a short secret")
	}
	if _, err := keys.LoadSecretFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
