package interop_test

// What deploy/gateway/nginx.conf makes of each answer of the auth
// subrequest, checked with the real nginx between two recording fakes: an
// auth server answering as a test case says, and a registry. The facts of
// nginx's auth_request module the configuration relies on:
//   - 2xx lets the request through; 401 and 403 come back with that status
//     (401 with the subrequest's WWW-Authenticate); every other status
//     becomes 500, which error_page maps back to 429 (with Retry-After)
//     or 503;
//   - the subrequest is a GET without the body (proxy_pass_request_body
//     off, Content-Length cleared), whatever the original method;
//   - the body of an allowed request streams to the registry in full,
//     chunked or not, past nginx's default 1 MiB limit.

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/gateway/nginxtest"
)

// Headers with which a test request tells the fake auth server its answer.
const (
	fakeStatusHeader  = "X-Test-Auth-Status"  // default 200
	fakeSubjectHeader = "X-Test-Auth-Subject" // X-Tollgate-Subject of a 200
)

// seenRequest is what a fake server keeps of a request.
type seenRequest struct {
	Method, URI      string
	OriginalMethod   string // X-Original-Method
	OriginalURI      string // X-Original-URI
	ContentLength    string // the header
	ForwardedFor     string
	Subject          string // X-Tollgate-Subject
	BodyLen          int64
	TransferEncoding []string
}

// fakeRecorder keeps what a fake server was asked.
type fakeRecorder struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (f *fakeRecorder) record(r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, seenRequest{Method: r.Method, URI: r.RequestURI,
		OriginalMethod: r.Header.Get("X-Original-Method"), OriginalURI: r.Header.Get("X-Original-URI"),
		ContentLength: r.Header.Get("Content-Length"), ForwardedFor: r.Header.Get("X-Forwarded-For"),
		Subject: r.Header.Get("X-Tollgate-Subject"), BodyLen: n, TransferEncoding: r.TransferEncoding})
}

// take returns the requests seen since the last take.
func (f *fakeRecorder) take() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.seen
	f.seen = nil
	return s
}

