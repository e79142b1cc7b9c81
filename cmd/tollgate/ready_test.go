package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// ready asks GET /ready and returns the status and the store check.
func (e *e2eEnv) ready(t *testing.T) (int, string) {
	t.Helper()
	resp, err := e.client.Get(e.base() + "/ready")
	if err != nil {
		t.Fatalf("GET /ready: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Checks map[string]string }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("GET /ready: %q: %v", body, err)
	}
	return resp.StatusCode, r.Checks["store"]
}

// TestReadyFailsOnCorruptSQLite: a SQLite file overwritten under the
// running server (its header no longer SQLite's) turns /ready 503 at the
// next probe, although pooled connections would still answer from their
// cache.
func TestReadyFailsOnCorruptSQLite(t *testing.T) {
	clearTollgateEnv(t)
	_, cfg := tollgateDir(t)
	c := tokenClient(t, startTollgate(t, cfg))
	c.waitAnswering(t, 15*time.Second, nil)
	if status, check := c.ready(t); status != http.StatusOK || check != "ok" {
		t.Fatalf("GET /ready = %d, store %q; want 200 ok", status, check)
	}
	c.mustGetToken(t, "alice", "repository:alice/app:pull") // the store in use

	f, err := os.OpenFile(cfg.Store.Path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("garbage over the SQLite header"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if status, check := c.ready(t); status != http.StatusServiceUnavailable || check == "ok" {
		t.Errorf("GET /ready with a corrupt file = %d, store %q; want 503 and the store failing", status, check)
	}
}

// TestPurgeDeletesAuditPastRetention: the hourly purge removes the audit
// events older than audit.retention and keeps the others.
func TestPurgeDeletesAuditPastRetention(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const retention = 90 * 24 * time.Hour
	events := []store.AuditEvent{
		{Time: now.Add(-retention - time.Minute), Kind: audit.TokenIssued, Detail: "old"},
		{Time: now.Add(-retention + time.Minute), Kind: audit.TokenIssued, Detail: "kept"},
		{Time: now.Add(-time.Minute), Kind: audit.TokenDenied, Detail: "recent"},
	}
	if err := st.AppendAudit(ctx, events); err != nil {
		t.Fatal(err)
	}
	purgeOnce(ctx, st, retention, now, slog.New(slog.DiscardHandler))
	left, err := st.ListAudit(ctx, 0, time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range left {
		details = append(details, e.Detail)
	}
	if len(details) != 2 || details[0] != "kept" || details[1] != "recent" {
		t.Errorf("after the purge the log holds %q, want [kept recent]", details)
	}
}
