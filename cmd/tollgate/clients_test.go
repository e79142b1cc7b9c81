package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/verify"
)

const serviceASecret = "service-a-secret-0123456789"

// registerServiceA adds the client service-a (audiences service-b and
// service-c, scope reports:read) with `tollgate clients add`.
func registerServiceA(t *testing.T, cfg *config.Config) {
	t.Helper()
	path := filepath.Join(filepath.Dir(cfg.Store.Path), "tollgate.yaml")
	out, err := runCLI(t, serviceASecret+"\n", "clients", "add", "service-a", "--config", path,
		"--audience", "service-b", "--audience", "service-c", "--scope", "reports:read", "--secret-stdin")
	if err != nil {
		t.Fatalf("clients add: %v\n%s", err, out)
	}
}

// startApp serves the app built from cfg behind handler (which the test
// may switch to another app: a restart on the same address).
func startApp(t *testing.T, cfg *config.Config) *app {
	t.Helper()
	logs := &logtest.Buffer{}
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tollgate log:\n%s", logs.String())
		}
	})
	return a
}

// clientToken asks tollgate for a client_credentials token, authenticating
// with HTTP Basic (form-encoded, RFC 6749 §2.3.1), and returns the status
// and the JSON body.
func clientToken(t *testing.T, tollgate, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("grant_type", "client_credentials")
	req, _ := http.NewRequest(http.MethodPost, tollgate+"/v1/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response: %v", err)
	}
	if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode, body
}

// serviceB answers /report to tokens for audience service-b with the
// scope reports:read.
func serviceB(t *testing.T, opts verify.Options) string {
	t.Helper()
	v, err := verify.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.FromContext(r.Context())
		if !c.HasScope("reports:read") {
			http.Error(w, "missing scope reports:read", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "report for %s", c.Subject)
	})))
	t.Cleanup(srv.Close)
	return srv.URL
}

// serviceA gets a token from tollgate with its client credentials for
// ?audience= and calls service B with it, relaying B's answer.
func serviceA(t *testing.T, tollgate, b string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form := url.Values{"grant_type": {"client_credentials"}, "audience": {r.URL.Query().Get("audience")}}
		req, _ := http.NewRequest(http.MethodPost, tollgate+"/v1/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("service-a", url.QueryEscape(serviceASecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, "no token", http.StatusBadGateway)
			return
		}
		call, _ := http.NewRequest(http.MethodGet, b+"/report", nil)
		call.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		got, err := http.DefaultClient.Do(call)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer got.Body.Close()
		w.Header().Set("X-B-Authenticate", got.Header.Get("WWW-Authenticate"))
		w.WriteHeader(got.StatusCode)
		_, _ = io.Copy(w, got.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func callA(t *testing.T, a, audience string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(a + "/?audience=" + url.QueryEscape(audience))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("X-B-Authenticate")
}

// checkClientGrant runs the cases against tollgate, A and B.
func checkClientGrant(t *testing.T, tollgate, a string) {
	t.Helper()
	if status, body, _ := callA(t, a, "service-b"); status != http.StatusOK || body != "report for service-a" {
		t.Errorf("A → B: %d %q, want 200 report for service-a", status, body)
	}
	if status, _, challenge := callA(t, a, "service-c"); status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("A → B with a token for service-c: %d, challenge %q; want 401 invalid_token", status, challenge)
	}
	status, body := clientToken(t, tollgate, "service-a", "not-the-secret-0123456789", url.Values{})
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v, want 401 invalid_client", status, body)
	}
	status, body = clientToken(t, tollgate, "no-such-client", serviceASecret, url.Values{})
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("unknown client: %d %v, want 401 invalid_client", status, body)
	}
	status, body = clientToken(t, tollgate, "service-a", serviceASecret, url.Values{"scope": {"reports:read reports:write"}})
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Errorf("scope the client lacks: %d %v, want 400 invalid_scope", status, body)
	}
	status, body = clientToken(t, tollgate, "service-a", serviceASecret, url.Values{"audience": {"service-d"}})
	if status != http.StatusBadRequest || body["error"] != "invalid_target" {
		t.Errorf("audience the client lacks: %d %v, want 400 invalid_target", status, body)
	}
	status, body = clientToken(t, tollgate, "service-a", serviceASecret, url.Values{})
	if status != http.StatusOK || body["scope"] != "reports:read" || body["token_type"] != "Bearer" {
		t.Errorf("no scope asked: %d %v, want 200 with every scope of the client", status, body)
	}
	// The token of a client is not an account's: /v1/account refuses it.
	req, _ := http.NewRequest(http.MethodGet, tollgate+"/v1/account", nil)
	req.Header.Set("Authorization", fmt.Sprintf("Bearer %v", body["access_token"]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/v1/account with a client token: %d, want 401", resp.StatusCode)
	}
}

