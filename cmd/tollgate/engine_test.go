package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// engineConfig writes an e2e configuration with the Engine API on, its
// HMAC secret (of secretLen random bytes, base64) in a file of mode perm.
func engineConfig(t *testing.T, secretLen int, perm os.FileMode) (cfg *config.Config, secret []byte) {
	t.Helper()
	clearTollgateEnv(t)
	dir := t.TempDir()
	if _, err := keys.WriteDev(filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"), keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatal(err)
	}
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), e2eUsers)
	raw := make([]byte, secretLen)
	_, _ = rand.Read(raw)
	secret = []byte(base64.RawStdEncoding.EncodeToString(raw))[:secretLen]
	secretPath := filepath.Join(dir, "engine.secret")
	if err := os.WriteFile(secretPath, append(secret, '\n'), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secretPath, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	cfg = loadE2EConfig(t, dir)
	cfg.Users.Admins = []string{"admin"}
	cfg.Engine = config.Engine{Enabled: true, Issuer: "anchore-engine", Expiration: time.Hour, Signing: "hmac",
		HMACSecretFile: secretPath, PublicClients: []string{"anonymous"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg, secret
}

// TestAppServesEngineAPI runs the seed flow against the app as `serve`
// builds it: the token verifies with golang-jwt and the shared secret
// alone, /v1/account knows the caller, the issue is audited with its
// client_id, and no secret reaches the log.
func TestAppServesEngineAPI(t *testing.T) {
	cfg, secret := engineConfig(t, 48, 0o600)
	logs := &logtest.Buffer{}
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler)
	form := url.Values{"grant_type": {"password"}, "client_id": {"anonymous"}, "username": {"alice"}, "password": {e2eUsers["alice"]}}
	resp, err := srv.Client().Post(srv.URL+"/v1/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
		t.Fatalf("token: status %d, body %s", resp.StatusCode, body)
	}
	var claims jwt.RegisteredClaims
	if _, err := jwt.ParseWithClaims(tok.AccessToken, &claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("anchore-engine"), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("does not verify with the shared secret: %v", err)
	}
	acct, err := a.accounts.Get(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != acct.ID {
		t.Errorf("sub = %q, want alice's account id %q", claims.Subject, acct.ID)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/account", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"name":"alice","type":"user","state":"enabled","email":null`)) {
		t.Errorf("/v1/account: status %d, body %s", resp.StatusCode, body)
	}
	srv.Close()
	if err := a.Close(); err != nil { // writes the queued audit events
		t.Fatal(err)
	}

	events := readAudit(t, cfg.Store.Path) // logs_e2e_test.go
	found := false
	for _, ev := range events {
		found = found || (ev.Kind == audit.TokenIssued && ev.Subject == "alice" && ev.ClientID == "anonymous")
	}
	if !found {
		t.Errorf("no token.issued event for alice by client anonymous in %+v", events)
	}
	for what, s := range map[string]string{"password": e2eUsers["alice"], "secret": string(secret), "token signature": tok.AccessToken[strings.LastIndexByte(tok.AccessToken, '.')+1:]} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the %s is in the log", what)
		}
	}
}

// The HMAC secret file is read like a key file: refused when its group or
// others may read it, or when it is shorter than 32 bytes.
func TestAppRefusesBadEngineSecret(t *testing.T) {
	for name, tc := range map[string]struct {
		length int
		perm   os.FileMode
		want   error
	}{
		"group readable": {48, 0o640, keys.ErrKeyPermissions},
		"too short":      {31, 0o600, keys.ErrUnsupportedKey},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, _ := engineConfig(t, tc.length, tc.perm)
			a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				a.Close()
			}
			if !errors.Is(err, tc.want) || !strings.Contains(fmtErr(err), "engine.hmac_secret_file") {
				t.Errorf("newApp = %v, want %v naming engine.hmac_secret_file", err, tc.want)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