// fakeAuth answers as the request's fakeStatusHeader says, with the
// headers Tollgate would send.
func fakeAuth(t *testing.T, rec *fakeRecorder) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		status := http.StatusOK
		if s := r.Header.Get(fakeStatusHeader); s != "" {
			status, _ = strconv.Atoi(s)
		}
		switch status {
		case http.StatusOK:
			w.Header().Set("X-Tollgate-Subject", r.Header.Get(fakeSubjectHeader))
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "42")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"errors":[{"code":"FROM_AUTH"}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeRegistry answers 202 to everything, as a registry would.
func fakeRegistry(t *testing.T, rec *fakeRecorder) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startNginxFakes serves deploy/gateway/nginx.conf between the fakes (or
// with ${TOLLGATE} at tollgateAddr when it is not "").
func startNginxFakes(t *testing.T, auth, registry *httptest.Server, tollgateAddr string) *nginxtest.Server {
	t.Helper()
	site, err := os.ReadFile(gatewayNginxConf)
	if err != nil {
		t.Fatal(err)
	}
	if tollgateAddr == "" {
		tollgateAddr = auth.Listener.Addr().String()
	}
	return nginxtest.Start(t, string(site), map[string]string{"TOLLGATE": tollgateAddr, "REGISTRY": registry.Listener.Addr().String()})
}

func TestGatewayNginxConfig(t *testing.T) {
	authSeen, regSeen := &fakeRecorder{}, &fakeRecorder{}
	auth, registry := fakeAuth(t, authSeen), fakeRegistry(t, regSeen)
	ngx := startNginxFakes(t, auth, registry, "")
	client := e2etest.NewClient(t, ngx.Addr, 30*time.Second).HTTP
	big := bytes.Repeat([]byte("layer..."), 3<<20/8) // 3 MiB, past nginx's default client_max_body_size

	for _, c := range []struct {
		name        string
		method, uri string
		body        io.Reader // nil: none; not a *bytes.Reader: sent chunked
		header      http.Header
		// want
		status     int
		code       string // the Docker error of nginx's answer; "" when the registry answers
		authURI    string // X-Original-URI
		subject    string // X-Tollgate-Subject the registry sees
		regBody    int64
		respHeader http.Header // headers of the answer, each exactly
	}{
		{name: "allowed HEAD reaches the registry with the subject, not the client's", method: http.MethodHead,
			uri: "/v2/a/b/manifests/v1",
			header: http.Header{fakeSubjectHeader: {"alice"}, "X-Tollgate-Subject": {"mallory"},
				"X-Original-Uri": {"/v2/c/d/manifests/v1"}, "X-Original-Method": {http.MethodGet}},
			status: http.StatusAccepted, authURI: "/v2/a/b/manifests/v1", subject: "alice",
			respHeader: http.Header{"Docker-Distribution-Api-Version": {"registry/2.0"}}},
		{name: "the query reaches Tollgate", method: http.MethodPost, uri: "/v2/a/b/blobs/uploads/?mount=sha256:1&from=c/d",
			header: http.Header{fakeSubjectHeader: {"alice"}},
			status: http.StatusAccepted, authURI: "/v2/a/b/blobs/uploads/?mount=sha256:1&from=c/d", subject: "alice"},
		{name: "anonymous: no subject goes on", method: http.MethodGet, uri: "/v2/public/x/tags/list",
			header: http.Header{"X-Tollgate-Subject": {"mallory"}},
			status: http.StatusAccepted, authURI: "/v2/public/x/tags/list"},
		{name: "a chunked 3 MiB PATCH streams to the registry, none of it to Tollgate", method: http.MethodPatch,
			uri: "/v2/a/b/blobs/uploads/u1", body: io.MultiReader(bytes.NewReader(big)), header: http.Header{fakeSubjectHeader: {"alice"}},
			status: http.StatusAccepted, authURI: "/v2/a/b/blobs/uploads/u1", subject: "alice", regBody: int64(len(big))},
		{name: "a 3 MiB PUT with Content-Length too", method: http.MethodPut,
			uri: "/v2/a/b/blobs/uploads/u2?digest=sha256:2", body: bytes.NewReader(big), header: http.Header{fakeSubjectHeader: {"alice"}},
			status: http.StatusAccepted, authURI: "/v2/a/b/blobs/uploads/u2?digest=sha256:2", subject: "alice", regBody: int64(len(big))},
		{name: "401 keeps Tollgate's challenge", method: http.MethodGet, uri: "/v2/a/b/manifests/v1",
			header: http.Header{fakeStatusHeader: {"401"}}, status: http.StatusUnauthorized, code: "UNAUTHORIZED",
			authURI:    "/v2/a/b/manifests/v1",
			respHeader: http.Header{"Www-Authenticate": {`Basic realm="fake"`}, "Docker-Distribution-Api-Version": {"registry/2.0"}}},
		{name: "an unauthorized PUT's body goes nowhere", method: http.MethodPut, uri: "/v2/a/b/blobs/uploads/u3",
			body: bytes.NewReader(big), header: http.Header{fakeStatusHeader: {"401"}},
			status: http.StatusUnauthorized, code: "UNAUTHORIZED", authURI: "/v2/a/b/blobs/uploads/u3"},
		{name: "403", method: http.MethodDelete, uri: "/v2/a/b/manifests/v1", header: http.Header{fakeStatusHeader: {"403"}},
			status: http.StatusForbidden, code: "DENIED", authURI: "/v2/a/b/manifests/v1"},
		{name: "429 keeps its status and Retry-After", method: http.MethodGet, uri: "/v2/a/b/manifests/v1",
			header: http.Header{fakeStatusHeader: {"429"}}, status: http.StatusTooManyRequests, code: "TOOMANYREQUESTS",
			authURI: "/v2/a/b/manifests/v1", respHeader: http.Header{"Retry-After": {"42"}}},
		{name: "503 stays 503", method: http.MethodGet, uri: "/v2/a/b/manifests/v1", header: http.Header{fakeStatusHeader: {"503"}},
			status: http.StatusServiceUnavailable, code: "UNAVAILABLE", authURI: "/v2/a/b/manifests/v1"},
		{name: "500 becomes 503", method: http.MethodGet, uri: "/v2/a/b/manifests/v1", header: http.Header{fakeStatusHeader: {"500"}},
			status: http.StatusServiceUnavailable, code: "UNAVAILABLE", authURI: "/v2/a/b/manifests/v1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, ngx.URL()+c.uri, c.body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: %d %q, want %d", c.method, c.uri, resp.StatusCode, body, c.status)
			}
			if c.code != "" {
				wantDockerCode(t, body, c.code)
			}
			for k, v := range c.respHeader {
				if got := resp.Header.Values(k); !slices.Equal(got, v) {
					t.Errorf("answer's %s: %q, want %q", k, got, v)
				}
			}
			if c.status != http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
				t.Errorf("answer has Retry-After %q", resp.Header.Get("Retry-After"))
			}

			asked := authSeen.take()
			if len(asked) != 1 {
				t.Fatalf("Tollgate was asked %d times: %+v, want once", len(asked), asked)
			}
			a := asked[0]
			if a.Method != http.MethodGet || a.URI != "/auth/forward" || a.OriginalMethod != c.method || a.OriginalURI != c.authURI {
				t.Errorf("Tollgate was asked %s %s about %s %s; want GET /auth/forward about %s %s",
					a.Method, a.URI, a.OriginalMethod, a.OriginalURI, c.method, c.authURI)
			}
			if a.BodyLen != 0 || a.ContentLength != "" || len(a.TransferEncoding) != 0 || a.ForwardedFor != "127.0.0.1" {
				t.Errorf("the auth subrequest had a %d-byte body, Content-Length %q, Transfer-Encoding %q, X-Forwarded-For %q; want no body, neither header, the client's address",
					a.BodyLen, a.ContentLength, a.TransferEncoding, a.ForwardedFor)
			}

			reached := regSeen.take()
			if c.code != "" {
				if len(reached) != 0 {
					t.Errorf("refused, yet the registry was reached: %+v", reached)
				}
				return
			}
			if len(reached) != 1 {
				t.Fatalf("the registry saw %+v, want the one request", reached)
			}
			r := reached[0]
			if r.Method != c.method || r.URI != c.uri || r.Subject != c.subject || r.BodyLen != c.regBody {
				t.Errorf("the registry saw %s %s, subject %q, %d body bytes; want %s %s, %q, %d",
					r.Method, r.URI, r.Subject, r.BodyLen, c.method, c.uri, c.subject, c.regBody)
			}
		})
	}

	t.Run("only /v2/ is served", func(t *testing.T) {
		resp, err := client.Get(ngx.URL() + "/debug/vars")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || len(authSeen.take()) != 0 || len(regSeen.take()) != 0 {
			t.Errorf("GET /debug/vars: %d; want nginx's 404, neither fake asked", resp.StatusCode)
		}
	})

	t.Run("Tollgate unreachable: 503, fail closed", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		down := startNginxFakes(t, auth, registry, closed)
		resp, err := client.Get(down.URL() + "/v2/a/b/manifests/v1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || len(regSeen.take()) != 0 {
			t.Errorf("with Tollgate unreachable: %d %q, want 503 and the registry not reached", resp.StatusCode, body)
		}
		wantDockerCode(t, body, "UNAVAILABLE")
		if !strings.Contains(down.Log(), "connect() failed") {
			t.Errorf("nginx's log does not say it could not reach Tollgate:\n%s", down.Log())
		}
	})
}
