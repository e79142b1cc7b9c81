package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn/authntest"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
)

// registerTeam adds the team backend to userBackends for the test.
func registerTeam(t *testing.T) {
	userBackends["team"] = func(*config.Config, *slog.Logger) (*backend, error) {
		team := authntest.Static{Source: "team", Users: map[string]authntest.User{"carol": {Password: "let-me-in", Groups: []string{"ops"}}}}
		return &backend{Authenticator: team, users: team}, nil
	}
	t.Cleanup(func() { delete(userBackends, "team") })
}

// A backend listed in users.backends serves logins in order with the
// others; its groups reach the ACL and the token's identity claim.
func TestUserBackendsFromConfig(t *testing.T) {
	clearTollgateEnv(t)
	registerTeam(t)
	_, cfg := tollgateDir(t)
	cfg.Users.Backends = []string{"team", "htpasswd"}
	ops := "*"
	cfg.ACL = append([]authz.Rule{{Account: &ops, Group: "ops", Type: "repository", Name: "ops/*", Actions: []string{"pull", "push"}}}, cfg.ACL...)
	if err := errors.Join(cfg.Validate(), checkBackends(cfg)); err != nil {
		t.Fatal(err)
	}
	_, srv := serveApp(t, cfg, slog.New(slog.DiscardHandler))

	claims := getClaims(t, srv.URL, cfg.Token.Services[0], "carol", "let-me-in", "repository:ops/app:pull,push")
	if access, _ := claims["access"].([]any); len(access) != 1 {
		t.Errorf("carol of ops got access %v, want ops/app pull,push by the group rule", claims["access"])
	}
	id, _ := claims["tollgate"].(map[string]any)
	if id["source"] != "team" || id["kind"] != "user" || !strings.Contains(strings.Join(anyStrings(id["groups"]), ","), "ops") {
		t.Errorf("identity claim %v, want carol from team in ops", id)
	}
	// A user the first backend does not know falls through to htpasswd.
	if id := getClaims(t, srv.URL, cfg.Token.Services[0], "alice", e2eUsers["alice"], "")["tollgate"].(map[string]any); id["source"] != "htpasswd" {
		t.Errorf("alice vouched for by %v, want htpasswd", id["source"])
	}
	// A wrong password at the backend that knows the user stops there.
	if code := tokenStatus(t, srv.URL, cfg.Token.Services[0], "carol", e2eUsers["alice"]); code != http.StatusUnauthorized {
		t.Errorf("carol with a wrong password: %d, want 401", code)
	}
}

func TestUnknownUserBackendIsAConfigProblem(t *testing.T) {
	cfg := &config.Config{Users: config.Users{Backends: []string{"htpasswd", "nope"}}}
	err := checkBackends(cfg)
	if err == nil || !strings.Contains(err.Error(), `users.backends[1]: "nope" is not a user backend (htpasswd, ldap)`) {
		t.Errorf("checkBackends = %v", err)
	}
	if err := checkBackends(&config.Config{Users: config.Users{Backends: []string{"htpasswd"}}}); err != nil {
		t.Errorf("htpasswd refused: %v", err)
	}
}

func tokenStatus(t *testing.T, base, service, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/oauth2/token?service="+service, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// getClaims asks for a token and returns its (unverified) claims.
func getClaims(t *testing.T, base, service, user, pass, scope string) map[string]any {
	t.Helper()
	url := base + "/oauth2/token?service=" + service
	if scope != "" {
		url += "&scope=" + scope
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token for %s: status %d, %v", user, resp.StatusCode, err)
	}
	parts := strings.Split(body.Token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
