//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store/postgres/pgtest"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// childConfigEnv, when set, makes the test binary be `tollgate serve
// --config $TOLLGATE_TEST_CHILD_CONFIG` instead of running tests: the crash
// test needs the server in a process of its own to SIGKILL it.
const childConfigEnv = "TOLLGATE_TEST_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(childConfigEnv); path != "" {
		os.Exit(runServeChild(path))
	}
	os.Exit(m.Run())
}

// runServeChild runs `tollgate serve` as main would and returns the exit
// code. The parent holds our stdin open; when it is gone, even killed
// itself, stdin ends and the server goes too, never left running.
func runServeChild(path string) int {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, "tollgate test child: stdin closed, the test is gone; exiting")
		os.Exit(3)
	}()
	root := newRootCommand()
	root.SetArgs([]string{"serve", "--config", path})
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		return 1
	}
	return 0
}

// serverProcess is `tollgate serve` in a child process.
type serverProcess struct {
	addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	logs *logtest.Buffer
	done chan struct{} // closed once the process has exited and been waited for
	err  error         // Wait's result; read only after done
}

// startServerProcess runs the server on addr with the configuration file
// (and the TOLLGATE_ environment of the test). It is SIGKILLed at cleanup
// if still running; its output is shown if the test failed.
func startServerProcess(t *testing.T, configPath, addr string) *serverProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{addr: addr, cmd: exec.Command(exe), logs: &logtest.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), childConfigEnv+"="+configPath, config.EnvPrefix+"_SERVER_ADDR="+addr)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if _, err := p.cmd.StdinPipe(); err != nil { // held open until Wait
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start server process: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("server process %d still running 10s after SIGKILL", p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("server process %d (%s) output:\n%s", p.cmd.Process.Pid, p.addr, p.logs.String())
		}
	})
	return p
}

// kill sends SIGKILL: no shutdown, no deferred flush, no last write.
func (p *serverProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL) // an error means it is already gone
}

// wantKilled waits for the process to end and asserts SIGKILL ended it.
func (p *serverProcess) wantKilled(t *testing.T) {
	t.Helper()
	p.wait(t, 10*time.Second, "SIGKILL")
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server process ended with %v, want killed by SIGKILL", p.cmd.ProcessState)
	}
}

// stop sends SIGTERM and asserts a clean exit within 15s.
func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	p.wantCleanExit(t, "SIGTERM")
}

// wantCleanExit waits up to 15s after what for the process to end, and
// asserts it exited with status 0 (it was sent SIGTERM).
func (p *serverProcess) wantCleanExit(t *testing.T, after string) {
	t.Helper()
	p.wait(t, 15*time.Second, after)
	if p.err != nil {
		t.Errorf("server process after SIGTERM: %v, want exit status 0", p.err)
	}
}

// wait waits up to d after what for the process to end.
func (p *serverProcess) wait(t *testing.T, d time.Duration, after string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("server process %d still running %s after %s", p.cmd.Process.Pid, d, after)
	}
}

// TestKill9KeepsReturnedAPITokens: a token the server has returned is
// stored. Clients create API tokens without pause until the server is
// SIGKILLed in the middle of their requests; after a restart on the same
// store, every token whose creation was answered 200 authenticates.
// Requests the kill cut off may or may not have created a token.
func TestKill9KeepsReturnedAPITokens(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "postgres" {
				dsn := pgtest.FreshSchema(t, pgtest.DSN(t)) // before any server starts on it
				clearTollgateEnv(t)
				usePostgresStore(t, dsn)
			} else {
				clearTollgateEnv(t)
			}
			dir, cfg := tollgateDir(t)
			if cfg.Store.Type != backend {
				t.Fatalf("store.type = %q, want %q", cfg.Store.Type, backend)
			}
			configPath := filepath.Join(dir, "tollgate.yaml")

			first := startServerProcess(t, configPath, freeAddr(t))
			c := tokenClient(t, first.addr)
			c.waitAnswering(t, 15*time.Second, first.done)
			returned, cut := createUntilKilled(t, c, first, 20)
			first.wantKilled(t)
			t.Logf("%d tokens returned before the SIGKILL; %d creation requests cut off by it", len(returned), cut)
			if t.Failed() {
				t.FailNow()
			}

			second := startServerProcess(t, configPath, freeAddr(t))
			c = tokenClient(t, second.addr)
			c.waitAnswering(t, 15*time.Second, second.done)
			ac := accessController(t, dir, c.realm)
			for i, tok := range returned {
				status, body := c.getToken(t, apitoken.Username, tok, "repository:alice/app:pull")
				jwt, _ := body["token"].(string)
				if status != http.StatusOK || jwt == "" {
					t.Errorf("returned token %d of %d (hash prefix %s) after the restart: GET /oauth2/token = %d %v, want 200",
						i+1, len(returned), apitoken.HashPrefix(apitoken.Hash(tok)), status, body)
					continue
				}
				wantAuthorized(t, ac, jwt, "alice", "alice/app", "pull")
			}
			wantCreationAudited(t, configPath, returned)
			second.stop(t)
		})
	}
}

