package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// With token.reuse_window, the server answers a repeated identical grant
// with the token it already minted, and an admin's revoke-tokens ends that
// at once.
func TestTokenReuseInTheServer(t *testing.T) {
	clearTollgateEnv(t)
	_, cfg := tollgateDir(t)
	cfg.Token.ReuseWindow = 30 * time.Second
	cfg.Users.Admins = []string{"admin"}
	_, srv := serveApp(t, cfg, slog.New(slog.DiscardHandler))
	get := func() (string, int64) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/oauth2/token?service="+cfg.Token.Services[0]+
			"&scope=repository:alice/app:pull", nil)
		req.SetBasicAuth("alice", e2eUsers["alice"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Token     string `json:"token"`
			ExpiresIn int64  `json:"expires_in"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		return body.Token, body.ExpiresIn
	}
	first, _ := get()
	again, _ := get()
	if again != first {
		t.Fatal("an identical grant within the window got a new token")
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/users/alice/revoke-tokens", nil)
	req.SetBasicAuth("admin", e2eUsers["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke-tokens: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if after, _ := get(); after == first {
		t.Error("revoke-tokens did not end the reuse of alice's token")
	}
}
