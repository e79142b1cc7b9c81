package server_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stalledBody sends prefix, then blocks until done: a client that
// declared more than it sends, or sends it slowly.
type stalledBody struct {
	prefix io.Reader
	done   <-chan struct{}
}

func (b stalledBody) Read(p []byte) (int, error) {
	if n, err := b.prefix.Read(p); n > 0 || err != io.EOF {
		return n, err
	}
	<-b.done
	return 0, io.ErrUnexpectedEOF
}

// A body declared larger than its endpoint reads is refused with 413 in
// the endpoint's error format as soon as the header is in: before a byte
// of the body is read and before any credential is checked (the stalled
// body would hang a server that read it, and passwordCalls would count a
// check). Above 256 KiB net/http would not drain the body anyway; just
// above the limit it would, unless the answer closes the connection.
func TestDeclaredOversizedBody(t *testing.T) {
	const kib = 1 << 10
	form := "grant_type=password&client_id=anonymous&username=alice&password=" + passwords["alice"] + "&token=x&pad="
	json := `{"username":"alice","password":"` + passwords["alice"] + `","pad":"`
	tests := []struct {
		method, path string
		limit        int64
		body         string
		contentType  string
		oauth        bool // RFC 6749 §5.2, else the registry's format
	}{
		{http.MethodPost, endpoint, 64 * kib, form, "application/x-www-form-urlencoded", true},
		{http.MethodGet, endpoint + "?service=" + service, 64 * kib, form, "application/x-www-form-urlencoded", false},
		{http.MethodPost, engineToken, 64 * kib, form, "application/x-www-form-urlencoded", true},
		{http.MethodPost, engineToken, 64 * kib, "", "", true}, // Basic on an "empty" body
		{http.MethodPost, "/oauth2/revoke", 64 * kib, form, "application/x-www-form-urlencoded", true},
		{http.MethodPost, "/oauth2/introspect", 64 * kib, form, "application/x-www-form-urlencoded", true},
		{http.MethodPost, "/api/tokens", 16 * kib, json, "application/json", false},
		{http.MethodPost, "/api/tokens/list", 16 * kib, json, "application/json", false},
		{http.MethodPost, "/api/tokens/revoke", 16 * kib, json, "application/json", false},
	}
	e := newEngineEnv(t, engineOptions{})
	for _, tt := range tests {
		for _, declared := range []int64{tt.limit + 1, 1 << 40} {
			name := tt.method + " " + tt.path + " " + tt.contentType + " " + strconv.FormatInt(declared, 10)
			t.Run(name, func(t *testing.T) {
				// The body stalls until the test is done, or gives up.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, tt.method, e.srv.URL+tt.path, stalledBody{strings.NewReader(tt.body), ctx.Done()})
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = declared
				if tt.contentType != "" {
					req.Header.Set("Content-Type", tt.contentType)
				}
				req.SetBasicAuth("alice", passwords["alice"])
				before := e.passwordCalls.calls.Load()
				r := e.do(t, req)
				if tt.oauth {
					checkOAuthError(t, r, http.StatusRequestEntityTooLarge, "invalid_request")
				} else {
					checkDockerError(t, r, http.StatusRequestEntityTooLarge, "INVALID_REQUEST", true)
				}
				if got := e.passwordCalls.calls.Load(); got != before {
					t.Errorf("%d password checks for a refused body, want none", got-before)
				}
				if want := strconv.FormatInt(tt.limit/kib, 10) + " KiB"; !strings.Contains(string(r.body), want) {
					t.Errorf("body %s does not name the limit, %s", r.body, want)
				}
			})
		}
	}
}