// TestClientCredentialsHMAC: service A calls service B with a
// client_credentials token; B verifies it with the engine's HMAC secret.
func TestClientCredentialsHMAC(t *testing.T) {
	cfg, secret := engineConfig(t, 48, 0o600)
	registerServiceA(t, cfg)
	app := startApp(t, cfg)
	tollgate := httptest.NewServer(app.handler)
	t.Cleanup(func() { tollgate.Close(); app.Close() })

	b := serviceB(t, verify.Options{Issuer: "anchore-engine", Audience: "service-b", HMACSecret: secret})
	checkClientGrant(t, tollgate.URL, serviceA(t, tollgate.URL, b))
}

// TestClientCredentialsJWKS: with engine.signing=keys (a static key), B
// verifies with Tollgate's JWK Set. A rotation of a static key is a
// restart with a new key file: the second app serves on the same address
// and store, and B takes the new kid once its JWKS cache may refresh
// (verify fetches at most once every 30 s, so B's clock is moved on).
func TestClientCredentialsJWKS(t *testing.T) {
	cfg, _ := engineConfig(t, 48, 0o600)
	cfg.Engine.Signing, cfg.Engine.HMACSecretFile = "keys", ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	registerServiceA(t, cfg)

	var current atomic.Pointer[app]
	first := startApp(t, cfg)
	current.Store(first)
	tollgate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().handler.ServeHTTP(w, r)
	}))
	t.Cleanup(tollgate.Close)

	var skew atomic.Int64
	b := serviceB(t, verify.Options{Issuer: "anchore-engine", Audience: "service-b",
		JWKSURL: tollgate.URL + "/.well-known/jwks.json",
		Now:     func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	a := serviceA(t, tollgate.URL, b)
	checkClientGrant(t, tollgate.URL, a)

	// Rotate: a new key file, a restart on the same store.
	dir := t.TempDir()
	rotated := *cfg
	rotated.Keys.PrivateKey, rotated.Keys.Certificate = filepath.Join(dir, "signing.pem"), filepath.Join(dir, "signing.crt")
	if _, err := keys.WriteDev(rotated.Keys.PrivateKey, rotated.Keys.Certificate, keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := startApp(t, &rotated)
	current.Store(second)
	t.Cleanup(func() { second.Close() })

	if status, _, _ := callA(t, a, "service-b"); status != http.StatusUnauthorized {
		t.Errorf("new kid within verify's 30 s fetch limit: %d, want 401 (B has not refetched yet)", status)
	}
	skew.Store(int64(31 * time.Second))
	if status, body, _ := callA(t, a, "service-b"); status != http.StatusOK || body != "report for service-a" {
		t.Errorf("after the rotation: %d %q, want 200 once B refetched the JWK Set", status, body)
	}
}

// TestClientsCommand: add (generated and stdin secrets), list, remove;
// no hash is ever printed, a generated secret once.
func TestClientsCommand(t *testing.T) {
	cfg, _ := engineConfig(t, 48, 0o600)
	path := filepath.Join(filepath.Dir(cfg.Store.Path), "tollgate.yaml")

	out, err := runCLI(t, "", "clients", "add", "billing", "--config", path, "--audience", "ledger", "--scope", "invoices:read")
	if err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	var generated string
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "client_secret: "); ok {
			generated = s
		}
	}
	if len(generated) < 26 {
		t.Fatalf("add printed no generated secret:\n%s", out)
	}
	if out, err := runCLI(t, "", "clients", "add", "billing", "--config", path); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("add twice: %v, want exists\n%s", err, out)
	}
	if out, err := runCLI(t, "short\n", "clients", "add", "x", "--config", path, "--secret-stdin"); err == nil {
		t.Errorf("a short secret was accepted:\n%s", out)
	}
	if _, err := runCLI(t, "", "clients", "add", "bad name", "--config", path); err == nil {
		t.Error("a client name with a space was accepted")
	}
	if _, err := runCLI(t, "", "clients", "add", "y", "--config", path, "--scope", "a b"); err == nil {
		t.Error("a scope with a space was accepted")
	}
	out, err = runCLI(t, serviceASecret+"\n", "clients", "add", "service-a", "--config", path, "--audience", "service-b", "--secret-stdin")
	if err != nil || strings.Contains(out, serviceASecret) || strings.Contains(out, "client_secret") {
		t.Errorf("add --secret-stdin: %v, output must not show the secret:\n%s", err, out)
	}

	out, err = runCLI(t, "", "clients", "list", "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "billing") || !strings.Contains(out, "ledger") || !strings.Contains(out, "invoices:read") ||
		!strings.Contains(out, "service-a") || strings.Contains(out, "$2") || strings.Contains(out, generated) {
		t.Errorf("list: want both clients, no hash, no secret:\n%s", out)
	}

	// The generated secret works at the token endpoint.
	app := startApp(t, cfg)
	tollgate := httptest.NewServer(app.handler)
	defer func() { tollgate.Close(); app.Close() }()
	status, body := clientToken(t, tollgate.URL, "billing", generated, url.Values{})
	if status != http.StatusOK || body["scope"] != "invoices:read" {
		t.Errorf("token with the generated secret: %d %v", status, body)
	}
	// Form authentication (client_id + client_secret) works too.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"billing"}, "client_secret": {generated}}
	resp, err := http.PostForm(tollgate.URL+"/v1/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("form client authentication: %d, want 200", resp.StatusCode)
	}

	if out, err := runCLI(t, "", "clients", "remove", "billing", "--config", path); err != nil {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "", "clients", "remove", "billing", "--config", path); err == nil {
		t.Error("removing twice succeeded")
	}
	status, body = clientToken(t, tollgate.URL, "billing", generated, url.Values{})
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("removed client: %d %v, want 401 invalid_client", status, body)
	}
}

