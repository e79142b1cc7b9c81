package e2etest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn/apitoken"
)

// Client is a loopback-only client of one running Tollgate, which it
// addresses as Host.
type Client struct {
	Host      string          // host:port, as the client addresses the server
	Realm     string          // http://Host/oauth2/token
	Dials     *DialLog        // every address Transport dialed
	Transport *http.Transport // loopback-only; HTTP uses it
	HTTP      *http.Client
}

// NewClient is a Client of the Tollgate at hostPort whose requests time
// out after timeout. Its idle connections are closed at cleanup.
func NewClient(t testing.TB, hostPort string, timeout time.Duration) *Client {
	t.Helper()
	dials := &DialLog{}
	tr := LoopbackTransport(dials)
	t.Cleanup(tr.CloseIdleConnections)
	return &Client{
		Host:      hostPort,
		Realm:     "http://" + hostPort + "/oauth2/token",
		Dials:     dials,
		Transport: tr,
		HTTP:      &http.Client{Transport: tr, Timeout: timeout},
	}
}

// Base is the server's root URL.
func (c *Client) Base() string { return "http://" + c.Host }

// GetToken calls GET /oauth2/token the way crane does (HTTP Basic; no
// credentials for an empty user).
func (c *Client) GetToken(t testing.TB, user, password string, scopes ...string) (int, map[string]any) {
	t.Helper()
	q := url.Values{"service": {Service}, "scope": scopes}
	req, err := http.NewRequest(http.MethodGet, c.Realm+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return c.Do(t, req)
}

// MustGetToken asks GET /oauth2/token with the user's Basic credentials
// (Users) and returns the token, or fails the test.
func (c *Client) MustGetToken(t testing.TB, user string, scopes ...string) string {
	t.Helper()
	status, body := c.GetToken(t, user, Users[user], scopes...)
	tok, _ := body["token"].(string)
	if status != http.StatusOK || tok == "" || body["access_token"] != tok {
		t.Fatalf("GET token for %s %q = %d %v, want 200 with token == access_token", user, scopes, status, body)
	}
	return tok
}

// PostToken calls POST /oauth2/token with a form (distribution oauth.md).
func (c *Client) PostToken(t testing.TB, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Realm, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(t, req)
}

// OfflineForm is the password grant `docker login` sends: client docker,
// access_type=offline, for a refresh token.
func OfflineForm(user, password string) url.Values {
	return url.Values{
		"grant_type":  {"password"},
		"username":    {user},
		"password":    {password},
		"client_id":   {"docker"},
		"access_type": {"offline"},
		"service":     {Service},
	}
}

// IdentityToken is what `docker login` stores: the refresh token of
// OfflineForm's grant.
func (c *Client) IdentityToken(t testing.TB, user, password string) string {
	t.Helper()
	status, body := c.PostToken(t, OfflineForm(user, password))
	rt, _ := body["refresh_token"].(string)
	if status != http.StatusOK || rt == "" {
		t.Fatalf("password grant for %s = %d %v, want 200 with a refresh_token", user, status, body)
	}
	return rt
}

// Fetch sends req with client and returns the status, the header and the
// whole body, failing the test if it cannot.
func Fetch(t testing.TB, client *http.Client, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// Do sends req and returns the status and the JSON object of the body,
// failing the test if the body is not one.
func (c *Client) Do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	status, _, body := Fetch(t, c.HTTP, req)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not a JSON object: %v", req.Method, req.URL.Path, status, body, err)
	}
	return status, m
}

// Answer polls the token endpoint until the server answers with any HTTP
// response (nil), the timeout passes, or gone (nil: never) reports that
// the server stopped.
func (c *Client) Answer(timeout time.Duration, gone <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.HTTP.Get(c.Realm + "?service=" + Service)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-gone:
			return fmt.Errorf("%s stopped before answering: %w", c.Host, err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering after %s: %w", c.Host, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitAnswering is Answer that fails the test.
func (c *Client) WaitAnswering(t testing.TB, timeout time.Duration, gone <-chan struct{}) {
	t.Helper()
	if err := c.Answer(timeout, gone); err != nil {
		t.Fatal(err)
	}
}

// WaitServing polls /health until the server answers 200, for at most 15s.
func (c *Client) WaitServing(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := c.HTTP.Get(c.Base() + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tollgate does not answer /health after 15s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// APITokenCall POSTs a JSON body to an /api/tokens endpoint of baseURL,
// with bearer as the Bearer token unless it is empty.
func APITokenCall(t testing.TB, client *http.Client, baseURL, path string, body map[string]any, bearer string) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, baseURL+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: status %d, body is not a JSON object: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// CreateAPIToken mints an API token for user (of Users) with role, or
// fails the test. It returns the token and the hash prefix the server
// names it by.
func CreateAPIToken(t testing.TB, client *http.Client, baseURL, user, role string) (tok, hashPrefix string) {
	t.Helper()
	status, m := APITokenCall(t, client, baseURL, "/api/tokens",
		map[string]any{"username": user, "password": Users[user], "role": role, "description": "e2e"}, "")
	tok, _ = m["token"].(string)
	hashPrefix, _ = m["hash_prefix"].(string)
	if status != http.StatusOK || !apitoken.LooksLike(tok) || hashPrefix == "" {
		t.Fatalf("create %s token for %s: status %d, body %v", role, user, status, m)
	}
	return tok, hashPrefix
}

// DialLog records the address of every connection attempt.
type DialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *DialLog) add(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = append(d.addrs, addr)
}

// List returns the addresses dialed so far.
func (d *DialLog) List() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.addrs)
}

// ErrNotLoopback is the dial error for an address off loopback.
var ErrNotLoopback = errors.New("e2e: refusing to dial a non-loopback address")

// LoopbackTransport dials only loopback addresses (checked after name
// resolution, on the socket's actual peer), records every attempt in log
// and ignores proxy settings.
func LoopbackTransport(log *DialLog) *http.Transport {
	d := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			log.add(address)
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !ap.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("%w: %s", ErrNotLoopback, address)
			}
			return nil
		},
	}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
}
