package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/clocktest"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// pem is the CA certificate in PEM.
func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a leaf with serial and returns its certificate and key in
// PEM: a server certificate for localhost and 127.0.0.1, or a client one.
func (ca *testCA) issue(t *testing.T, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "ci-bot"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames, tmpl.IPAddresses = nil, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

// clientCert is a client certificate for a tls.Config.
func (ca *testCA) clientCert(t *testing.T, serial int64) tls.Certificate {
	t.Helper()
	c, k := ca.issue(t, serial, true)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writePair writes a server certificate with serial to cert.pem and
// key.pem in dir, and returns their paths.
func writePair(t *testing.T, ca *testCA, dir string, serial int64) (certPath, keyPath string) {
	t.Helper()
	c, k := ca.issue(t, serial, false)
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certPath, c)
	writeFile(t, keyPath, k)
	return certPath, keyPath
}

// httpsClient trusts ca and, when given, presents cert whatever CAs the
// server says it accepts (a Go client would otherwise keep quiet a
// certificate of another CA).
func httpsClient(t *testing.T, ca *testCA, cert *tls.Certificate) *http.Client {
	t.Helper()
	tc := &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http.Transport{Proxy: nil, TLSClientConfig: tc, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// startHTTPS runs serve with server.tls set to tc, over a fresh
// development environment, and returns the token endpoint's URL.
func startHTTPS(t *testing.T, tc config.TLS) string {
	t.Helper()
	clearTollgateEnv(t)
	_, cfg := tollgateDir(t)
	cfg.Server.TLS = tc
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return "https://" + startTollgate(t, cfg) + "/oauth2/token?service=" + e2eService
}

// getStatus GETs url; err is a failed exchange (for TLS 1.3, a refused
// client certificate shows on the first read).
func getStatus(c *http.Client, url string) (int, *tls.ConnectionState, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, resp.TLS, nil
}

func TestServeHTTPS(t *testing.T) {
	ca := newTestCA(t, "server CA")
	certPath, keyPath := writePair(t, ca, t.TempDir(), 42)
	url := startHTTPS(t, config.TLS{Cert: certPath, Key: keyPath, ClientAuth: "none"})

	status, state, err := getStatus(httpsClient(t, ca, nil), url)
	if err != nil || status != http.StatusOK {
		t.Fatalf("anonymous GET over HTTPS = %d, %v; want 200", status, err)
	}
	if got := state.PeerCertificates[0].SerialNumber; got.Int64() != 42 {
		t.Errorf("server certificate serial %v, want 42", got)
	}
	if state.Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x, want 1.2 or later", state.Version)
	}
	// Plain HTTP on the HTTPS port is not served.
	plain := strings.Replace(url, "https://", "http://", 1)
	if status, _, err := getStatus(&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}, plain); err == nil && status == http.StatusOK {
		t.Errorf("plain HTTP to the HTTPS listener = %d, want a refusal", status)
	}
}

func TestServeClientCertificates(t *testing.T) {
	serverCA, clientCA, otherCA := newTestCA(t, "server CA"), newTestCA(t, "client CA"), newTestCA(t, "other CA")
	dir := t.TempDir()
	certPath, keyPath := writePair(t, serverCA, dir, 7)
	caPath := filepath.Join(dir, "client-ca.pem")
	writeFile(t, caPath, clientCA.pem())
	signed, foreign := clientCA.clientCert(t, 100), otherCA.clientCert(t, 200)

	tests := []struct {
		clientAuth                  string
		noCert, signedOK, foreignOK bool
	}{
		{clientAuth: "require", noCert: false, signedOK: true, foreignOK: false},
		{clientAuth: "request", noCert: true, signedOK: true, foreignOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.clientAuth, func(t *testing.T) {
			url := startHTTPS(t, config.TLS{Cert: certPath, Key: keyPath, ClientCA: caPath, ClientAuth: tt.clientAuth})
			for _, c := range []struct {
				name   string
				cert   *tls.Certificate
				wantOK bool
			}{
				{"without a certificate", nil, tt.noCert},
				{"with a certificate signed by client_ca", &signed, tt.signedOK},
				{"with a certificate of another CA", &foreign, tt.foreignOK},
			} {
				status, _, err := getStatus(httpsClient(t, serverCA, c.cert), url)
				switch {
				case c.wantOK && (err != nil || status != http.StatusOK):
					t.Errorf("%s: %d, %v; want 200", c.name, status, err)
				case !c.wantOK && err == nil:
					t.Errorf("%s: answered %d, want the handshake refused", c.name, status)
				case !c.wantOK && !strings.Contains(err.Error(), "certificate"):
					t.Errorf("%s: %v, want a refused certificate", c.name, err)
				}
			}
		})
	}
}

func TestTLSConfigRefusesBadFiles(t *testing.T) {
	ca := newTestCA(t, "server CA")
	dir := t.TempDir()
	certPath, keyPath := writePair(t, ca, dir, 1)
	otherKey := filepath.Join(dir, "other-key.pem")
	_, k := ca.issue(t, 2, false)
	writeFile(t, otherKey, k)
	tests := []struct {
		name string
		tc   config.TLS
	}{
		{"missing certificate", config.TLS{Cert: filepath.Join(dir, "nope.pem"), Key: keyPath, ClientAuth: "none"}},
		{"key of another certificate", config.TLS{Cert: certPath, Key: otherKey, ClientAuth: "none"}},
		{"client_ca without a certificate", config.TLS{Cert: certPath, Key: keyPath, ClientCA: keyPath, ClientAuth: "require"}},
		{"missing client_ca", config.TLS{Cert: certPath, Key: keyPath, ClientCA: filepath.Join(dir, "nope.pem"), ClientAuth: "require"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newTLSConfig(tt.tc, slog.New(slog.DiscardHandler)); err == nil {
				t.Error("newTLSConfig = nil error, want the files refused")
			}
		})
	}
}

// The TLS private key is refused when its group or others may read it,
// with the check and the words of the signing key's (keys.ReadPrivateFile),
// at start and when the files are re-read; 0600 and 0400 are fine.
func TestTLSKeyFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits on Windows")
	}
	ca := newTestCA(t, "server CA")
	tests := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o640, false}, {0o604, false}, {0o644, false}, {0o440, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			certPath, keyPath := writePair(t, ca, t.TempDir(), 1)
			if err := os.Chmod(keyPath, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := newTLSConfig(config.TLS{Cert: certPath, Key: keyPath, ClientAuth: "none"}, slog.New(slog.DiscardHandler))
			if tt.ok {
				if err != nil {
					t.Fatalf("mode %04o refused: %v", tt.mode, err)
				}
				return
			}
			_, signingErr := keys.Load(keyPath, "", keys.Options{Algorithm: "ES256"})
			if !errors.Is(err, keys.ErrKeyPermissions) || signingErr == nil || !strings.Contains(err.Error(), signingErr.Error()) {
				t.Errorf("mode %04o: error %v; want ErrKeyPermissions worded as for a signing key (%v)", tt.mode, err, signingErr)
			}
		})
	}
	t.Run("on reload", func(t *testing.T) {
		dir := t.TempDir()
		certPath, keyPath := writePair(t, ca, dir, 1)
		logs := &logtest.Buffer{}
		clock := clocktest.New(time.Now())
		certs, err := newCertReloader(certPath, keyPath, slog.New(slog.NewJSONHandler(logs, nil)), clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		c2, k2 := ca.issue(t, 2, false)
		writeFile(t, certPath, c2)
		writeFile(t, keyPath, k2)
		if err := os.Chmod(keyPath, 0o644); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Minute)
		touch(t, certPath, later)
		touch(t, keyPath, later)
		clock.Advance(tlsReloadEvery)
		cert, _ := certs.getCertificate(nil)
		if got := cert.Leaf.SerialNumber.Int64(); got != 1 {
			t.Errorf("serial %d after a renewal with a readable key, want the previous certificate (1)", got)
		}
		if !strings.Contains(logs.String(), keys.ErrKeyPermissions.Error()) {
			t.Errorf("the refused key is not logged:\n%s", logs.String())
		}
	})
}

