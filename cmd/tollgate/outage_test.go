//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
)

// The kinds of token request of the outage test, and the scope each asks
// for: the audit rows of each kind are told apart by it.
const (
	kindPassword = "password login"
	kindAPIToken = "API token login"
	kindRefresh  = "refresh-token grant"
)

var outageScopes = map[string]string{
	kindPassword: "repository:alice/outage-password:pull",
	kindAPIToken: "repository:alice/outage-apitoken:pull",
	kindRefresh:  "repository:alice/outage-refresh:pull",
}

// answer is one token request of the stream and how it was answered.
type answer struct {
	kind         string
	sent, done   time.Time
	status       int
	retryAfter   string
	body         string
	transportErr error
}

// TestPostgresOutage runs Tollgate on a PostgreSQL of its own under a
// steady stream of token requests (password logins, API-token logins,
// refresh-token grants), stops PostgreSQL (fast shutdown) for about 3.5 s
// and starts it again on the same port and data directory. Password
// logins are answered 200 throughout; the store-backed credentials 200 or
// 503 with Retry-After, never 500, never 401 or invalid_grant; every kind
// succeeds again within a second of PostgreSQL accepting connections;
// /ready is 503 while it is away and 200 after; and every token issued
// (answered 200) reaches the audit log once it is back.
func TestPostgresOutage(t *testing.T) {
	pg := startPrivatePostgres(t)
	clearTollgateEnv(t)
	usePostgresStore(t, pg.dsn)
	_, cfg := tollgateDir(t)
	c := tokenClient(t, startTollgate(t, cfg))
	c.waitAnswering(t, 15*time.Second, nil)
	creds := outageCredentials(t, c)

	stream := startStream(c, creds)
	time.Sleep(time.Second) // the steady state, with the store
	stopAt := time.Now()
	pg.stop(t, "fast")
	down := time.Now()
	time.Sleep(time.Until(stopAt.Add(1750 * time.Millisecond)))
	if status, check := c.ready(t); status != http.StatusServiceUnavailable || check == "ok" {
		t.Errorf("GET /ready while PostgreSQL is stopped = %d, store %q; want 503", status, check)
	}
	time.Sleep(time.Until(stopAt.Add(3500 * time.Millisecond)))
	pg.start(t) // returns once it accepts connections
	back := time.Now()
	time.Sleep(2 * time.Second) // the recovery, watched by the stream
	answers := stream.stop()
	if status, check := c.ready(t); status != http.StatusOK || check != "ok" {
		t.Errorf("GET /ready after PostgreSQL came back = %d, store %q; want 200", status, check)
	}
	t.Logf("PostgreSQL stopping at %s, down at +%s, accepting again at +%s",
		stopAt.Format("15:04:05.000"), down.Sub(stopAt).Round(time.Millisecond), back.Sub(stopAt).Round(time.Millisecond))

	checkOutageAnswers(t, answers, stopAt, back)
	checkOutageAudited(t, pg, answers)
}

// outageCreds are the credentials of the stream: an API token and a
// Docker identity (refresh) token of alice.
type outageCreds struct {
	apiToken, refreshToken string
}

func outageCredentials(t *testing.T, c *e2eEnv) outageCreds {
	t.Helper()
	tok, _ := createAPIToken(t, c.client, c.base(), "alice", "read")
	status, body := c.postToken(t, url.Values{"grant_type": {"password"}, "username": {"alice"},
		"password": {e2eUsers["alice"]}, "client_id": {"docker"}, "access_type": {"offline"}, "service": {e2eService}})
	rt, _ := body["refresh_token"].(string)
	if status != http.StatusOK || rt == "" {
		t.Fatalf("password grant with access_type=offline = %d %v, want a refresh_token", status, body)
	}
	return outageCreds{apiToken: tok, refreshToken: rt}
}

// stream sends token requests of every kind back to back, two clients a
// kind, until stopped.
type stream struct {
	stopped atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	answers []answer
}

