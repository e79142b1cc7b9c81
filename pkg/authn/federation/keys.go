package federation

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/pkg/authn/outbound"
	"github.com/tollgate/tollgate/pkg/verify"
)

// discoveryRetry is how soon discovery is tried again after it failed:
// a flood of tokens of an issuer that is down costs it one request per
// interval, and each of them an immediate answer.
const discoveryRetry = 10 * time.Second

// maxDiscovery bounds a discovery document.
const maxDiscovery = 1 << 20

// keys finds the verifier of one issuer: made at once for a JWKS file or
// URL, at first use for discovery.
type keys struct {
	p      *policy
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	verifier *verify.Verifier
	tried    time.Time // last failed discovery
	err      error     // its error
}

// newKeys reads the JWKS and CA files of p.
func newKeys(p *policy, now func() time.Time) (*keys, error) {
	client, err := httpClient(p)
	if err != nil {
		return nil, err
	}
	k := &keys{p: p, client: client, now: now}
	switch {
	case p.jwksFile != "":
		set, err := os.ReadFile(p.jwksFile)
		if err != nil {
			return nil, fmt.Errorf("issuer %s: jwks_file: %w", p.issuer, err)
		}
		k.verifier, err = k.newVerifier(verify.Options{JWKS: set})
		if err != nil {
			return nil, fmt.Errorf("issuer %s: jwks_file %s: %w", p.issuer, p.jwksFile, err)
		}
	case p.jwksURL != "":
		if k.verifier, err = k.newVerifier(verify.Options{JWKSURL: p.jwksURL}); err != nil {
			return nil, fmt.Errorf("issuer %s: %w", p.issuer, err)
		}
	}
	return k, nil
}

// httpClient is the issuer's client: bounded in time, https only (also
// after a redirect), trusting ca_file besides the system's roots.
func httpClient(p *policy) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if p.caFile != "" {
		roots, err := outbound.Roots(p.caFile)
		if err != nil {
			return nil, fmt.Errorf("issuer %s: ca_file: %w", p.issuer, err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: p.timeout, CheckRedirect: outbound.HTTPSRedirects}, nil
}

// newVerifier verifies the issuer's tokens with the keys of o. Audiences
// are checked by the caller: an issuer may name several.
func (k *keys) newVerifier(o verify.Options) (*verify.Verifier, error) {
	o.Issuer, o.AnyAudience, o.Algorithms = k.p.issuer, true, k.p.algs
	o.HTTPClient, o.Now = k.client, k.now
	return verify.New(o)
}

// get returns the verifier, discovering the issuer's JWKS URL first if
// need be. An issuer that does not answer is ErrUnavailable, at most once
// per discoveryRetry asked again.
func (k *keys) get(ctx context.Context) (*verify.Verifier, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.verifier != nil {
		return k.verifier, nil
	}
	if !k.tried.IsZero() && k.now().Sub(k.tried) < discoveryRetry {
		return nil, k.err
	}
	// Discovery is the issuer's, not the caller's: a caller that gives up
	// must not make the issuer count as down for everyone (as the JWKS
	// fetch of pkg/verify, it is bounded by the policy's timeout alone).
	jwksURL, err := k.discover(context.WithoutCancel(ctx))
	if err == nil {
		k.verifier, err = k.newVerifier(verify.Options{JWKSURL: jwksURL})
	}
	if err != nil {
		k.tried, k.err = k.now(), fmt.Errorf("%w: issuer %s: %v", errIssuerDown, k.p.issuer, err)
		return nil, k.err
	}
	return k.verifier, nil
}

// errIssuerDown wraps discovery and key-fetch failures.
var errIssuerDown = errors.New("identity token issuer unavailable")

// discover reads the issuer's OpenID Provider configuration (OpenID
// Connect Discovery 1.0 §4): its issuer must be the one configured (§4.3),
// its jwks_uri https.
func (k *keys) discover(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, k.p.timeout)
	defer cancel()
	u := strings.TrimSuffix(k.p.issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery: %s answered %d", u, resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDiscovery)).Decode(&doc); err != nil {
		return "", fmt.Errorf("discovery: %s: %v", u, err)
	}
	switch {
	case doc.Issuer != k.p.issuer:
		return "", fmt.Errorf("discovery: %s names issuer %q, not %q", u, doc.Issuer, k.p.issuer)
	case !isHTTPS(doc.JWKSURI):
		return "", fmt.Errorf("discovery: %s: jwks_uri %q is not https", u, doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}