// touch moves the file's modification time forward, so a rewrite within the
// file system's time granularity is still seen.
func touch(t *testing.T, path string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// A renewed certificate is served without a restart: a client handshaking
// after the next look at the files sees the new serial. A half-written pair
// is logged once and the previous certificate served meanwhile.
func TestCertificateReload(t *testing.T) {
	ca := newTestCA(t, "server CA")
	dir := t.TempDir()
	certPath, keyPath := writePair(t, ca, dir, 1)
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	clock := clocktest.New(time.Now())
	certs, err := newCertReloader(certPath, keyPath, logger, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tlsConfig(config.TLS{ClientAuth: "none"}, certs)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), TLSConfig: tc, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // handshakes cut off by Close
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	serial := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.pool(), ServerName: "localhost"})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	wantSerial := func(want int64, why string) {
		t.Helper()
		if got := serial(); got != want {
			t.Fatalf("%s: serial %d, want %d\nlogs:\n%s", why, got, want, logs.String())
		}
	}
	later := time.Now().Add(time.Minute)

	wantSerial(1, "at start")
	c2, k2 := ca.issue(t, 2, false)
	writeFile(t, certPath, c2)
	writeFile(t, keyPath, k2)
	touch(t, certPath, later)
	touch(t, keyPath, later)
	wantSerial(1, "before the interval has passed")
	clock.Advance(tlsReloadEvery)
	wantSerial(2, "after the files changed and the interval passed")

	// Half a renewal: the certificate is new, its key not yet written.
	c3, k3 := ca.issue(t, 3, false)
	writeFile(t, certPath, c3)
	touch(t, certPath, later.Add(time.Minute))
	clock.Advance(tlsReloadEvery)
	wantSerial(2, "while the key does not match")
	clock.Advance(tlsReloadEvery)
	wantSerial(2, "still, a look later")
	if n := strings.Count(logs.String(), "TLS certificate not reloaded"); n != 1 {
		t.Errorf("%d error lines for the unmatched pair, want 1:\n%s", n, logs.String())
	}
	writeFile(t, keyPath, k3)
	touch(t, keyPath, later.Add(time.Minute))
	clock.Advance(tlsReloadEvery)
	wantSerial(3, "once the key is written")
	if n := strings.Count(logs.String(), "TLS certificate reloaded"); n != 2 {
		t.Errorf("%d reload lines, want 2:\n%s", n, logs.String())
	}
}
