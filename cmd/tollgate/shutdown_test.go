//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/config"
)

// The real binary (this test binary re-executed as `tollgate serve`, see
// crash_test.go) is started on a fresh development environment and
// answering when startBinary returns.
func startBinary(t *testing.T) *serverProcess {
	t.Helper()
	p, _ := startBinaryWith(t)
	return p
}

// startBinaryWith is startBinary that also returns the configuration the
// binary runs with.
func startBinaryWith(t *testing.T) (*serverProcess, *config.Config) {
	t.Helper()
	clearTollgateEnv(t)
	dir, cfg := tollgateDir(t)
	p := startServerProcess(t, filepath.Join(dir, "tollgate.yaml"), freeAddr(t))
	tokenClient(t, p.addr).waitAnswering(t, 15*time.Second, p.done)
	return p, cfg
}

// rawRequest is one HTTP/1.1 exchange written byte by byte, so a test
// controls when each part of the request reaches the server.
type rawRequest struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawRequest {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &rawRequest{conn: conn, br: bufio.NewReader(conn)}
}

func (c *rawRequest) write(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// response reads one response (a 1xx too) and its whole body.
func (c *rawRequest) response(t *testing.T) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SIGTERM while a token request is in flight: the server stops accepting
// connections, lets the request finish (its body arrives only after the
// signal) with a token, records it in the audit log, and then exits 0.
func TestSIGTERMFinishesInFlightRequest(t *testing.T) {
	p, cfg := startBinaryWith(t)
	body := url.Values{
		"grant_type": {"password"}, "username": {"alice"}, "password": {e2eUsers["alice"]},
		"client_id": {"shutdown-test"}, "service": {e2eService}, "scope": {"repository:alice/app:pull"},
	}.Encode()

	// 1. Headers only. With Expect: 100-continue the server says
	// "100 Continue" once the handler reads the body: the request is in
	// flight, inside the token endpoint.
	c := dialRaw(t, p.addr)
	c.write(t, fmt.Sprintf("POST /oauth2/token HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		p.addr, len(body)))
	if resp, _ := c.response(t); resp.StatusCode != http.StatusContinue {
		t.Fatalf("status %d, want 100 Continue", resp.StatusCode)
	}
	c.write(t, body[:len(body)/2])

	// 2. SIGTERM: the server begins shutting down and closes its listener,
	// but does not exit while the request is unfinished.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	waitUntil(t, 10*time.Second, "the server logs that it is shutting down", func() bool {
		return strings.Contains(p.logs.String(), `"msg":"shutting down"`)
	})
	waitUntil(t, 10*time.Second, "the server refuses new connections", func() bool {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	})
	select {
	case <-p.done:
		t.Fatalf("the server exited (%v) with a request in flight", p.err)
	case <-time.After(200 * time.Millisecond):
	}

	// 3. The rest of the body: the request completes with a token.
	c.write(t, body[len(body)/2:])
	resp, raw := c.response(t)
	var got struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &got) != nil || got.AccessToken == "" {
		t.Fatalf("in-flight request = %d %s, want 200 with an access_token", resp.StatusCode, raw)
	}

	// 4. Then the process exits, with status 0.
	p.wantCleanExit(t, "the last request finished")

	// 5. The request that finished during the shutdown is in the audit log:
	// the audit writer stops after the last request, not at the signal.
	issued := 0
	for _, ev := range readAudit(t, cfg.Store.Path) {
		if ev.Kind == audit.TokenIssued && ev.ClientID == "shutdown-test" {
			issued++
		}
	}
	if issued != 1 {
		t.Errorf("%d token.issued rows for the request finished during shutdown, want 1", issued)
	}
}

// The real server's size limits: a header over 64 KiB is answered 431, a
// token form over 64 KiB and an API token body over 16 KiB 413.
func TestBinaryRequestSizeLimits(t *testing.T) {
	p := startBinary(t)
	tests := []struct {
		name       string
		request    string
		wantStatus int
	}{
		{
			name: "header over 64 KiB",
			request: "GET /oauth2/token?service=" + e2eService + " HTTP/1.1\r\nHost: tollgate\r\n" +
				"X-Padding: " + strings.Repeat("a", maxHeaderBytes+8<<10) + "\r\n\r\n",
			wantStatus: http.StatusRequestHeaderFieldsTooLarge,
		},
		{
			name:       "header just under the limit",
			request:    "GET /oauth2/token?service=" + e2eService + " HTTP/1.1\r\nHost: tollgate\r\nX-Padding: " + strings.Repeat("a", 60<<10) + "\r\n\r\n",
			wantStatus: http.StatusOK,
		},
		{
			name:       "token form over 64 KiB",
			request:    bodyRequest("/oauth2/token", "application/x-www-form-urlencoded", "grant_type=password&scope="+strings.Repeat("a", 80<<10)),
			wantStatus: http.StatusRequestEntityTooLarge,
		},
		{
			name:       "API token body over 16 KiB",
			request:    bodyRequest("/api/tokens", "application/json", `{"username":"alice","description":"`+strings.Repeat("a", 20<<10)+`"}`),
			wantStatus: http.StatusRequestEntityTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, p.addr)
			go io.WriteString(c.conn, tt.request) // the server may answer before it has read it all
			resp, body := c.response(t)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d; body %.200s", resp.StatusCode, tt.wantStatus, body)
			}
		})
	}
	p.stop(t)
}

func bodyRequest(path, contentType, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: tollgate\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
		path, contentType, len(body), body)
}

// TestSIGHUPReloadsWithoutStopping: systemd's ExecReload sends SIGHUP; the
// server must reload and keep serving, not exit (Go's default for SIGHUP).
func TestSIGHUPReloadsWithoutStopping(t *testing.T) {
	p := startBinary(t)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.logs.String(), "reloaded on SIGHUP") {
		select {
		case <-p.done:
			t.Fatalf("server exited on SIGHUP: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged 10s after SIGHUP; log:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tokenClient(t, p.addr).mustGetToken(t, "alice", "repository:alice/app:pull")
	p.stop(t)
}

// The access log is written by its own goroutine (asynclog), yet a clean
// shutdown loses no line: every request answered before SIGTERM is in the
// output after the process exits.
func TestSIGTERMKeepsEveryAccessLogLine(t *testing.T) {
	p := startBinary(t)
	const n = 200
	for i := range n {
		resp, err := http.Get("http://" + p.addr + "/oauth2/token?service=registry.local&client_id=log-test-" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	p.stop(t)
	seen := 0
	for line := range strings.SplitSeq(p.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"path":"/oauth2/token"`) {
			seen++
		}
	}
	if seen < n {
		t.Errorf("%d access-log lines of /oauth2/token after a clean shutdown, want %d", seen, n)
	}
}
