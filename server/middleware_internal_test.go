package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// chain is the middleware stack of New around next.
func chain(logger *slog.Logger, next http.Handler) http.Handler {
	return withRequestID(withAccessLog(logger, withRecover(newRenderer(logger, "tollgate"), next)))
}

func TestRecoverTurnsPanicInto500(t *testing.T) {
	const internals = "db password=hunter2 at /srv/secret.go:42"
	tests := []struct {
		name  string
		panic any
	}{
		{"string", internals},
		{"error", errors.New(internals)},
		{"nil map write", nil}, // a runtime error, raised inside the handler
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			h := chain(logger, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				if tt.panic == nil {
					var m map[string]string
					m[internals] = "x"
				}
				panic(tt.panic)
			}))
			w := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/oauth2/token", nil)
			req.Header.Set("X-Request-ID", "panic-1")
			h.ServeHTTP(w, req)

			if w.Code != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500", w.Code)
			}
			if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "secret.go") ||
				strings.Contains(w.Body.String(), "nil map") {
				t.Errorf("500 body leaks internals: %s", w.Body)
			}
			var body struct {
				Errors []map[string]string `json:"errors"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if len(body.Errors) != 1 || body.Errors[0]["code"] != "UNKNOWN" || body.Errors[0]["message"] == "" {
				t.Errorf("body = %s, want one UNKNOWN error", w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := w.Header().Get("X-Request-ID"); got != "panic-1" {
				t.Errorf("X-Request-ID = %q", got)
			}
			// The panic is logged (for the operator) with the request ID,
			// and the access log records the 500.
			l := logs.String()
			if !strings.Contains(l, `"msg":"panic"`) || !strings.Contains(l, `"request_id":"panic-1"`) {
				t.Errorf("panic not logged with its request ID:\n%s", l)
			}
			if !strings.Contains(l, `"status":500`) {
				t.Errorf("access log does not record the 500:\n%s", l)
			}
		})
	}
}

func TestRecoverRepanicsAbortHandler(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	h := withRecover(renderer{logger: logger}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler to propagate", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	t.Error("ErrAbortHandler was swallowed")
}

func TestSaneID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"abc-DEF_123.x", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"a b", false},
		{"a\nb", false},
		{"é", false},
		{"a/b", false},
	}
	for _, tt := range tests {
		if got := saneID(tt.id); got != tt.want {
			t.Errorf("saneID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestRecoverAfterResponseBegan(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	h := withRecover(newRenderer(logger, "tollgate"), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("partial"))
		panic("late failure")
	}))
	rec := httptest.NewRecorder()
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler so the server cuts the response", v)
		}
		if got := rec.Body.String(); got != "partial" {
			t.Errorf("body = %q: a 500 body was appended to a begun response", got)
		}
	}()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestChallengeEscapesRealm(t *testing.T) {
	rd := newRenderer(slog.New(slog.DiscardHandler), `a "quoted" \ realm`)
	rec := httptest.NewRecorder()
	rd.docker(rec, unauthorized("no"))
	want := `Basic realm="a \"quoted\" \\ realm"`
	if got := rec.Header().Get("WWW-Authenticate"); got != want {
		t.Errorf("challenge = %s, want %s", got, want)
	}
}
