package main

import (
	"context"
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

	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/verify"
)

// lifecycleApp is an app as serve builds it over a fresh directory (the
// e2e users, SQLite), with its HTTP server and the configuration's path.
type lifecycleApp struct {
	app     *app
	srv     *httptest.Server
	dir     string
	cfgPath string
	logs    *logtest.Buffer
}

func newLifecycleApp(t *testing.T) *lifecycleApp {
	t.Helper()
	clearTollgateEnv(t)
	dir, cfg := tollgateDir(t)
	logs := &logtest.Buffer{}
	a, srv := serveApp(t, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tollgate log:\n%s", logs.String())
		}
	})
	return &lifecycleApp{app: a, srv: srv, dir: dir, cfgPath: filepath.Join(dir, "tollgate.yaml"), logs: logs}
}

// serveApp builds the app of cfg, logging to logger, and serves it until
// the test ends.
func serveApp(t *testing.T, cfg *config.Config, logger *slog.Logger) (*app, *httptest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a, srv
}

// get asks GET /oauth2/token with Basic user:password and returns the status.
func (la *lifecycleApp) get(t *testing.T, user, password string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, la.srv.URL+"/oauth2/token?service="+e2eService, nil)
	req.SetBasicAuth(user, password)
	resp, err := la.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// ready returns the status and body of GET /ready.
