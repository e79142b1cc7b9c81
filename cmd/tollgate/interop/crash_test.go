//go:build unix

package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/store/postgres/pgtest"
)

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
				e2etest.ClearEnv(t)
				e2etest.UsePostgresStore(t, dsn)
			} else {
				e2etest.ClearEnv(t)
			}
			dir, cfg := e2etest.Dir(t)
			if cfg.Store.Type != backend {
				t.Fatalf("store.type = %q, want %q", cfg.Store.Type, backend)
			}
			configPath := filepath.Join(dir, "tollgate.yaml")

			first := startServerProcess(t, configPath, e2etest.FreeAddr(t))
			c := tokenClient(t, first.addr)
			c.WaitAnswering(t, 15*time.Second, first.done)
			returned, cut := createUntilKilled(t, c, first, 20)
			first.wantKilled(t)
			t.Logf("%d tokens returned before the SIGKILL; %d creation requests cut off by it", len(returned), cut)
			if t.Failed() {
				t.FailNow()
			}

			second := startServerProcess(t, configPath, e2etest.FreeAddr(t))
			c = tokenClient(t, second.addr)
			c.WaitAnswering(t, 15*time.Second, second.done)
			ac := accessController(t, filepath.Join(dir, "keys", "signing.crt"), c.Realm)
			for i, tok := range returned {
				status, body := c.GetToken(t, apiTokenUser, tok.token, "repository:alice/app:pull")
				jwt, _ := body["token"].(string)
				if status != http.StatusOK || jwt == "" {
					t.Errorf("returned token %d of %d (hash prefix %s) after the restart: GET /oauth2/token = %d %v, want 200",
						i+1, len(returned), tok.hashPrefix, status, body)
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
func createUntilKilled(t *testing.T, c *e2eEnv, srv *serverProcess, killAfter int) (returned []createdToken, cut int) {
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
				prefix, _ := body["hash_prefix"].(string)
				mu.Lock()
				failed := false
				switch {
				case err == nil && status == http.StatusOK && strings.HasPrefix(tok, "tg_") && prefix != "":
					returned = append(returned, createdToken{tok, prefix})
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

// createdToken is an API token and the hash prefix the server answered
// with it, which names it in the audit log.
type createdToken struct {
	token, hashPrefix string
}

// tryCreateAPIToken asks POST /api/tokens for a token, without failing the
// test: err reports a request that got no complete answer.
func tryCreateAPIToken(ctx context.Context, c *e2eEnv, user, role string) (int, map[string]any, error) {
	b, err := json.Marshal(map[string]any{"username": user, "password": e2etest.Users[user], "role": role, "description": "crash test"})
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base()+"/api/tokens", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
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
func wantCreationAudited(t *testing.T, configPath string, returned []createdToken) {
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
		if ev.Kind == auditAPITokenCreated {
			audited[ev.Detail] = true
		}
	}
	for _, tok := range returned {
		prefix := "hash_prefix=" + tok.hashPrefix + " "
		found := false
		for detail := range audited {
			found = found || strings.HasPrefix(detail, prefix)
		}
		if !found {
			t.Errorf("no apitoken.created audit event for returned token %s", prefix)
		}
	}
}
