package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// devCertificateName is the common name of WriteDev's certificate.
const devCertificateName = "tollgate development signing key"

// WriteDev generates a key as [Generate] does and writes it to
// privateKeyPath (mode 0600, missing directories 0700): PKCS#8 PEM, or for
// HS256 the secret's text. Unless the key is HS256 or certificatePath is
// empty, it also writes a self-signed CA certificate for the key to
// certificatePath (PEM, mode 0644), valid for a year, which can serve as the
// registry's rootcertbundle; the returned Key then sends it as x5c.
//
// WriteDev never overwrites: if either file exists it fails with an error
// that wraps fs.ErrExist.
func WriteDev(privateKeyPath, certificatePath string, opts Options) (*Key, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if opts.Algorithm == algHS256 {
		return writeDevSecret(privateKeyPath)
	}
	priv, err := generateSigner(opts.Algorithm)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	if certificatePath != "" {
		cert, err := selfSign(priv, time.Now())
		if err != nil {
			return nil, err
		}
		chain = []*x509.Certificate{cert}
	}
	if err := writeDevFiles(privateKeyPath, certificatePath, priv, chain); err != nil {
		return nil, err
	}
	return newSigningKey(priv, chain, opts)
}

func writeDevSecret(path string) (*Key, error) {
	secret, err := generateSecret()
	if err != nil {
		return nil, err
	}
	if err := writeNewFile(path, secret, 0o600, 0o700); err != nil {
		return nil, err
	}
	return newHMACKey(secret), nil
}

// writeDevFiles writes the key and, when chain is set, the certificate; if the
// certificate cannot be written, the key file is removed again.
func writeDevFiles(keyPath, certPath string, priv crypto.Signer, chain []*x509.Certificate) error {
	if len(chain) > 0 {
		if _, err := os.Lstat(certPath); err == nil {
			return fmt.Errorf("keys: %s: %w", certPath, fs.ErrExist)
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("keys: encode private key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeNewFile(keyPath, keyPEM, 0o600, 0o700); err != nil {
		return err
	}
	if len(chain) == 0 {
		return nil
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw})
	if err := writeNewFile(certPath, certPEM, 0o644, 0o755); err != nil {
		return errors.Join(err, os.Remove(keyPath))
	}
	return nil
}

// selfSign makes a self-signed CA certificate for priv, valid from an hour
// before now (for clock skew) for a year.
func selfSign(priv crypto.Signer, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("keys: certificate serial: %w", err)
	}
	serial.Add(serial, big.NewInt(1)) // RFC 5280 §4.1.2.2: positive
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: devCertificateName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, priv.Public(), priv)
	if err != nil {
		return nil, fmt.Errorf("keys: self-sign certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// writeNewFile creates path with exactly mode perm, failing if it exists,
// and creates missing parent directories with mode dirPerm.
func writeNewFile(path string, data []byte, perm, dirPerm fs.FileMode) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	// OpenFile's mode is filtered by the umask; make it exact.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("keys: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("keys: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keys: write %s: %w", path, err)
	}
	return nil
}
