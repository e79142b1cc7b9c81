package interop_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/store/postgres/pgtest"
)

// TestTwoReplicasShareOnePostgres runs two Tollgate servers from one
// configuration (same signing key, htpasswd and PostgreSQL schema), as
// replicas behind a load balancer: what one replica stores, the other
// honours, and a revocation on one is refused at once on both.
func TestTwoReplicasShareOnePostgres(t *testing.T) {
	dsn := pgtest.FreshSchema(t, pgtest.DSN(t)) // before any server starts on it
	e2etest.ClearEnv(t)
	e2etest.UsePostgresStore(t, dsn)
	dir, cfg := e2etest.Dir(t)
	if cfg.Store.Type != "postgres" {
		t.Fatalf("store.type = %q after the environment override, want postgres", cfg.Store.Type)
	}
	cfgPath := filepath.Join(dir, "tollgate.yaml")
	a := startTollgate(t, cfgPath) // both inherit the TOLLGATE_STORE_ overrides
	b := startTollgate(t, cfgPath)
	ac := accessController(t, filepath.Join(dir, "keys", "signing.crt"), a.Realm)

	t.Run("API token revoked on one replica is refused at once on the other", func(t *testing.T) {
		tok, prefix := e2etest.CreateAPIToken(t, a.HTTP, a.Base(), "alice", "write")
		for _, r := range []*e2eEnv{b, a} {
			status, body := r.GetToken(t, apiTokenUser, tok, "repository:alice/app:pull,push")
			jwt, _ := body["token"].(string)
			if status != http.StatusOK || jwt == "" {
				t.Fatalf("GET /oauth2/token on %s with the token = %d %v, want 200 with a token", r.Host, status, body)
			}
			wantAuthorized(t, ac, jwt, "alice", "alice/app", "pull", "push")
		}

		status, body := e2etest.APITokenCall(t, b.HTTP, b.Base(), "/api/tokens/revoke",
			map[string]any{"username": "alice", "password": e2etest.Users["alice"], "hash_prefix": prefix}, "")
		if status != http.StatusOK || body["revoked"] == nil {
			t.Fatalf("revoke on replica B = %d %v, want 200 with the revocation time", status, body)
		}
		// A honoured the token a moment ago; its very next answer is no.
		for _, r := range []*e2eEnv{a, b} {
			if status, body := r.GetToken(t, apiTokenUser, tok, "repository:alice/app:pull"); status != http.StatusUnauthorized {
				t.Errorf("GET /oauth2/token on %s with the revoked token = %d %v, want 401", r.Host, status, body)
			}
		}
	})

	t.Run("refresh token from one replica is redeemed on the other", func(t *testing.T) {
		status, body := a.PostToken(t, e2etest.OfflineForm("alice", e2etest.Users["alice"]))
		rt, _ := body["refresh_token"].(string)
		if status != http.StatusOK || rt == "" {
			t.Fatalf("password grant on replica A = %d %v, want 200 with a refresh_token", status, body)
		}
		status, body = b.PostToken(t, url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {rt},
			"client_id":     {"docker"},
			"service":       {e2etest.Service},
			"scope":         {"repository:alice/app:pull,push"},
		})
		jwt, _ := body["access_token"].(string)
		if status != http.StatusOK || jwt == "" {
			t.Fatalf("refresh_token grant on replica B = %d %v, want 200 with an access_token", status, body)
		}
		wantAuthorized(t, ac, jwt, "alice", "alice/app", "pull", "push")
	})

	t.Run("audit log holds both replicas' events", func(t *testing.T) {
		// A scope each replica alone is asked for tells their events apart.
		want := map[string]*e2eEnv{"repository:alice/from-a:pull": a, "repository:alice/from-b:pull": b}
		for scope, r := range want {
			r.MustGetToken(t, "alice", scope)
		}
		// Each replica writes its token events about once a second; read
		// them back the operator's way, through the shared configuration.
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := runCLI(t, "", "audit", "tail", "--json", "--since", "1h", "--config", cfgPath)
			if err != nil {
				t.Fatalf("tollgate audit tail: %v\n%s", err, out)
			}
			missing := missingIssued(t, out, "alice", slices.Collect(maps.Keys(want)))
			if len(missing) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit log lacks token.issued for %v after 10s; it holds:\n%s", missing, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// missingIssued returns the scopes for which the JSON lines of
// `tollgate audit tail --json` hold no token.issued event of subject that
// was asked for and granted exactly that scope.
func missingIssued(t *testing.T, out, subject string, scopes []string) []string {
	t.Helper()
	seen := map[string]bool{}
	for line := range strings.Lines(out) {
		var ev struct {
			Kind, Subject, Requested, Granted string
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit tail --json printed %q: %v", line, err)
		}
		if ev.Kind == auditTokenIssued && ev.Subject == subject && ev.Requested == ev.Granted {
			seen[ev.Granted] = true
		}
	}
	var missing []string
	for _, scope := range scopes {
		if !seen[scope] {
			missing = append(missing, scope)
		}
	}
	return missing
}
