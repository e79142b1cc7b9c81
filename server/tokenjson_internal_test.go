package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The hand-written response is byte for byte what encoding/json writes,
// with and without a refresh token.
func TestTokenResponseJSON(t *testing.T) {
	for _, resp := range []tokenResponse{
		{Token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", AccessToken: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
			ExpiresIn: 300, IssuedAt: "2026-12-06T13:00:00Z"},
		{Token: "a.b.c", AccessToken: "a.b.c", ExpiresIn: 0, IssuedAt: "2026-12-06T13:00:00Z", RefreshToken: "tgr_AbC-_9"},
	} {
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(resp.appendJSON(nil)); got != string(want)+"\n" {
			t.Errorf("appendJSON\n got %s\nwant %s", got, want)
		}
		rec := httptest.NewRecorder()
		writeTokenResponse(rec, resp)
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" ||
			rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != string(want)+"\n" {
			t.Errorf("response %d %v %s", rec.Code, rec.Header(), rec.Body.String())
		}
	}
}