// Clients and users live in one namespace: a client's sub is its name, and
// engine tokens will carry a user's account UUID as sub. So `clients add`
// refuses a name of the htpasswd file, a name that is only an account in
// the store (a user removed from the file whose account remains) and a
// name shaped like a UUID, saying why, and stores nothing; a missing
// htpasswd file has no users.
func TestClientsAddRefusesUserNamesAndUUIDs(t *testing.T) {
	cfg, _ := engineConfig(t, 48, 0o600)
	path := filepath.Join(filepath.Dir(cfg.Store.Path), "tollgate.yaml")
	addAccount(t, cfg, "carol")
	tests := []struct {
		name    string
		client  string
		wantErr error
		words   []string // in the error
	}{
		{"a user", "alice", client.ErrUserName, []string{`"alice"`, cfg.Users.Htpasswd}},
		{"another user", "admin", client.ErrUserName, []string{`"admin"`}},
		{"only an account in the store", "carol", client.ErrUserName, []string{`"carol"`, "account in the store"}},
		{"a UUID", "123e4567-e89b-12d3-a456-426614174000", client.ErrUUIDName, []string{"8-4-4-4-12"}},
		{"an upper-case UUID", "123E4567-E89B-12D3-A456-426614174000", client.ErrUUIDName, []string{"UUID"}},
		{"a user's name in another case", "Alice", nil, nil},
		{"hex without the dashes", "123e4567e89b12d3a456426614174000", nil, nil},
		{"a UUID with a non-hex digit", "123e4567-e89b-12d3-a456-42661417400g", nil, nil},
		{"a service", "service-x", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, "", "clients", "add", tt.client, "--config", path, "--audience", "ledger")
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("add %q: %v\n%s", tt.client, err, out)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("add %q: %v, want %v\n%s", tt.client, err, tt.wantErr, out)
			}
			for _, w := range tt.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %s", err, w)
				}
			}
			if out, _ := runCLI(t, "", "clients", "list", "--config", path); strings.Contains(out, tt.client) {
				t.Errorf("the refused client %q was stored:\n%s", tt.client, out)
			}
		})
	}
	t.Run("no htpasswd file", func(t *testing.T) {
		if err := os.Remove(cfg.Users.Htpasswd); err != nil {
			t.Fatal(err)
		}
		if out, err := runCLI(t, "", "clients", "add", "bob", "--config", path); err != nil {
			t.Errorf("add bob without an htpasswd file: %v\n%s", err, out)
		}
		if _, err := runCLI(t, "", "clients", "add", "carol", "--config", path); !errors.Is(err, client.ErrUserName) {
			t.Errorf("add carol, an account, without an htpasswd file: %v, want ErrUserName", err)
		}
	})
}

// addAccount stores an account named name, as a user who has left the
// htpasswd file leaves behind.
func addAccount(t *testing.T, cfg *config.Config, name string) {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := store.Account{ID: "acct-" + name, Name: name, Type: store.AccountUser, State: store.AccountEnabled, CreatedAt: time.Now().UTC()}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
}