// createUntilKilled has several clients create write tokens for alice on
// srv back to back; as soon as killAfter have been returned it SIGKILLs srv
// while the others' requests are in flight. It returns every token whose
// creation was answered 200, and how many requests failed after the kill.
// Any other failure is a test error.
func createUntilKilled(t *testing.T, c *e2eEnv, srv *serverProcess, killAfter int) (returned []string, cut int) {
	t.Helper()
	const workers = 8
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex // guards returned and cut
		killing atomic.Bool
		enough  = make(chan struct{}) // closed by the worker that adds token killAfter
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for !killing.Load() && ctx.Err() == nil {
				status, body, err := tryCreateAPIToken(ctx, c, "alice", "write")
				tok, _ := body["token"].(string)
				mu.Lock()
				failed := false
				switch {
				case err == nil && status == http.StatusOK && apitoken.LooksLike(tok):
					returned = append(returned, tok)
					if len(returned) == killAfter {
						close(enough)
					}
				case err != nil && killing.Load():
					cut++
				case err != nil:
					failed = true
					if ctx.Err() == nil {
						t.Errorf("token creation failed before the kill: %v", err)
					}
				default:
					failed = true
					t.Errorf("token creation = %d %v, want 200 with a token", status, body)
				}
				mu.Unlock()
				if failed {
					return
				}
			}
		})
	}
	select {
	case <-enough:
	case <-srv.done:
		t.Errorf("server process exited before the kill: %v", srv.err)
	case <-ctx.Done():
		t.Errorf("fewer than %d tokens created within 15s", killAfter)
	}
	killing.Store(true) // before the signal: every error from here on may be the kill's
	srv.kill()
	wg.Wait()
	return returned, cut
}

// tryCreateAPIToken asks POST /api/tokens for a token, without failing the
// test: err reports a request that got no complete answer.
func tryCreateAPIToken(ctx context.Context, c *e2eEnv, user, role string) (int, map[string]any, error) {
	b, err := json.Marshal(map[string]any{"username": user, "password": e2eUsers[user], "role": role, "description": "crash test"})
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+"/api/tokens", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer: %w", err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return resp.StatusCode, nil, errors.Join(errors.New("answer is not a JSON object"), err)
	}
	return resp.StatusCode, body, nil
}

// wantCreationAudited checks that every returned token's creation is in
// the audit log: those events are written before the reply, so a SIGKILL
// cannot lose them.
func wantCreationAudited(t *testing.T, configPath string, returned []string) {
	t.Helper()
	out, err := runCLI(t, "", "audit", "tail", "--json", "--since", "1h", "--config", configPath)
	if err != nil {
		t.Fatalf("tollgate audit tail: %v\n%s", err, out)
	}
	audited := map[string]bool{}
	for line := range strings.Lines(out) {
		var ev struct{ Kind, Detail string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit tail --json printed %q: %v", line, err)
		}
		if ev.Kind == audit.APITokenCreated {
			audited[ev.Detail] = true
		}
	}
	for _, tok := range returned {
		prefix := "hash_prefix=" + apitoken.HashPrefix(apitoken.Hash(tok)) + " "
		found := false
		for detail := range audited {
			found = found || strings.HasPrefix(detail, prefix)
		}
		if !found {
			t.Errorf("no apitoken.created audit event for returned token %s", prefix)
		}
	}
}
