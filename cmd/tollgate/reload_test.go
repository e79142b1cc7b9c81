package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// reloadRule is a rule that only a reload brings: alice may pull reload/*.
const (
	reloadRule  = "  - {account: alice, type: repository, name: \"reload/*\", actions: [pull]}\n"
	reloadScope = "repository:reload/app:pull"
	aliceScope  = "repository:alice/app:pull" // granted by e2eACL's ${account}/* rule
)

// Log messages of a reload.
const (
	msgACLReloaded   = "acl reloaded"
	msgReloadFailed  = "configuration reload failed; keeping the running ACL"
	msgNeedsRestart  = "configuration changed where a reload cannot apply it; restart to apply"
	metricReloadOK   = "tollgate_config_last_reload_successful"
	metricReloadTime = "tollgate_config_last_reload_success_timestamp_seconds"
)

// reloadApp is the app as `serve` builds it from the e2e configuration
// file, served on loopback.
type reloadApp struct {
	path   string // the configuration file
	app    *app
	client *e2eEnv
	logs   *logtest.Buffer
	logger *slog.Logger
}

func startReloadApp(t *testing.T) *reloadApp {
	t.Helper()
	clearTollgateEnv(t)
	dir, cfg := tollgateDir(t)
	r := &reloadApp{path: filepath.Join(dir, "tollgate.yaml"), logs: &logtest.Buffer{}}
	r.logger = slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := newApp(context.Background(), cfg, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("tollgate log:\n%s", r.logs.String())
		}
	})
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)
	r.app, r.client = a, tokenClient(t, srv.Listener.Addr().String())
	return r
}

func (r *reloadApp) reload(t *testing.T) {
	t.Helper()
	r.app.Reload(context.Background(), r.logger)
}

