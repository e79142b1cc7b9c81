package verify_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/verify"
)

func TestMiddleware(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	o := optionsFor(k, c)
	o.Realm = "billing"
	v := newVerifier(t, o)
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, ok := verify.FromContext(r.Context())
		if !ok {
			t.Error("no claims in the context")
		}
		fmt.Fprintf(w, "hello %s %v", claims.Subject, claims.HasScope("invoices:read"))
	}))
	expired := claimsAt(c.Now())
	expired["exp"] = c.Now().Add(-2 * time.Minute).Unix()
	wrongAud := claimsAt(c.Now())
	wrongAud["aud"] = "registry.local"

	tests := []struct {
		name      string
		auth      string
		status    int
		challenge string // exact WWW-Authenticate; "" = none
		errCode   string // JSON body "error"; "" = no body expected
		body      string // exact body of a success
	}{
		{"valid token", "Bearer " + sign(t, k, claimsAt(c.Now())), 200, "", "", "hello alice true"},
		{"scheme is case-insensitive", "bearer " + sign(t, k, claimsAt(c.Now())), 200, "", "", "hello alice true"},
		{"no Authorization", "", 401, `Bearer realm="billing"`, "", ""},
		{"Basic credentials", "Basic YWxpY2U6c2VjcmV0", 401, `Bearer realm="billing"`, "", ""},
		{"Bearer without token", "Bearer ", 400,
			`Bearer realm="billing", error="invalid_request", error_description="malformed Authorization header"`, "invalid_request", ""},
		{"garbage token", "Bearer not.a.token", 401,
			`Bearer realm="billing", error="invalid_token", error_description="the token is malformed"`, "invalid_token", ""},
		{"expired token", "Bearer " + sign(t, k, expired), 401,
			`Bearer realm="billing", error="invalid_token", error_description="the token expired"`, "invalid_token", ""},
		{"token for another service", "Bearer " + sign(t, k, wrongAud), 401,
			`Bearer realm="billing", error="invalid_token", error_description="the token is for another audience"`, "invalid_token", ""},
		{"unknown key", "Bearer " + sign(t, generate(t, "ES256"), claimsAt(c.Now())), 401,
			`Bearer realm="billing", error="invalid_token", error_description="the token was signed by an unknown key"`, "invalid_token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/invoices/1", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q\n want %q", got, tt.challenge)
			}
			if tt.status == 200 {
				if rec.Body.String() != tt.body {
					t.Errorf("body = %q, want %q", rec.Body, tt.body)
				}
				return
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			if tt.errCode == "" {
				if rec.Body.Len() != 0 {
					t.Errorf("body = %q, want none", rec.Body)
				}
				return
			}
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != tt.errCode || body.Description == "" {
				t.Errorf("body = %q (%v), want error %q", rec.Body, err, tt.errCode)
			}
		})
	}
}

func TestMiddlewareKeysUnavailable(t *testing.T) {
	c := newClock()
	k := generate(t, "ES256")
	srv := newJWKSServer(t, jwkOf(t, k.ID(), k.Public()))
	srv.set(func(s *jwksServer) { s.down = true })
	v := newVerifier(t, jwksOptions(srv, c))
	h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler called") }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, k, claimsAt(c.Now())))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || rec.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
	}
}

func TestMiddlewareDefaultRealmIsAudience(t *testing.T) {
	c := newClock()
	v := newVerifier(t, optionsFor(generate(t, "ES256"), c))
	rec := httptest.NewRecorder()
	v.Middleware(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if got, want := rec.Header().Get("WWW-Authenticate"), `Bearer realm="`+testAudience+`"`; got != want {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
	}
}
