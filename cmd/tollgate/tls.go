package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
)

// tlsReloadEvery is how often, at most, the certificate files are looked at
// for a change: on a TLS handshake, never in the background.
const tlsReloadEvery = 5 * time.Second

// newTLSConfig is the HTTPS configuration of server.tls: the certificate
// comes from the files, re-read when they change, and client certificates
// are asked for and verified against client_ca as client_auth says.
func newTLSConfig(c config.TLS, logger *slog.Logger) (*tls.Config, error) {
	certs, err := newCertReloader(c.Cert, c.Key, logger, time.Now)
	if err != nil {
		return nil, err
	}
	return tlsConfig(c, certs)
}

func tlsConfig(c config.TLS, certs *certReloader) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.getCertificate,
	}
	switch c.ClientAuth {
	case "", "none":
		return cfg, nil
	case "request":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("server.tls.client_auth: %q is not none, request or require", c.ClientAuth)
	}
	pool, err := loadCertPool(c.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("server.tls.client_ca: %w", err)
	}
	cfg.ClientCAs = pool
	return cfg, nil
}

func loadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// certReloader serves the certificate of server.tls.cert and .key and
// re-reads the pair when either file's modification time or size changes
// (a renewal by cert-manager or certbot, a Kubernetes secret update), so a
// new certificate applies without a restart. It looks at the files at most
// once every interval, during a handshake; a pair that fails to load (a
// certificate whose key is not written yet) is logged once and the previous
// certificate is served until the files change again.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	now               func() time.Time
	logger            *slog.Logger

	cert atomic.Pointer[tls.Certificate]
	next atomic.Int64 // UnixNano of the next look at the files

	mu      sync.Mutex // one look at a time; guards the fields below
	loaded  fileStamp  // of the files cert came from
	lastErr string     // of the last failed look, logged once
}

// fileStamp tells whether a file pair may have changed.
type fileStamp struct {
	certMod, keyMod   int64 // UnixNano
	certSize, keySize int64
}

// newCertReloader loads the pair; an error here stops the server. now is
// the clock that paces the looks at the files.
func newCertReloader(certFile, keyFile string, logger *slog.Logger, now func() time.Time) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, interval: tlsReloadEvery, now: now, logger: logger}
	st, err := c.stat()
	if err == nil {
		err = c.load(st)
	}
	if err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	c.next.Store(c.now().Add(c.interval).UnixNano())
	return c, nil
}

// getCertificate is tls.Config.GetCertificate.
func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.maybeReload()
	return c.cert.Load(), nil
}

// maybeReload looks at the files if the interval has passed and no other
// handshake is looking already, and loads them if they changed.
func (c *certReloader) maybeReload() {
	now := c.now()
	if now.UnixNano() < c.next.Load() || !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	if now.UnixNano() < c.next.Load() {
		return // another handshake looked while we waited for the lock
	}
	c.next.Store(now.Add(c.interval).UnixNano())
	st, err := c.stat()
	if err == nil && st == c.loaded {
		c.lastErr = ""
		return
	}
	if err == nil {
		err = c.load(st)
	}
	if err != nil {
		if msg := err.Error(); msg != c.lastErr {
			c.lastErr = msg
			c.logger.Error("TLS certificate not reloaded; still serving the previous one",
				"cert", c.certFile, "key", c.keyFile, "error", err)
		}
		return
	}
	c.lastErr = ""
	leaf := c.cert.Load().Leaf
	c.logger.Info("TLS certificate reloaded", "cert", c.certFile,
		"serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter)
}

func (c *certReloader) stat() (fileStamp, error) {
	cs, err := os.Stat(c.certFile)
	if err != nil {
		return fileStamp{}, err
	}
	ks, err := os.Stat(c.keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: cs.ModTime().UnixNano(), keyMod: ks.ModTime().UnixNano(), certSize: cs.Size(), keySize: ks.Size()}, nil
}

// load reads the pair that st describes; the key file is refused, as a
// signing key is, when its group or others may read it. If the files change
// between the stat and the read, the next look sees another stamp and reads
// them again.
func (c *certReloader) load(st fileStamp) error {
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return err
	}
	keyPEM, err := keys.ReadPrivateFile(c.keyFile)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		return err
	}
	if pair.Leaf == nil { // filled by LoadX509KeyPair since Go 1.23
		return errors.New("no leaf certificate")
	}
	c.cert.Store(&pair)
	c.loaded = st
	return nil
}
