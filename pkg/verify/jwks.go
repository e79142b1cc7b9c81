package verify

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JWKS fetching limits.
const (
	jwksMinInterval    = 30 * time.Second // at most one fetch per interval, whatever the reason
	jwksDefaultMaxAge  = 15 * time.Minute // refresh period without Cache-Control max-age
	jwksMinMaxAge      = time.Minute      // bounds on an honoured max-age
	jwksMaxMaxAge      = 24 * time.Hour
	jwksMaxBody        = 1 << 20 // 1 MiB
	jwksDefaultTimeout = 10 * time.Second
)

// jwks is the JWKSURL source; see [Verifier] for its behaviour.
type jwks struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu          sync.Mutex
	keys        map[string]verificationKey // nil until a fetch succeeds
	lastAttempt time.Time                  // of the last fetch, successful or not
	expires     time.Time                  // when keys should be fetched again
	lastErr     error                      // of the last failed fetch
	inflight    *fetchCall
}

// fetchCall is one fetch that concurrent callers wait for.
type fetchCall struct {
	done chan struct{}
}

func newJWKS(url string, client *http.Client, now func() time.Time) *jwks {
	if client == nil {
		client = &http.Client{Timeout: jwksDefaultTimeout}
	}
	return &jwks{url: url, client: client, now: now}
}

func (j *jwks) lookup(ctx context.Context, kid string) (verificationKey, error) {
	for {
		j.mu.Lock()
		now := j.now()
		if j.keys != nil {
			k, err := findKey(j.keys, kid)
			fresh := now.Before(j.expires)
			if (err == nil && fresh) || !j.mayFetch(now) {
				j.mu.Unlock()
				return k, err // a known key, or unknown and rate-limited
			}
		} else if !j.mayFetch(now) {
			err := j.lastErr
			j.mu.Unlock()
			return verificationKey{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		}
		// Fetch, or wait for the fetch already running, then look again.
		call := j.inflight
		if call == nil {
			call = &fetchCall{done: make(chan struct{})}
			j.inflight = call
			j.lastAttempt = now
			go j.fetch(context.WithoutCancel(ctx), call)
		}
		j.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return verificationKey{}, fmt.Errorf("%w: %w", ErrKeysUnavailable, ctx.Err())
		}
		// The attempt is now recorded, so the next round does not fetch
		// again within the interval.
	}
}

// mayFetch reports whether the rate limit allows a fetch now. j.mu is held.
func (j *jwks) mayFetch(now time.Time) bool {
	return j.inflight != nil || j.lastAttempt.IsZero() || now.Sub(j.lastAttempt) >= jwksMinInterval
}

// fetch gets the key set and records the outcome; a failure keeps the old
// keys.
func (j *jwks) fetch(ctx context.Context, call *fetchCall) {
	keys, maxAge, err := j.get(ctx)
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		j.lastErr = err
	} else {
		j.keys, j.lastErr = keys, nil
		j.expires = j.lastAttempt.Add(maxAge)
	}
	j.inflight = nil
	close(call.done)
}

// get fetches and parses the key set and its max-age.
func (j *jwks) get(ctx context.Context) (map[string]verificationKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks %s: %w", j.url, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("jwks %s: %w", j.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("jwks %s: status %d", j.url, resp.StatusCode)
	}
	if len(body) > jwksMaxBody {
		return nil, 0, fmt.Errorf("jwks %s: larger than %d bytes", j.url, jwksMaxBody)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks %s: %w", j.url, err)
	}
	return keys, maxAge(resp.Header.Get("Cache-Control")), nil
}

// maxAge returns the refresh period a Cache-Control header asks for, within
// bounds (RFC 9111 §5.2.2.1).
func maxAge(cacheControl string) time.Duration {
	for _, d := range strings.Split(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		if !strings.EqualFold(name, "max-age") {
			continue
		}
		secs, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
		if err != nil || secs < 0 {
			break
		}
		age := time.Duration(min(secs, int64(jwksMaxMaxAge/time.Second))) * time.Second
		return min(max(age, jwksMinMaxAge), jwksMaxMaxAge)
	}
	return jwksDefaultMaxAge
}

