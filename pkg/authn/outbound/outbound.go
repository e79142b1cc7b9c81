// Package outbound is what the backends that reach identity providers
// (an OIDC issuer, an OpenID Provider, a directory) share: the roots they
// trust, the system's plus a CA file of the configuration, and the rule
// that they follow redirects over https only.
package outbound

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// Roots are the system's roots plus the PEM certificates of caFile.
func Roots(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	return roots, nil
}

// maxRedirects bounds a chain of redirects.
const maxRedirects = 5

// HTTPSRedirects is an http.Client's CheckRedirect that follows https
// redirects only, a few at most.
func HTTPSRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to %s: https only", req.URL.Redacted())
	}
	if len(via) >= maxRedirects {
		return errors.New("too many redirects")
	}
	return nil
}
