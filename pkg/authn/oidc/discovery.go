package oidc

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/pkg/authn/outbound"
)

// discoveryRetry is how soon discovery is tried again after it failed:
// sign-ins at a provider that is down cost it one request per interval,
// and each of them an immediate answer.
const discoveryRetry = 5 * time.Second

// maxResponse bounds what the provider may send in one answer.
const maxResponse = 1 << 20

// signingAlgorithms are the asymmetric algorithms accepted for ID tokens:
// never none or HS*, whose key would be the client secret.
var signingAlgorithms = []string{gooidc.RS256, gooidc.RS384, gooidc.RS512, gooidc.ES256, gooidc.ES384, gooidc.ES512,
	gooidc.PS256, gooidc.PS384, gooidc.PS512, gooidc.EdDSA}

// endpoints are what discovery found: the OAuth 2.0 client of the
// provider, and the verifier of its ID tokens.
type endpoints struct {
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

// endpoints returns the provider's endpoints, discovered at first use. A
// provider that does not answer is ErrUnavailable, asked again at most
// once per discoveryRetry.
func (p *Provider) endpoints(ctx context.Context) (*endpoints, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready != nil {
		return p.ready, nil
	}
	if !p.tried.IsZero() && p.now().Sub(p.tried) < discoveryRetry {
		return nil, p.err
	}
	// Discovery is the provider's, not the caller's: a browser that gives
	// up must not make the provider count as down for everyone. The
	// client's timeout bounds it.
	e, err := p.discover(context.WithoutCancel(ctx))
	if err != nil {
		p.tried, p.err = p.now(), p.unavailable("the provider cannot be reached; try again later", err)
		return nil, p.err
	}
	p.ready = e
	return e, nil
}

// metadata are the fields of the provider's configuration that go-oidc
// does not check (OpenID Connect Discovery 1.0 §3).
type metadata struct {
	AuthURL     string   `json:"authorization_endpoint"`
	TokenURL    string   `json:"token_endpoint"`
	JWKSURL     string   `json:"jwks_uri"`
	Algorithms  []string `json:"id_token_signing_alg_values_supported"`
	AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
}

// discover reads the provider's configuration (§4); go-oidc checks that
// its issuer is the one configured (§4.3). Every endpoint must be https:
// the token endpoint gets the client secret.
func (p *Provider) discover(ctx context.Context) (*endpoints, error) {
	op, err := gooidc.NewProvider(gooidc.ClientContext(ctx, p.client), p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", p.cfg.Issuer, err)
	}
	var m metadata
	if err := op.Claims(&m); err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", p.cfg.Issuer, err)
	}
	for _, kv := range [][2]string{{"authorization_endpoint", m.AuthURL}, {"token_endpoint", m.TokenURL}, {"jwks_uri", m.JWKSURL}} {
		if !isHTTPS(kv[1]) {
			return nil, fmt.Errorf("discovery at %s: %s %q is not an https URL", p.cfg.Issuer, kv[0], kv[1])
		}
	}
	keys := &keySet{remote: gooidc.NewRemoteKeySet(gooidc.ClientContext(context.Background(), p.keysClient), m.JWKSURL),
		down: &p.keysDown}
	verifier := gooidc.NewVerifier(p.cfg.Issuer, keys, &gooidc.Config{ClientID: p.cfg.ClientID,
		SupportedSigningAlgs: algorithms(m.Algorithms), Now: p.now})
	return &endpoints{
		oauth: oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: string(p.secret), RedirectURL: p.redirectURL,
			Scopes: p.cfg.Scopes, Endpoint: oauth2.Endpoint{AuthURL: m.AuthURL, TokenURL: m.TokenURL, AuthStyle: authStyle(m.AuthMethods)}},
		verifier: verifier,
	}, nil
}

// algorithms are the provider's ID token algorithms that are accepted;
// RS256, which every provider supports (§3), when it lists none.
func algorithms(offered []string) []string {
	var out []string
	for _, a := range offered {
		if slices.Contains(signingAlgorithms, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return []string{gooidc.RS256}
	}
	return out
}

// authStyle is how the client authenticates at the token endpoint:
// client_secret_basic, the default (Discovery 1.0 §3), unless the provider
// offers client_secret_post alone. Set, not detected: detection sends a
// refused code a second time.
func authStyle(methods []string) oauth2.AuthStyle {
	if !slices.Contains(methods, "client_secret_basic") && slices.Contains(methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// httpClient is a client of the provider: bounded in time and in what it
// reads, https only (also after a redirect), trusting ca_file besides the
// system's roots. With failed set, it records whether its last request
// failed.
func httpClient(c ProviderConfig, failed *atomic.Bool) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.CAFile != "" {
		roots, err := outbound.Roots(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("oidc provider %s: ca_file: %w", c.Name, err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: &transport{base: tr, failed: failed}, Timeout: c.Timeout,
		CheckRedirect: outbound.HTTPSRedirects}, nil
}

// transport bounds the answers' bodies, and records whether the last
// request failed (a network error or an answer other than 200).
type transport struct {
	base   http.RoundTripper
	failed *atomic.Bool // nil: not recorded
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if t.failed != nil {
		t.failed.Store(err != nil || resp.StatusCode != http.StatusOK)
	}
	if err != nil {
		return nil, err
	}
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, maxResponse), Closer: resp.Body}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// keySet checks signatures with the provider's JWKS (go-oidc's
// RemoteKeySet, which fetches the keys again on an unknown kid) and tells
// a signature that could not be checked because the keys could not be
// fetched from a bad one, which go-oidc reports alike: a failed check
// after a failed fetch is noted in the keysNote of the context.
type keySet struct {
	remote gooidc.KeySet
	down   *atomic.Bool // the last fetch of the keys failed
}

var (
	_ gooidc.KeySet     = (*keySet)(nil)
	_ http.RoundTripper = (*transport)(nil)
)

// keysNoteKey is the context key of a *keysNote.
type keysNoteKey struct{}

// keysNote tells Verify's caller that the keys could not be fetched.
type keysNote struct{ down bool }

func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if err != nil && k.down.Load() {
		if note, ok := ctx.Value(keysNoteKey{}).(*keysNote); ok {
			note.down = true
		}
	}
	return payload, err
}

func isHTTPS(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}