func (la *lifecycleApp) ready(t *testing.T) (int, string) {
	t.Helper()
	resp, err := la.srv.Client().Get(la.srv.URL + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventuallyTrue(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadyReportsRejectedHtpasswdLines: a reload that meets an unsupported
// line applies the others (a removal takes effect), names the line in the
// log and in /ready (503, without the user or the hash) until it is fixed.
func TestReadyReportsRejectedHtpasswdLines(t *testing.T) {
	la := newLifecycleApp(t)
	path := filepath.Join(la.dir, "htpasswd")
	entries, err := htpasswd.Entries(path)
	if err != nil {
		t.Fatal(err)
	}
	var keep strings.Builder
	for _, e := range entries {
		if e.User != "bob" { // bob is removed in the same edit
			keep.WriteString(e.User + ":" + e.Hash + "\n")
		}
	}
	const md5 = "carol:$apr1$Dq4Lz9Yf$4Yf2u5ZxWc1bq9X5Vj0xK/\n"
	if err := os.WriteFile(path, []byte(keep.String()+md5), 0o600); err != nil {
		t.Fatal(err)
	}
	la.app.Reload(context.Background(), slog.New(slog.DiscardHandler))
	status, body := la.ready(t)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "line 3") || !strings.Contains(body, "only bcrypt") {
		t.Errorf("/ready = %d %s; want 503 naming line 3 and why", status, body)
	}
	if strings.Contains(body, "carol") || strings.Contains(body, "Dq4Lz9Yf") {
		t.Errorf("/ready shows the user or the hash: %s", body)
	}
	if got := la.get(t, "bob", e2eUsers["bob"]); got != http.StatusUnauthorized {
		t.Errorf("bob removed in the same edit: status %d, want 401", got)
	}
	if got := la.get(t, "alice", e2eUsers["alice"]); got != http.StatusOK {
		t.Errorf("alice: status %d, want 200", got)
	}
	if err := os.WriteFile(path, []byte(keep.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	la.app.Reload(context.Background(), slog.New(slog.DiscardHandler))
	if status, body := la.ready(t); status != http.StatusOK {
		t.Errorf("/ready after the fix = %d %s", status, body)
	}
}

// TestRemovedFromTheFileEndsEverything: a user who leaves the htpasswd file
// of a running server loses every credential (audited); adding the name
// again revives nothing.
func TestRemovedFromTheFileEndsEverything(t *testing.T) {
	la := newLifecycleApp(t)
	tok, _ := createAPIToken(t, la.srv.Client(), la.srv.URL, "alice", "write")
	if got := la.get(t, "token", tok); got != http.StatusOK {
		t.Fatalf("fresh token: status %d", got)
	}
	oldEpoch := la.app.users.Epoch("alice")
	if _, err := runCLI(t, "", "users", "remove", "alice", "--config", la.cfgPath); err != nil {
		t.Fatal(err)
	}
	if got := la.get(t, "token", tok); got != http.StatusUnauthorized {
		t.Errorf("token of a removed user: status %d, want 401", got)
	}
	if _, err := runCLI(t, "a-new-password\n", "users", "add", "alice", "--password-stdin", "--config", la.cfgPath); err != nil {
		t.Fatal(err)
	}
	eventuallyTrue(t, "the server to read the new alice", func() bool {
		e := la.app.users.Epoch("alice")
		return e != "" && e != oldEpoch
	})
	if got := la.get(t, "alice", "a-new-password"); got != http.StatusOK {
		t.Errorf("the new alice: status %d, want 200", got)
	}
	if got := la.get(t, "token", tok); got != http.StatusUnauthorized {
		t.Errorf("the old token after alice was added again: status %d, want 401", got)
	}

	// The same by editing the file, while the server watches it.
	tok, _ = createAPIToken(t, la.srv.Client(), la.srv.URL, "bob", "read")
	path := filepath.Join(la.dir, "htpasswd")
	err := htpasswd.Update(path, func(entries []htpasswd.Entry) ([]htpasswd.Entry, error) {
		var kept []htpasswd.Entry
		for _, e := range entries {
			if e.User != "bob" {
				kept = append(kept, e)
			}
		}
		return kept, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eventuallyTrue(t, "bob's account to end", func() bool {
		_, err := la.app.store.Account(context.Background(), "bob")
		return errors.Is(err, store.ErrNotFound)
	})
	rec, err := la.app.store.APIToken(context.Background(), apitoken.Hash(tok))
	if err != nil || rec.RevokedAt.IsZero() {
		t.Errorf("bob's API token after his removal: %+v, %v; want revoked", rec, err)
	}
	var removed []string
	eventuallyTrue(t, "bob's removal to be audited", func() bool {
		events, err := la.app.store.ListAudit(context.Background(), 0, time.Time{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		removed = removed[:0]
		for _, e := range events {
			if e.Kind == "user.removed" {
				removed = append(removed, e.Subject+" "+e.Detail)
			}
		}
		return len(removed) == 2
	})
	if !strings.Contains(removed[0], "(cli) user=alice") || !strings.Contains(removed[1], "(htpasswd) user=bob") {
		t.Errorf("user.removed events = %q, want alice (cli) then bob (htpasswd)", removed)
	}
}

// TestUsersAccountCommands: add with --email and --type, set, disable,
// enable and revoke-tokens change the account in the store, and each is
// audited as the CLI.
func TestUsersAccountCommands(t *testing.T) {
	clearTollgateEnv(t)
	dir, _ := tollgateDir(t)
	cfg := filepath.Join(dir, "tollgate.yaml")
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, err := runCLI(t, stdin, append(args, "--config", cfg)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	run("carol-password\n", "users", "add", "carol", "--password-stdin", "--email", "carol@example.com", "--type", "service")
	run("", "users", "set", "carol", "--type", "admin")
	run("", "users", "disable", "carol")
	out := run("", "users", "revoke-tokens", "carol", "--kind", "api,refresh")
	if !strings.Contains(out, "revoked 0 refresh tokens, 0 engine refresh tokens, 0 API tokens") {
		t.Errorf("revoke-tokens said %q", out)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.Account(context.Background(), "carol")
	if err != nil || acct.Email != "carol@example.com" || acct.Type != store.AccountAdmin || acct.State != store.AccountDisabled {
		t.Errorf("carol = %+v, %v; want admin, disabled, with her email", acct, err)
	}
	run("", "users", "enable", "carol")
	if acct, _ := st.Account(context.Background(), "carol"); acct.State != store.AccountEnabled {
		t.Errorf("after enable: %+v", acct)
	}
	events, _ := st.ListAudit(context.Background(), 0, time.Time{}, 100)
	var kinds []string
	for _, e := range events {
		if e.Subject != cliActor {
			t.Errorf("event %+v not by the CLI", e)
		}
		kinds = append(kinds, e.Kind)
	}
	want := "user.added user.updated user.disabled user.tokens_revoked user.enabled"
	if strings.Join(kinds, " ") != want {
		t.Errorf("audit = %v, want %s", kinds, want)
	}
	for _, bad := range [][]string{
		{"users", "add", "shared/bot", "--password-stdin"},
		{"users", "add", "dave", "--password-stdin", "--type", "root"},
		{"users", "disable", "nobody"},
		{"users", "revoke-tokens", "carol", "--kind", "passwords"},
		{"users", "set", "carol"},
	} {
		if out, err := runCLI(t, "dave-password\n", append(bad, "--config", cfg)...); err == nil {
			t.Errorf("%v succeeded: %s", bad, out)
		}
	}
}

// TestUsersAddRefusesAClientName: users and clients are separate
// namespaces.
func TestUsersAddRefusesAClientName(t *testing.T) {
	clearTollgateEnv(t)
	dir, _ := tollgateDir(t)
	cfg := filepath.Join(dir, "tollgate.yaml")
	if out, err := runCLI(t, "", "clients", "add", "service-a", "--audience", "b", "--scope", "r", "--config", cfg); err != nil {
		t.Fatalf("clients add: %v\n%s", err, out)
	}
	out, err := runCLI(t, "a-password-1\n", "users", "add", "service-a", "--password-stdin", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "registered client") {
		t.Errorf("users add service-a = %v, %s; want refused: a client has that name", err, out)
	}
	if users := fileUsers(t, filepath.Join(dir, "htpasswd")); strings.Contains(strings.Join(users, " "), "service-a") {
		t.Error("service-a was added to the htpasswd file")
	}
}

// TestAccountEndpointShowsTheStore: /v1/account fills email, type, state
// and times from the accounts table.
func TestAccountEndpointShowsTheStore(t *testing.T) {
	cfg, _ := engineConfig(t, 48, 0o600)
	if out, err := runCLI(t, "", "users", "set", "alice", "--email", "alice@example.com", "--config",
		filepath.Join(filepath.Dir(cfg.Users.Htpasswd), "tollgate.yaml")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	_, srv := serveApp(t, cfg, slog.New(slog.DiscardHandler))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/account", nil)
	req.SetBasicAuth("alice", e2eUsers["alice"])
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body["email"] != "alice@example.com" || body["type"] != "user" || body["state"] != "enabled" ||
		body["created_at"] == nil || body["last_updated"] == nil {
		t.Errorf("/v1/account = %v", body)
	}
}

// TestUsersPasswdEndsRefreshTokens: `tollgate users passwd` ends the
// refresh tokens and engine refresh families of the old password (API
// tokens stay), audited as the CLI.
func TestUsersPasswdEndsRefreshTokens(t *testing.T) {
	clearTollgateEnv(t)
	dir, _ := tollgateDir(t)
	cfg := filepath.Join(dir, "tollgate.yaml")
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.CreateAccount(ctx, store.Account{ID: "acct-bob", Name: "bob", Type: "user", State: "enabled"}); err != nil {
		t.Fatal(err)
	}
	users, err := htpasswd.Load(filepath.Join(dir, "htpasswd"), nil)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := st.CreateRefreshToken(ctx, store.RefreshToken{Hash: "r", Subject: "bob", AccountID: "acct-bob",
		Epoch: users.Epoch("bob"), ExpiresAt: later}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEngineRefreshToken(ctx, store.EngineRefreshToken{Hash: "e", FamilyID: "fam", Subject: "bob",
		AccountID: "acct-bob", Epoch: users.Epoch("bob"), ClientID: "anonymous", ExpiresAt: later}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIToken(ctx, store.APIToken{Hash: "a", Owner: "bob", AccountID: "acct-bob", Role: "read", ExpiresAt: later}, 0); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "bob-new-password\n", "users", "passwd", "bob", "--password-stdin", "--config", cfg)
	if err != nil || !strings.Contains(out, "ended 1 refresh tokens and 1 engine refresh tokens") {
		t.Fatalf("passwd: %v\n%s", err, out)
	}
	if r, _ := st.RefreshToken(ctx, "r"); r.RevokedAt.IsZero() {
		t.Error("the old password's refresh token survived")
	}
	if e, _ := st.EngineRefreshToken(ctx, "e"); e.RevokedAt.IsZero() {
		t.Error("the old password's engine refresh family survived")
	}
	if a, _ := st.APIToken(ctx, "a"); !a.RevokedAt.IsZero() {
		t.Error("an API token ended with the password")
	}
	events, _ := st.ListAudit(ctx, 0, time.Time{}, 10)
	if len(events) != 1 || events[0].Kind != "user.password_changed" || events[0].Subject != cliActor {
		t.Errorf("audit = %+v, want one user.password_changed by the CLI", events)
	}
}

// TestEngineTokensVerifyOutOfTheBox: with engine.audience left out, the
// engine issuer is the audience too, and pkg/verify accepts the tokens of
// the password grant as the README's example says.
func TestEngineTokensVerifyOutOfTheBox(t *testing.T) {
	clearTollgateEnv(t)
	dir, _ := tollgateDir(t)
	secret := []byte("a-shared-engine-secret-of-32-bytes-or-more")
	secretPath := filepath.Join(dir, "engine.secret")
	if err := os.WriteFile(secretPath, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml, err := os.ReadFile(filepath.Join(dir, "tollgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml = append(yaml, []byte("engine: {enabled: true, issuer: anchore-engine, hmac_secret_file: "+secretPath+"}\n")...)
	path := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(path, yaml, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Engine.Audience != "anchore-engine" {
		t.Fatalf("engine.audience = %q, want the issuer", cfg.Engine.Audience)
	}
	a, srv := serveApp(t, cfg, slog.New(slog.DiscardHandler))
	form := url.Values{"grant_type": {"password"}, "client_id": {"anonymous"}, "username": {"alice"}, "password": {e2eUsers["alice"]}}
	resp, err := srv.Client().PostForm(srv.URL+"/v1/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v, status %d", err, resp.StatusCode)
	}
	v, err := verify.New(verify.Options{Issuer: "anchore-engine", Audience: "anchore-engine", HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := v.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("pkg/verify refuses an engine token: %v", err)
	}
	if acct, _ := a.accounts.Get(ctx, "alice"); c.Subject != acct.ID {
		t.Errorf("sub = %q, want alice's account id %q", c.Subject, acct.ID)
	}
}

// TestUsersCommandsForDirectoryUsers: with a directory among the user
// backends, disable, enable and revoke-tokens reach a user the htpasswd
// file does not hold (an LDAP user), even one who never logged in.
func TestUsersCommandsForDirectoryUsers(t *testing.T) {
	clearTollgateEnv(t)
	dir, _ := tollgateDir(t)
	cfg := filepath.Join(dir, "tollgate.yaml")
	rewriteConfig(t, cfg, "users:\n", `users:
  backends: [htpasswd, ldap]
  ldap:
    url: ldaps://ldap.example.invalid
    bind_dn: cn=tollgate,dc=example,dc=org
    bind_password_file: /nonexistent/bind
    base_dn: ou=people,dc=example,dc=org
`)
	for _, args := range [][]string{{"users", "disable", "dora"}, {"users", "revoke-tokens", "dora"}} {
		if out, err := runCLI(t, "", append(args, "--config", cfg)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if acct, err := st.Account(context.Background(), "dora"); err != nil || acct.State != store.AccountDisabled {
		t.Errorf("dora = %+v, %v; want a disabled account", acct, err)
	}
}
