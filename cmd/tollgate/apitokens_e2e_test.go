package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// apiTokenCall POSTs a JSON body to an /api/tokens endpoint of baseURL.
func apiTokenCall(t *testing.T, client *http.Client, baseURL, path string, body map[string]any, bearer string) (int, map[string]any) {
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

// createAPIToken mints a token for user with role, or fails the test.
func createAPIToken(t *testing.T, client *http.Client, baseURL, user, role string) (tok, hashPrefix string) {
	t.Helper()
	status, m := apiTokenCall(t, client, baseURL, "/api/tokens",
		map[string]any{"username": user, "password": e2eUsers[user], "role": role, "description": "e2e"}, "")
	tok, _ = m["token"].(string)
	hashPrefix, _ = m["hash_prefix"].(string)
	if status != http.StatusOK || !apitoken.LooksLike(tok) || hashPrefix == "" {
		t.Fatalf("create %s token for %s: status %d, body %v", role, user, status, m)
	}
	return tok, hashPrefix
}

// TestAppFlushesLastUsedOnClose: a use between two periodic flushes is in
// the store once the app has closed.
func TestAppFlushesLastUsedOnClose(t *testing.T) {
	clearTollgateEnv(t)
	dir := t.TempDir()
	if _, err := keys.WriteDev(filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"), keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), e2eUsers)
	cfg := loadE2EConfig(t, dir)
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler)
	tok, _ := createAPIToken(t, srv.Client(), srv.URL, "bob", "read")
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/oauth2/token?service="+e2eService, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("token", tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /oauth2/token with the token: status %d", resp.StatusCode)
	}
	srv.Close()
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	st, err := sqlite.Open(context.Background(), cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.APIToken(context.Background(), apitoken.Hash(tok))
	if err != nil {
		t.Fatal(err)
	}
	if rec.LastUsedAt.IsZero() {
		t.Error("last use not written by Close")
	}
}
