package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// TestAppFlushesLastUsedOnClose: a use between two periodic flushes is in
// the store once the app has closed.
func TestAppFlushesLastUsedOnClose(t *testing.T) {
	clearTollgateEnv(t)
	_, cfg := tollgateDir(t)
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