// jwk is one key of a JWK Set (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a JWK Set. Keys of unknown kty, keys whose use is not
// "sig", and symmetric ("oct") keys are skipped: a key set is public, so a
// secret in it is no secret. A malformed key of a known type fails the whole
// set, so a corrupted set does not replace a good one.
func parseJWKS(body []byte) (map[string]verificationKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New(`not a JWK set: no "keys"`)
	}
	keys := make(map[string]verificationKey, len(set.Keys))
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var (
			vk  verificationKey
			err error
		)
		switch k.Kty {
		case "RSA":
			vk, err = parseRSA(k)
		case "EC":
			vk, err = parseEC(k)
		case "OKP":
			vk, err = parseOKP(k)
			if errors.Is(err, errSkip) {
				continue
			}
		default: // "oct" and anything unknown
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if k.Alg != "" && !kindFits(vk.kind, k.Alg) {
			return nil, fmt.Errorf("key %d (kid %q): alg %q does not fit a %s key", i, k.Kid, k.Alg, vk.kind)
		}
		vk.alg = k.Alg
		if _, dup := keys[k.Kid]; dup {
			return nil, fmt.Errorf("key %d: kid %q appears twice", i, k.Kid)
		}
		keys[k.Kid] = vk
	}
	return keys, nil
}

// errSkip marks a key of a known kty that this package does not verify with.
var errSkip = errors.New("skip")

func b64(field, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s: not base64url", field)
	}
	return b, nil
}

func parseRSA(k jwk) (verificationKey, error) {
	n, err := b64("n", k.N)
	if err != nil {
		return verificationKey{}, err
	}
	e, err := b64("e", k.E)
	if err != nil {
		return verificationKey{}, err
	}
	if len(e) > 4 {
		return verificationKey{}, errors.New("e: too large")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return verificationKey{}, fmt.Errorf("e: %d is not a valid RSA exponent", exp)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	kind, err := keyKind(pub)
	if err != nil {
		return verificationKey{}, err
	}
	return verificationKey{key: pub, kind: kind}, nil
}

func parseEC(k jwk) (verificationKey, error) {
	var (
		curve elliptic.Curve
		point ecdh.Curve
	)
	switch k.Crv {
	case "P-256":
		curve, point = elliptic.P256(), ecdh.P256()
	case "P-384":
		curve, point = elliptic.P384(), ecdh.P384()
	default:
		return verificationKey{}, fmt.Errorf("crv %q is not supported", k.Crv)
	}
	x, err := b64("x", k.X)
	if err != nil {
		return verificationKey{}, err
	}
	y, err := b64("y", k.Y)
	if err != nil {
		return verificationKey{}, err
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(x) > size || len(y) > size {
		return verificationKey{}, errors.New("coordinates too long for the curve")
	}
	// RFC 7518 §6.2.1.2 wants full-length coordinates; pad short ones.
	raw := make([]byte, 1+2*size)
	raw[0] = 4 // uncompressed
	copy(raw[1+size-len(x):1+size], x)
	copy(raw[1+2*size-len(y):], y)
	// crypto/ecdh checks the point is on the curve (and not the point at
	// infinity); ecdsa.ParseUncompressedPublicKey, which does the same in
	// one call, needs Go 1.25 and this module supports Go 1.22.
	if _, err := point.NewPublicKey(raw); err != nil {
		return verificationKey{}, fmt.Errorf("invalid %s point: %w", k.Crv, err)
	}
	pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	kind, err := keyKind(pub)
	if err != nil {
		return verificationKey{}, err
	}
	return verificationKey{key: pub, kind: kind}, nil
}

func parseOKP(k jwk) (verificationKey, error) {
	if k.Crv != "Ed25519" {
		return verificationKey{}, errSkip // X25519 and Ed448: not signature keys we verify
	}
	x, err := b64("x", k.X)
	if err != nil {
		return verificationKey{}, err
	}
	if len(x) != ed25519.PublicKeySize {
		return verificationKey{}, fmt.Errorf("x: %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return verificationKey{key: ed25519.PublicKey(x), kind: kindEd255}, nil
}
