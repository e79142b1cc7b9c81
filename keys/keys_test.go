package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/keys/keystest"
)

// The kid of a generated key is its RFC 7638 thumbprint, and EC keys have
// full-length coordinates, so that distribution's thumbprint (which drops
// leading zero bytes) is the same. The interop module checks the same
// against distribution's own function (cmd/tollgate/interop/keysinterop).
func TestGenerateKidIsThumbprint(t *testing.T) {
	counts := map[string]int{"ES256": 300, "ES384": 30, "RS256": 2, "EdDSA": 30}
	for alg, n := range counts {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			for range n {
				k := keystest.Key(t, alg)
				want, err := keys.Thumbprint(k.Public())
				if err != nil {
					t.Fatal(err)
				}
				if k.ID() != want {
					t.Fatalf("ID() = %q, Thumbprint = %q", k.ID(), want)
				}
				if k.Algorithm() != alg {
					t.Fatalf("Algorithm() = %q, want %q", k.Algorithm(), alg)
				}
				if k.ThumbprintMismatch() {
					t.Fatalf("generated key %s has ThumbprintMismatch", k.ID())
				}
				if pub, ok := k.Public().(*ecdsa.PublicKey); ok && hasShortCoordinate(t, pub) {
					t.Fatalf("generated EC key %s has a coordinate with a leading zero byte", k.ID())
				}
			}
		})
	}
}

func TestGenerateDefaultIsES256(t *testing.T) {
	k, err := keys.Generate(keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := k.Public().(*ecdsa.PublicKey)
	if k.Algorithm() != "ES256" || !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("default key: alg %q, public %T", k.Algorithm(), k.Public())
	}
	if k.Chain() != nil {
		t.Fatalf("generated key has a chain")
	}
}

func hasShortCoordinate(t *testing.T, pub *ecdsa.PublicKey) bool {
	t.Helper()
	point, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	size := (len(point) - 1) / 2
	return point[1] == 0 || point[1+size] == 0
}

// RFC 7638 §3.1 and RFC 8037 Appendix A.3 give keys and their thumbprints.
func TestThumbprintPublishedVectors(t *testing.T) {
	b64 := base64.RawURLEncoding
	n, err := b64.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	x, err := b64.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"RFC 7638 §3.1 RSA", &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 A.3 Ed25519", ed25519.PublicKey(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keys.Thumbprint(tt.pub)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Thumbprint = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestThumbprintRejectsUnsupportedKeys(t *testing.T) {
	p521 := newECKey(t, elliptic.P521())
	for _, pub := range []crypto.PublicKey{&p521.PublicKey, []byte("secret"), nil} {
		if _, err := keys.Thumbprint(pub); !errors.Is(err, keys.ErrUnsupportedKey) {
			t.Errorf("Thumbprint(%T) error = %v, want ErrUnsupportedKey", pub, err)
		}
		if _, err := keys.LibtrustKeyID(pub); !errors.Is(err, keys.ErrUnsupportedKey) {
			t.Errorf("LibtrustKeyID(%T) error = %v, want ErrUnsupportedKey", pub, err)
		}
	}
}