func startStream(c *e2eEnv, creds outageCreds) *stream {
	s := &stream{}
	for kind := range outageScopes {
		for range 2 {
			s.wg.Go(func() {
				for !s.stopped.Load() {
					a := send(context.Background(), c, kind, creds)
					s.mu.Lock()
					s.answers = append(s.answers, a)
					s.mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
	}
	return s
}

// stop ends the stream, letting the requests in flight finish (a request
// cut off could have issued a token whose 200 the test never saw), and
// returns its answers, in the order received.
func (s *stream) stop() []answer {
	s.stopped.Store(true)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.SortFunc(s.answers, func(a, b answer) int { return a.done.Compare(b.done) })
	return s.answers
}

// send makes one request of kind and reads its answer.
func send(ctx context.Context, c *e2eEnv, kind string, creds outageCreds) answer {
	a := answer{kind: kind, sent: time.Now()}
	req, err := outageRequest(ctx, c, kind, creds)
	if err != nil {
		a.transportErr = err
		return a
	}
	resp, err := c.client.Do(req)
	a.done = time.Now()
	if err != nil {
		a.transportErr = err
		return a
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a.status, a.retryAfter, a.body = resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
	return a
}

func outageRequest(ctx context.Context, c *e2eEnv, kind string, creds outageCreds) (*http.Request, error) {
	scope := outageScopes[kind]
	if kind == kindRefresh {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {creds.refreshToken},
			"client_id": {"docker"}, "service": {e2eService}, "scope": {scope}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.realm, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req, err
	}
	q := url.Values{"service": {e2eService}, "scope": {scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.realm+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if kind == kindAPIToken {
		req.SetBasicAuth(apitoken.Username, creds.apiToken)
	} else {
		req.SetBasicAuth("alice", e2eUsers["alice"])
	}
	return req, nil
}

// checkOutageAnswers asserts what each kind was answered, and reports the
// answers during the outage and the time each kind took to recover.
func checkOutageAnswers(t *testing.T, answers []answer, stopAt, back time.Time) {
	t.Helper()
	during := map[string]map[int]int{} // kind → status → answers sent in [stopAt, back)
	lastFailure := map[string]time.Time{}
	firstOKAfter := map[string]time.Time{}
	lateOK := map[string]int{} // 200s of requests sent a second after back or later
	wrong := map[string]int{}  // answers checkOutageAnswer refuses; the first few are shown
	for _, a := range answers {
		if problem := checkOutageAnswer(a); problem != "" {
			if wrong[a.kind]++; wrong[a.kind] <= 5 {
				t.Errorf("%s sent at %s: %s", a.kind, a.sent.Format("15:04:05.000"), problem)
			}
			if a.transportErr != nil {
				continue
			}
		}
		if !a.sent.Before(stopAt) && a.sent.Before(back) {
			if during[a.kind] == nil {
				during[a.kind] = map[int]int{}
			}
			during[a.kind][a.status]++
		}
		switch {
		case a.status != http.StatusOK:
			lastFailure[a.kind] = a.done
		case !a.sent.Before(back) && firstOKAfter[a.kind].IsZero():
			firstOKAfter[a.kind] = a.done
		}
		if a.status == http.StatusOK && !a.sent.Before(back.Add(time.Second)) {
			lateOK[a.kind]++
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(outageScopes)) {
		last := "none"
		if f := lastFailure[kind]; !f.IsZero() {
			last = fmt.Sprintf("%+dms", f.Sub(back).Milliseconds())
		}
		t.Logf("%s: requests sent while PostgreSQL was away answered (status:count) %v; after its return: first 200 at +%dms, last failure answered at %s; %d answered 200 from a second after it",
			kind, during[kind], firstOKAfter[kind].Sub(back).Milliseconds(), last, lateOK[kind])
		if wrong[kind] > 5 {
			t.Errorf("%s: %d wrong answers in all", kind, wrong[kind])
		}
		if kind != kindPassword && during[kind][http.StatusServiceUnavailable] == 0 {
			t.Errorf("%s: no 503 while PostgreSQL was away: the outage was not seen", kind)
		}
		if f := lastFailure[kind]; f.After(back.Add(time.Second)) {
			t.Errorf("%s: failed at %s after PostgreSQL accepted connections again, want every request served within 1s",
				kind, f.Sub(back).Round(time.Millisecond))
		}
		if lateOK[kind] == 0 {
			t.Errorf("%s: no 200 from a second after PostgreSQL's return: recovery not shown", kind)
		}
	}
}

// checkOutageAnswer judges one answer: password logins 200; the others
// 200, or 503 with Retry-After; nothing else, ever. It returns what is
// wrong, or "".
func checkOutageAnswer(a answer) string {
	switch {
	case a.transportErr != nil:
		return fmt.Sprintf("no answer: %v", a.transportErr)
	case a.status == http.StatusOK:
		return ""
	case a.kind == kindPassword:
		return fmt.Sprintf("%d %s, want 200 throughout", a.status, a.body)
	case a.status != http.StatusServiceUnavailable:
		return fmt.Sprintf("%d %s, want 200 or 503", a.status, a.body)
	case a.retryAfter == "":
		return "503 without Retry-After"
	}
	return ""
}

// checkOutageAudited asserts that the audit log holds one token.issued row
// for every 200 of each kind, once PostgreSQL is back (the events of the
// outage wait in the recorder's buffer until then).
func checkOutageAudited(t *testing.T, pg *privatePostgres, answers []answer) {
	t.Helper()
	oks := map[string]int{}
	for _, a := range answers {
		if a.status == http.StatusOK {
			oks[a.kind]++
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, kind := range slices.Sorted(maps.Keys(outageScopes)) {
		var rows int
		var err error
		for {
			rows, err = pg.count(t, `SELECT count(*) FROM audit_events WHERE kind = $1 AND subject = 'alice' AND requested = $2`,
				audit.TokenIssued, outageScopes[kind])
			if err == nil && rows >= oks[kind] || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%s: %d answered 200, %d token.issued rows in audit_events", kind, oks[kind], rows)
		if err != nil || rows != oks[kind] {
			t.Errorf("%s: audit_events holds %d token.issued rows (%v), want one per 200: %d", kind, rows, err, oks[kind])
		}
	}
}
