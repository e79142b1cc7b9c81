package main

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
)

// envOnlyACL is an ACL that no file has: alice may pull env-only/*.
const envOnlyACL = `[{"account":"alice","type":"repository","name":"env-only/*","actions":["pull"]}]`

// envOnlySetup prepares a working directory without configs/tollgate.yaml,
// holding a development key and the e2e users, and configures Tollgate by
// environment variables alone, as a container would.
func envOnlySetup(t *testing.T, addr string) {
	t.Helper()
	clearTollgateEnv(t)
	dir := t.TempDir()
	if _, err := keys.WriteDev(filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"),
		keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatalf("WriteDev: %v", err)
	}
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), e2eUsers)
	t.Chdir(dir) // relative paths below are relative to it
	for k, v := range map[string]string{
		"SERVER_ADDR":      addr,
		"TOKEN_SERVICES":   `["` + e2eService + `"]`,
		"KEYS_PRIVATE_KEY": "keys/signing.pem",
		"KEYS_CERTIFICATE": "keys/signing.crt",
		"USERS_HTPASSWD":   "htpasswd",
		"STORE_PATH":       "tollgate.db",
		"LOG_LEVEL":        "warn",
		"ACL":              envOnlyACL,
	} {
		t.Setenv(config.EnvPrefix+"_"+k, v)
	}
}

// grantedScope asks POST /oauth2/token for scope as user and returns the
// scope the token grants ("" for none).
func (e *e2eEnv) grantedScope(t *testing.T, user, scope string) string {
	t.Helper()
	status, body := e.postToken(t, url.Values{"grant_type": {"password"}, "client_id": {"test"}, "service": {e2eService},
		"username": {user}, "password": {e2eUsers[user]}, "scope": {scope}})
	granted, ok := body["scope"].(string)
	if status != http.StatusOK || !ok {
		t.Fatalf("POST token for %s %s = %d %v, want 200 with a scope", user, scope, status, body)
	}
	return granted
}

// `tollgate serve` without --config, where configs/tollgate.yaml does not
// exist, runs on the defaults and the environment: the ACL, the services,
// the key and the users all come from TOLLGATE_* variables.
func TestServeWithoutConfigFile(t *testing.T) {
	addr := freeAddr(t)
	envOnlySetup(t, addr)

	out, err := runCLI(t, "", "config", "check")
	if err != nil || !strings.Contains(out, "no configuration file") || !strings.Contains(out, ": ok") {
		t.Fatalf("config check without a file: %v, %q; want ok for no configuration file", err, out)
	}
	if _, err := runCLI(t, "", "config", "check", "--config", config.DefaultFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("config check --config %s (missing): %v, want fs.ErrNotExist", config.DefaultFile, err)
	}

	root := newRootCommand()
	root.SetArgs([]string{"serve"})
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan struct{})
	var serveErr error
	go func() {
		defer close(gone)
		serveErr = root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-gone:
			if serveErr != nil {
				t.Errorf("serve returned %v after cancel, want nil", serveErr)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("serve did not return within 10s of cancel")
		}
	})
	e := tokenClient(t, addr)
	e.waitAnswering(t, 15*time.Second, gone)

	if got := e.grantedScope(t, "alice", "repository:env-only/app:pull"); got != "repository:env-only/app:pull" {
		t.Errorf("alice granted %q on env-only/app, want pull by the environment's ACL", got)
	}
	if got := e.grantedScope(t, "alice", "repository:alice/app:pull"); got != "" {
		t.Errorf("alice granted %q on alice/app, want nothing: the only rule is the environment's", got)
	}
	if status, body := e.postToken(t, url.Values{"grant_type": {"password"}, "client_id": {"test"}, "service": {"other"},
		"username": {"alice"}, "password": {e2eUsers["alice"]}}); status != http.StatusBadRequest {
		t.Errorf("a service not in TOLLGATE_TOKEN_SERVICES: %d %v, want 400", status, body)
	}
}

// A bad variable stops serve before it listens, naming the variable.
func TestServeRefusesBadVariable(t *testing.T) {
	envOnlySetup(t, "127.0.0.1:0")
	t.Setenv("TOLLGATE_TOKEN_EXPIRATION", "abc")
	t.Setenv("TOLLGATE_ACL", `[{"account":"*","repo":"x","actions":["pull"]}]`)
	_, err := runCLI(t, "", "serve")
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("serve with bad variables: %v, want ErrInvalid", err)
	}
	for _, want := range []string{`TOLLGATE_TOKEN_EXPIRATION: "abc" is not a duration`, `TOLLGATE_ACL: unknown key "acl[0].repo"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
}