// A coordinate with a leading zero byte keeps it in the thumbprint (RFC 7518
// §6.2.1.2), unlike distribution 3.1; Load says so with ThumbprintMismatch.
func TestThumbprintPadsShortCoordinates(t *testing.T) {
	priv := shortCoordinateKey(t)
	got, err := keys.Thumbprint(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if unpadded := unpaddedThumbprint(&priv.PublicKey); got == unpadded {
		t.Fatalf("Thumbprint %q equals the thumbprint with leading zeros dropped", got)
	}

	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "short.pem", pemBytes("EC PRIVATE KEY", der), 0o600)
	k, err := keys.Load(path, "", keys.Options{Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	if !k.ThumbprintMismatch() {
		t.Fatal("ThumbprintMismatch() = false for a key with a short coordinate")
	}
	if k.ID() != got {
		t.Fatalf("ID() = %q, want the RFC 7638 thumbprint %q", k.ID(), got)
	}
}

var libtrustFormat = regexp.MustCompile(`^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$`)

func TestLibtrustKeyID(t *testing.T) {
	// A Docker daemon key.json (written by libtrust) published in a
	// provisioning script: its kid and public coordinates.
	x, _ := base64.RawURLEncoding.DecodeString("JuipZ8q29CKnnce0qVzSorTcbeKc96kIN7GEj-pO6ZE")
	y, _ := base64.RawURLEncoding.DecodeString("ezTci7edLG7N7Fa7ZFWheADWzK_pTwY2wn9XlzJaFqg")
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	got, err := keys.LibtrustKeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	if want := "IBUD:XIHZ:7N4J:PLVF:7V2T:CKIK:JFBM:U4SH:TIVB:DCS4:JSCG:5HPC"; got != want {
		t.Fatalf("LibtrustKeyID = %q, want %q", got, want)
	}

	seen := map[string]bool{}
	for _, alg := range []string{"ES256", "ES384", "EdDSA", "ES256", "EdDSA"} {
		k, err := keys.Generate(keys.Options{Algorithm: alg, KidFormat: keys.KidLibtrust})
		if err != nil {
			t.Fatal(err)
		}
		id, err := keys.LibtrustKeyID(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		again, _ := keys.LibtrustKeyID(k.Public())
		if k.ID() != id || again != id {
			t.Fatalf("%s: ID() = %q, LibtrustKeyID = %q then %q", alg, k.ID(), id, again)
		}
		if !libtrustFormat.MatchString(id) {
			t.Fatalf("%s: kid %q is not 12 colon-separated groups of 4 base32 characters", alg, id)
		}
		if seen[id] {
			t.Fatalf("two keys got kid %q", id)
		}
		seen[id] = true
	}
}

func TestHMACKeyIDHidesSecret(t *testing.T) {
	dir := t.TempDir()
	secret := "correct-horse-battery-staple-0123456789"
	path := writeFile(t, dir, "hmac.secret", []byte("\n  "+secret+"\n"), 0o600)
	k, err := keys.Load(path, "", keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.VerificationKey().([]byte), []byte(secret)) {
		t.Fatalf("secret not trimmed: %q", k.VerificationKey())
	}
	if len(k.ID()) != 16 || strings.Contains(secret, k.ID()) {
		t.Fatalf("kid %q: want 16 characters not taken from the secret", k.ID())
	}
	if k.Public() != nil || k.Chain() != nil {
		t.Fatalf("HMAC key has Public %v, Chain %v", k.Public(), k.Chain())
	}
	again, err := keys.Load(path, "", keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Generate(keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != k.ID() || other.ID() == k.ID() {
		t.Fatalf("kids: %q, again %q, other secret %q", k.ID(), again.ID(), other.ID())
	}
}

// Sign's tokens verify with VerificationKey and carry the documented header.
func TestSign(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			written, _, _ := writeDev(t, alg)
			generated, err := keys.Generate(keys.Options{Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []*keys.Key{written, generated} {
				raw, err := k.Sign(registryClaims(time.Now()))
				if err != nil {
					t.Fatal(err)
				}
				if k.SendsX5C() != (len(k.Chain()) > 0) {
					t.Fatalf("SendsX5C() = %v for a chain of %d; the default is always", k.SendsX5C(), len(k.Chain()))
				}
				header := verifyWithJWT(t, raw, k)
				checkHeader(t, header, k)
			}
		})
	}
}

// verifyWithJWT verifies raw with golang-jwt and returns its header.
func verifyWithJWT(t *testing.T, raw string, k *keys.Key) map[string]any {
	t.Helper()
	token, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return k.VerificationKey(), nil },
		jwt.WithValidMethods([]string{k.Algorithm()}),
		jwt.WithIssuer(testIssuer), jwt.WithAudience(testService), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("verify %s token: %v", k.Algorithm(), err)
	}
	return token.Header
}

func checkHeader(t *testing.T, header map[string]any, k *keys.Key) {
	t.Helper()
	if header["alg"] != k.Algorithm() || header["typ"] != "JWT" || header["kid"] != k.ID() {
		t.Fatalf("header %v: want alg %s, typ JWT, kid %s", header, k.Algorithm(), k.ID())
	}
	x5c, hasX5C := header["x5c"].([]any)
	if hasX5C != k.SendsX5C() {
		t.Fatalf("x5c header %v; SendsX5C() = %v", header["x5c"], k.SendsX5C())
	}
	if !hasX5C {
		return
	}
	chain := k.Chain()
	if len(x5c) != len(chain) {
		t.Fatalf("x5c header %v for a chain of %d", header["x5c"], len(chain))
	}
	for i, cert := range chain {
		der, err := base64.StdEncoding.DecodeString(x5c[i].(string))
		if err != nil || !bytes.Equal(der, cert.Raw) {
			t.Fatalf("x5c[%d] is not the standard base64 DER of the certificate (%v)", i, err)
		}
	}
}

func TestSignConcurrently(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "HS256"} {
		k, _, _ := writeDev(t, alg)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				for range 20 {
					raw, err := k.Sign(registryClaims(time.Now()))
					if err != nil {
						errs <- err
						return
					}
					if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return k.VerificationKey(), nil }); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", alg, err)
		}
	}
}

