package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
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
