package outbound_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn/outbound"
)

func TestRoots(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := outbound.Roots(good); err != nil {
		t.Errorf("Roots(a CA): %v", err)
	}
	for _, f := range []string{bad, filepath.Join(dir, "missing.pem")} {
		if _, err := outbound.Roots(f); err == nil {
			t.Errorf("Roots(%s) accepted", f)
		}
	}
}

func TestHTTPSRedirects(t *testing.T) {
	req := func(s string) *http.Request { u, _ := url.Parse(s); return &http.Request{URL: u} }
	if err := outbound.HTTPSRedirects(req("https://idp.example/x"), nil); err != nil {
		t.Errorf("https: %v", err)
	}
	if err := outbound.HTTPSRedirects(req("http://idp.example/x"), nil); err == nil {
		t.Error("http followed")
	}
	if err := outbound.HTTPSRedirects(req("https://idp.example/x"), make([]*http.Request, 5)); err == nil {
		t.Error("a sixth redirect followed")
	}
}