func TestKeyNeverPrintsSecrets(t *testing.T) {
	k, err := keys.Generate(keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	secret := string(k.VerificationKey().([]byte))
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("signing", "key", k)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), logged.String()} {
		if strings.Contains(out, secret) || !strings.Contains(out, k.ID()) {
			t.Errorf("printed as %q: want the kid and not the secret", out)
		}
	}
}

func TestKeyIsImmutable(t *testing.T) {
	k, _, _ := writeDev(t, "ES256")
	k.Chain()[0] = nil
	if k.Chain()[0] == nil {
		t.Fatal("changing Chain()'s slice changed the key")
	}
	h, err := keys.Generate(keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	secret := h.VerificationKey().([]byte)
	secret[0] ^= 0xff
	if bytes.Equal(h.VerificationKey().([]byte), secret) {
		t.Fatal("changing VerificationKey()'s bytes changed the key")
	}
}

// Load reads back what WriteDev wrote, for every algorithm.
func TestLoadRoundTripsWriteDev(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			written, keyPath, certPath := writeDev(t, alg)
			if alg == "HS256" {
				certPath = ""
			}
			loaded, err := keys.Load(keyPath, certPath, keys.Options{Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			checkSameKey(t, written, loaded)
		})
	}
}

// checkSameKey checks that b is a itself: same kid, public key and chain, and
// each verifies the other's tokens.
func checkSameKey(t *testing.T, a, b *keys.Key) {
	t.Helper()
	if a.ID() != b.ID() || a.Algorithm() != b.Algorithm() {
		t.Fatalf("kid/alg %s/%s, want %s/%s", b.ID(), b.Algorithm(), a.ID(), a.Algorithm())
	}
	if pub, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && !pub.Equal(b.Public()) {
		t.Fatal("public keys differ")
	}
	ac, bc := a.Chain(), b.Chain()
	if len(ac) != len(bc) {
		t.Fatalf("chain of %d, want %d", len(bc), len(ac))
	}
	for i := range ac {
		if !ac[i].Equal(bc[i]) {
			t.Fatalf("certificate %d differs", i)
		}
	}
	for _, pair := range [][2]*keys.Key{{a, b}, {b, a}} {
		raw, err := pair[0].Sign(registryClaims(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		verifyWithJWT(t, raw, pair[1])
	}
}

// Load reads PKCS#1, SEC1 (with or without openssl's EC PARAMETERS block)
// and PKCS#8 PEM files.
func TestLoadPEMForms(t *testing.T) {
	rsaKey := newRSAKey(t, 2048)
	p256 := newECKey(t, elliptic.P256())
	p384 := newECKey(t, elliptic.P384())
	edKey := newEdKey(t)
	sec1 := func(priv *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return pemBytes("EC PRIVATE KEY", der)
	}
	pkcs8 := func(priv crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return pemBytes("PRIVATE KEY", der)
	}
	// openssl ecparam -name prime256v1 -genkey writes the curve OID first.
	p256Params := pemBytes("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})

	tests := []struct {
		name string
		alg  string
		file []byte
		pub  crypto.PublicKey
	}{
		{"RSA PKCS#1", "RS256", pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), &rsaKey.PublicKey},
		{"RSA PKCS#8", "RS256", pkcs8(rsaKey), &rsaKey.PublicKey},
		{"P-256 SEC1", "ES256", sec1(p256), &p256.PublicKey},
		{"P-256 SEC1 after EC PARAMETERS", "ES256", append(p256Params, sec1(p256)...), &p256.PublicKey},
		{"P-256 PKCS#8", "ES256", pkcs8(p256), &p256.PublicKey},
		{"P-384 SEC1", "ES384", sec1(p384), &p384.PublicKey},
		{"P-384 PKCS#8", "ES384", pkcs8(p384), &p384.PublicKey},
		{"Ed25519 PKCS#8", "EdDSA", pkcs8(edKey), edKey.Public()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "key.pem", tt.file, 0o600)
			k, err := keys.Load(path, "", keys.Options{Algorithm: tt.alg})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
				t.Fatal("loaded a different public key")
			}
			want, _ := keys.Thumbprint(tt.pub)
			if k.ID() != want {
				t.Fatalf("ID() = %q, want %q", k.ID(), want)
			}
			verifyWithJWT(t, mustSign(t, k), k)
		})
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	rsa1024 := newRSAKey(t, 1024)
	rsa2048 := newRSAKey(t, 2048)
	p256 := newECKey(t, elliptic.P256())
	p521 := newECKey(t, elliptic.P521())
	edKey := newEdKey(t)
	p256Path := writePKCS8(t, dir, "p256.pem", p256)
	rsa2048Path := writePKCS8(t, dir, "rsa2048.pem", rsa2048)
	edPath := writePKCS8(t, dir, "ed25519.pem", edKey)
	p256PEM, err := os.ReadFile(p256Path)
	if err != nil {
		t.Fatal(err)
	}
	_, devKeyPath, devCertPath := writeDev(t, "ES256")
	now := time.Now()
	_, expiredCert := certificateFor(t, dir, "expired.crt", p256, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	_, futureCert := certificateFor(t, dir, "future.crt", p256, now.Add(24*time.Hour), now.Add(48*time.Hour))
	pubDER, _ := x509.MarshalPKIXPublicKey(&p256.PublicKey)
	longSecret := strings.Repeat("s", 40)

	tests := []struct {
		name     string
		keyPath  string
		certPath string
		opts     keys.Options
		wantIs   error
		wantText string
	}{
		{"world-readable key", writeFile(t, dir, "0644.pem", p256PEM, 0o644), "", keys.Options{}, keys.ErrKeyPermissions, "0644"},
		{"group-readable key", writeFile(t, dir, "0640.pem", p256PEM, 0o640), "", keys.Options{}, keys.ErrKeyPermissions, "0640.pem"},
		{"world-readable secret", writeFile(t, dir, "0604.secret", []byte(longSecret), 0o604), "", keys.Options{Algorithm: "HS256"}, keys.ErrKeyPermissions, "0604"},
		{"1024-bit RSA", writePKCS8(t, dir, "rsa1024.pem", rsa1024), "", keys.Options{Algorithm: "RS256"}, keys.ErrUnsupportedKey, "1024 bits"},
		{"short secret", writeFile(t, dir, "short.secret", []byte("  "+strings.Repeat("s", 31)+"\n"), 0o600), "", keys.Options{Algorithm: "HS256"}, keys.ErrUnsupportedKey, "31 bytes"},
		{"ES256 with an RSA key", rsa2048Path, "", keys.Options{Algorithm: "ES256"}, keys.ErrUnsupportedKey, "found a 2048-bit RSA key"},
		{"ES384 with a P-256 key", p256Path, "", keys.Options{Algorithm: "ES384"}, keys.ErrUnsupportedKey, "found an EC P-256 key"},
		{"ES256 with a P-521 key", writePKCS8(t, dir, "p521.pem", p521), "", keys.Options{}, keys.ErrUnsupportedKey, "P-521"},
		{"RS256 with an Ed25519 key", edPath, "", keys.Options{Algorithm: "RS256"}, keys.ErrUnsupportedKey, "found an Ed25519 key"},
		{"EdDSA with an EC key", p256Path, "", keys.Options{Algorithm: "EdDSA"}, keys.ErrUnsupportedKey, "needs an Ed25519 key"},
		{"unknown algorithm", p256Path, "", keys.Options{Algorithm: "PS256"}, keys.ErrUnsupportedKey, "PS256"},
		{"unknown kid format", p256Path, "", keys.Options{KidFormat: "x5t"}, nil, "x5t"},
		{"libtrust kid for HS256", writeFile(t, dir, "ok.secret", []byte(longSecret), 0o600), "", keys.Options{Algorithm: "HS256", KidFormat: keys.KidLibtrust}, nil, "needs a public key"},
		{"HS256 with a certificate", writeFile(t, dir, "ok2.secret", []byte(longSecret), 0o600), devCertPath, keys.Options{Algorithm: "HS256"}, nil, "no certificate"},
		{"certificate for another key", p256Path, devCertPath, keys.Options{}, nil, "another key"},
		{"expired certificate", p256Path, expiredCert, keys.Options{}, nil, "expired"},
		{"certificate not yet valid", p256Path, futureCert, keys.Options{}, nil, "not valid before"},
		{"certificate file without certificates", devKeyPath, writeFile(t, dir, "empty.crt", []byte("nothing here\n"), 0o644), keys.Options{}, nil, "no PEM certificate"},
		{"key in the certificate file", devKeyPath, writeFile(t, dir, "key.crt", p256PEM, 0o644), keys.Options{}, nil, `"PRIVATE KEY" is not a CERTIFICATE`},
		{"encrypted key", writeFile(t, dir, "enc.pem", pemBytes("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), 0o600), "", keys.Options{}, nil, "encrypted"},
		{"public key instead of private", writeFile(t, dir, "pub.pem", pemBytes("PUBLIC KEY", pubDER), 0o600), "", keys.Options{}, nil, `"PUBLIC KEY" is not a private key`},
		{"not PEM", writeFile(t, dir, "junk.pem", []byte("hello"), 0o600), "", keys.Options{}, nil, "no PEM private key"},
		{"missing key file", filepath.Join(dir, "missing.pem"), "", keys.Options{}, fs.ErrNotExist, "missing.pem"},
		{"missing certificate file", p256Path, filepath.Join(dir, "missing.crt"), keys.Options{}, fs.ErrNotExist, "missing.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keys.Load(tt.keyPath, tt.certPath, tt.opts)
			if err == nil {
				t.Fatalf("Load succeeded with kid %s", k.ID())
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %q", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
		})
	}
}

// The key file is named in the permission error, so that the operator knows
// which file to fix.
func TestLoadPermissionErrorNamesFile(t *testing.T) {
	_, keyPath, _ := writeDev(t, "ES256")
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := keys.Load(keyPath, "", keys.Options{})
	if !errors.Is(err, keys.ErrKeyPermissions) || !strings.Contains(err.Error(), keyPath) {
		t.Fatalf("error %v: want ErrKeyPermissions naming %s", err, keyPath)
	}
}

func TestWriteDevFiles(t *testing.T) {
	for _, alg := range asymmetricAlgorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keyPath := filepath.Join(dir, "private", "signing.key")
			certPath := filepath.Join(dir, "public", "signing.crt")
			before := time.Now()
			k, err := keys.WriteDev(keyPath, certPath, keys.Options{Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			checkMode(t, keyPath, 0o600)
			checkMode(t, filepath.Dir(keyPath), 0o700|fs.ModeDir)
			checkMode(t, certPath, 0o644)
			checkKeyFile(t, keyPath)
			checkDevCertificate(t, k, certPath, before)
		})
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode() & (fs.ModePerm | fs.ModeDir); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func checkKeyFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("%s is not one PKCS#8 PEM block", path)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
}

// checkDevCertificate checks the certificate file against the spec of
// WriteDev and verifies it the way a registry does (ExtKeyUsageAny, the
// certificate as its own root).
func checkDevCertificate(t *testing.T, k *keys.Key, certPath string, before time.Time) {
	t.Helper()
	data, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	chain := k.Chain()
	if len(chain) != 1 || !chain[0].Equal(cert) {
		t.Fatal("the key's chain is not the written certificate")
	}
	if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
		t.Fatal("certificate is for another key")
	}
	if cert.Subject.CommonName != "tollgate development signing key" || !cert.IsCA || !cert.BasicConstraintsValid ||
		cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign || cert.SerialNumber.Sign() <= 0 {
		t.Fatalf("certificate fields: CN %q, CA %v, basic constraints %v, key usage %v, serial %v",
			cert.Subject.CommonName, cert.IsCA, cert.BasicConstraintsValid, cert.KeyUsage, cert.SerialNumber)
	}
	if !cert.NotBefore.Before(before.Add(-59*time.Minute)) || cert.NotAfter.Before(before.AddDate(1, 0, 0).Add(-time.Minute)) {
		t.Fatalf("validity %v to %v", cert.NotBefore, cert.NotAfter)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("certificate does not verify as its own root: %v", err)
	}
}

func TestWriteDevSecret(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "hmac.secret")
	certPath := filepath.Join(dir, "hmac.crt")
	k, err := keys.WriteDev(keyPath, certPath, keys.Options{Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, keyPath, 0o600)
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, k.VerificationKey().([]byte)) {
		t.Fatal("the secret is not the file's text")
	}
	if raw, err := base64.RawURLEncoding.DecodeString(string(data)); err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not 32 bytes in base64url (%v)", data, err)
	}
	if _, err := os.Stat(certPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteDev wrote a certificate for HS256: %v", err)
	}
}

func TestWriteDevNeverOverwrites(t *testing.T) {
	for _, existing := range []string{"key", "certificate"} {
		t.Run(existing, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{"key": filepath.Join(dir, "k.pem"), "certificate": filepath.Join(dir, "c.pem")}
			writeFile(t, dir, filepath.Base(paths[existing]), []byte("keep me"), 0o600)
			_, err := keys.WriteDev(paths["key"], paths["certificate"], keys.Options{})
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("error %v, want fs.ErrExist", err)
			}
			if data, _ := os.ReadFile(paths[existing]); string(data) != "keep me" {
				t.Fatalf("existing %s overwritten", existing)
			}
			for name, path := range paths {
				if name == existing {
					continue
				}
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s left behind after a failed WriteDev", name)
				}
			}
		})
	}
}

func TestWriteDevWithoutCertificate(t *testing.T) {
	dir := t.TempDir()
	k, err := keys.WriteDev(filepath.Join(dir, "k.pem"), "", keys.Options{Algorithm: "EdDSA"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Chain() != nil {
		t.Fatal("chain without a certificate path")
	}
	if _, hasX5C := verifyWithJWT(t, mustSign(t, k), k)["x5c"]; hasX5C {
		t.Fatal("x5c without a certificate")
	}
}

func TestNewHMACKey(t *testing.T) {
	k, err := keys.NewHMACKey([]byte("  0123456789abcdef0123456789abcdef\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k.Algorithm() != "HS256" || string(k.VerificationKey().([]byte)) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("NewHMACKey: alg %s, secret not trimmed as expected", k.Algorithm())
	}
	if _, err := keys.NewHMACKey([]byte("short")); !errors.Is(err, keys.ErrUnsupportedKey) {
		t.Errorf("short secret: err = %v, want ErrUnsupportedKey", err)
	}
}