// rewriteConfig replaces old by new in the configuration file at path.
func rewriteConfig(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// logRecords returns the JSON log records whose msg is msg.
func logRecords(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// metric returns the value of an unlabelled metric on GET /metrics.
func (e *e2eEnv) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := e.client.Get(e.base() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	for line := range strings.Lines(string(body)) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			return value
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return ""
}

// A reload puts the file's new ACL in force: a scope that was denied is
// granted. A key that needs a restart is named, not applied.
func TestReloadPutsNewACLInForce(t *testing.T) {
	r := startReloadApp(t)
	if got := r.client.metric(t, metricReloadOK); got != "1" {
		t.Errorf("%s = %s at start, want 1", metricReloadOK, got)
	}
	startedAt := r.client.metric(t, metricReloadTime)
	if startedAt == "0" {
		t.Errorf("%s = 0 at start, want the time of the start", metricReloadTime)
	}
	if got := r.client.grantedScope(t, "alice", reloadScope); got != "" {
		t.Fatalf("before the reload alice is granted %q, want nothing", got)
	}

	rewriteConfig(t, r.path, e2eACL, e2eACL+reloadRule)
	rewriteConfig(t, r.path, "cache_ttl: 5m", "cache_ttl: 1m")
	r.reload(t)

	if got := r.client.grantedScope(t, "alice", reloadScope); got != reloadScope {
		t.Errorf("after the reload alice is granted %q, want %s", got, reloadScope)
	}
	if got := r.client.grantedScope(t, "alice", aliceScope); got != aliceScope {
		t.Errorf("after the reload alice is granted %q, want %s as before", got, aliceScope)
	}
	if recs := logRecords(t, r.logs.String(), msgACLReloaded); len(recs) != 1 || recs[0]["rules"] != float64(5) {
		t.Errorf("%q records = %v, want one with rules 5", msgACLReloaded, recs)
	}
	recs := logRecords(t, r.logs.String(), msgNeedsRestart)
	if len(recs) != 1 || !slices.Equal(anyStrings(recs[0]["keys"]), []string{"users.cache_ttl"}) || recs[0]["level"] != "WARN" {
		t.Errorf("%q records = %v, want one warning naming users.cache_ttl", msgNeedsRestart, recs)
	}
	if len(logRecords(t, r.logs.String(), msgReloadFailed)) != 0 {
		t.Errorf("a good reload logged a failure")
	}
	if got := r.client.metric(t, metricReloadOK); got != "1" {
		t.Errorf("%s = %s after a good reload, want 1", metricReloadOK, got)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// A configuration that does not load or validate keeps the running ACL:
// every problem is logged with its key, the metric drops to 0, and the
// next good reload applies.
func TestReloadKeepsACLOnBadConfig(t *testing.T) {
	tests := []struct {
		name         string
		edits        [][2]string // of the file: old, new
		wantProblems []string    // each in its own log record
	}{
		{
			name:         "rule without actions",
			edits:        [][2]string{{e2eACL, e2eACL + "  - {account: alice, name: \"reload/*\"}\n"}},
			wantProblems: []string{"acl[4].actions"},
		},
		{
			name: "bad rules and a bad key",
			edits: [][2]string{
				{"level: debug", "level: loud"},
				{e2eACL, "acl:\n  - {account: alice, name: \"reload/*\", ip: [\"10.0.0.0/99\"], actions: [pull]}\n  - {actions: [pull]}\n"},
			},
			wantProblems: []string{"log.level", "acl[0].ip[0]", "acl[1].account"},
		},
		{
			name:         "unknown key in a rule",
			edits:        [][2]string{{e2eACL, e2eACL + "  - {account: alice, repo: \"reload/*\", actions: [pull]}\n"}},
			wantProblems: []string{`unknown key "acl[4].repo"`},
		},
		{
			name:         "not YAML",
			edits:        [][2]string{{e2eACL, e2eACL + "  - {account: alice\n"}},
			wantProblems: []string{"tollgate.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startReloadApp(t)
			good, err := os.ReadFile(r.path)
			if err != nil {
				t.Fatal(err)
			}
			for _, edit := range tt.edits {
				rewriteConfig(t, r.path, edit[0], edit[1])
			}
			r.reload(t)

			recs := logRecords(t, r.logs.String(), msgReloadFailed)
			var problems []string
			for _, rec := range recs {
				p, _ := rec["problem"].(string)
				problems = append(problems, p)
				if rec["level"] != "ERROR" {
					t.Errorf("problem %q logged at %v, want ERROR", p, rec["level"])
				}
			}
			for _, want := range tt.wantProblems {
				if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
					t.Errorf("no logged problem names %s; problems: %q", want, problems)
				}
			}
			if len(problems) < len(tt.wantProblems) {
				t.Errorf("%d problems logged, want each of %q on its own", len(problems), tt.wantProblems)
			}
			if len(logRecords(t, r.logs.String(), msgACLReloaded)) != 0 {
				t.Error("a refused configuration logged an ACL reload")
			}
			if got := r.client.metric(t, metricReloadOK); got != "0" {
				t.Errorf("%s = %s after a bad reload, want 0", metricReloadOK, got)
			}
			if got := r.client.grantedScope(t, "alice", aliceScope); got != aliceScope {
				t.Errorf("after a bad reload alice is granted %q, want %s: the running ACL", got, aliceScope)
			}
			if got := r.client.grantedScope(t, "alice", reloadScope); got != "" {
				t.Errorf("after a bad reload alice is granted %q on reload/app, want nothing", got)
			}

			// Fixed, the next reload applies.
			if err := os.WriteFile(r.path, good, 0o600); err != nil {
				t.Fatal(err)
			}
			rewriteConfig(t, r.path, e2eACL, e2eACL+reloadRule)
			r.reload(t)
			if got := r.client.metric(t, metricReloadOK); got != "1" {
				t.Errorf("%s = %s after the fix, want 1", metricReloadOK, got)
			}
			if got := r.client.grantedScope(t, "alice", reloadScope); got != reloadScope {
				t.Errorf("after the fix alice is granted %q, want %s", got, reloadScope)
			}
		})
	}
}

// TestUserBackWithinConfirmDelayKeepsCredentials: a user missing from one
// read of the htpasswd file (a file rewritten in place and read
// half-written, or `users remove` followed by `users add`) who is back
// before accounts.DefaultConfirmDelay keeps her account and what it holds.
// The server must see her come back while it waits to confirm the removal.
func TestUserBackWithinConfirmDelayKeepsCredentials(t *testing.T) {
	r := startReloadApp(t)
	path := r.app.cfg.Users.Htpasswd
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := createAPIToken(t, r.client.client, r.client.base(), "alice", "read")
	identity := r.client.identityToken(t, "alice", e2eUsers["alice"])

	var without strings.Builder
	for line := range strings.Lines(string(full)) {
		if !strings.HasPrefix(line, "alice:") {
			without.WriteString(line)
		}
	}
	if err := os.WriteFile(path, []byte(without.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	gone := waitUser(t, r.app, "alice", false, 5*time.Second)
	if err := os.WriteFile(path, full, 0o600); err != nil {
		t.Fatal(err)
	}
	back := waitUser(t, r.app, "alice", true, 5*time.Second)
	t.Logf("alice back in the server's users %s after she left them", back.Sub(gone).Round(time.Millisecond))
	if back.Sub(gone) >= accounts.DefaultConfirmDelay {
		t.Errorf("the server saw alice back only %s after she left, not within the confirmation delay (%s)",
			back.Sub(gone).Round(time.Millisecond), accounts.DefaultConfirmDelay)
	}
	// Past the confirmation (with room for a slow machine), nothing ended.
	time.Sleep(time.Until(gone.Add(accounts.DefaultConfirmDelay + 500*time.Millisecond)))

	if status, body := r.client.getToken(t, apitoken.Username, api, aliceScope); status != http.StatusOK {
		t.Errorf("alice's API token after her return: %d %v, want 200", status, body)
	}
	status, body := r.client.postToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {identity},
		"client_id": {"docker"}, "service": {e2eService}})
	if status != http.StatusOK {
		t.Errorf("alice's identity token after her return: %d %v, want 200", status, body)
	}
	if recs := logRecords(t, r.logs.String(), "account removed; its credentials are revoked"); len(recs) != 0 {
		t.Errorf("the server removed an account: %v", recs)
	}
}

// waitUser waits until the app's users list name (or not, as want says)
// and returns when it saw that.
func waitUser(t *testing.T, a *app, name string, want bool, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if ok, _ := a.users.Exists(t.Context(), name); ok == want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in the server's users: still %v after %s", name, !want, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
