package interop_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/verify"
)

// TestRingRotationWithARealRegistry: with keys.ring (built-in CA), a real
// registry configured once with the CA bundle from `tollgate keys ca`
// keeps accepting pushes across `tollgate keys rotate`, without a restart;
// tokens minted before the rotation stay valid; services verify tokens
// through /.well-known/jwks.json with pkg/verify.
func TestRingRotationWithARealRegistry(t *testing.T) {
	e2etest.ClearEnv(t)
	captureRegistryLogs(t)
	dir := t.TempDir()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	secretPath := filepath.Join(dir, "ring.secret")
	if err := os.WriteFile(secretPath, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"ENABLED": "true", "SECRET_FILE": secretPath, "CA": "true",
		"ROTATE_EVERY": "0s", "PREPUBLISH": "0s", "SYNC_EVERY": "1s",
	} {
		t.Setenv("TOLLGATE_KEYS_RING_"+k, v)
	}
	e2etest.WriteHtpasswd(t, filepath.Join(dir, "htpasswd"), e2etest.Users)
	e2etest.LoadConfig(t, dir) // its keys.private_key is not used in ring mode
	configPath := filepath.Join(dir, "tollgate.yaml")

	env := startTollgate(t, configPath) // inherits the TOLLGATE_KEYS_RING_ variables
	env.WaitServing(t)                  // the first start creates the ring in the store

	bundle, err := runCLI(t, "", "keys", "ca", "--config", configPath)
	if err != nil || !strings.Contains(bundle, "BEGIN CERTIFICATE") {
		t.Fatalf("tollgate keys ca: %v\n%s", err, bundle)
	}
	env.certPath = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(env.certPath, []byte(bundle), 0o644); err != nil {
		t.Fatal(err)
	}
	env.registryHost = startRegistry(t, env.Realm, env.certPath)
	env.waitReady(t)
	ctx := context.Background()

	first := env.jwksKids(t)
	if len(first) != 1 {
		t.Fatalf("JWKS before rotation has %d keys, want 1", len(first))
	}
	env.mustPush(t, ctx, "alice/app:v1", basic("alice"))
	before := env.MustGetToken(t, "alice", "repository:alice/app:pull")

	if out, err := runCLI(t, "", "keys", "rotate", "--config", configPath); err != nil {
		t.Fatalf("tollgate keys rotate: %v\n%s", err, out)
	}
	// The server picks the rotation up within keys.ring.sync_every.
	deadline := time.Now().Add(10 * time.Second)
	for kidOf(t, env.MustGetToken(t, "alice", "repository:alice/app:pull")) == first[0] {
		if time.Now().After(deadline) {
			t.Fatal("the server still signs with the old key 10s after tollgate keys rotate")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if kids := env.jwksKids(t); len(kids) != 2 {
		t.Fatalf("JWKS after rotation lists %v, want the new and the retired key", kids)
	}
	env.mustPush(t, ctx, "alice/app:v2", basic("alice")) // the registry was not touched

	registry := accessController(t, env.certPath, env.Realm)
	wantAuthorized(t, registry, before, "alice", "alice/app", "pull") // minted by the retired key

	v, err := verify.New(verify.Options{Issuer: e2etest.Issuer, Audience: e2etest.Service,
		JWKSURL: "http://" + env.Host + "/.well-known/jwks.json", HTTPClient: env.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string]string{"retired key": before, "active key": env.MustGetToken(t, "alice")} {
		if _, err := v.Verify(ctx, raw); err != nil {
			t.Errorf("pkg/verify over the JWKS refuses the %s's token: %v", name, err)
		}
	}
	list, err := runCLI(t, "", "keys", "list", "--config", configPath)
	if err != nil || !strings.Contains(list, "active") || !strings.Contains(list, "retired") {
		t.Errorf("tollgate keys list: %v\n%s", err, list)
	}
}

// jwksKids returns the kids of the server's JWKS.
func (e *e2eEnv) jwksKids(t *testing.T) []string {
	t.Helper()
	resp, err := e.HTTP.Get("http://" + e.Host + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string   `json:"kid"`
			D   string   `json:"d"`
			X5c []string `json:"x5c"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /.well-known/jwks.json: %d, %v", resp.StatusCode, err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("the JWKS publishes a private key")
		}
		if len(k.X5c) != 2 {
			t.Errorf("key %s has an x5c of %d certificates, want leaf and CA", k.Kid, len(k.X5c))
		}
		kids = append(kids, k.Kid)
	}
	return kids
}

// kidOf reads the kid header of a JWT.
func kidOf(t *testing.T, raw string) string { return headerOf(t, raw).Kid }

// tokenHeader is what the tests look at in a token's JOSE header.
type tokenHeader struct {
	Kid string   `json:"kid"`
	X5C []string `json:"x5c"`
}

// headerOf decodes raw's header without verifying anything.
func headerOf(t *testing.T, raw string) tokenHeader {
	t.Helper()
	header, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	var h tokenHeader
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}
