package server_test

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/metrics"
	"github.com/tollgate/tollgate/pkg/ratelimit"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/server"
)

// Client addresses, sent as X-Forwarded-For through the trusted loopback
// peer of the test server.
const (
	addrA = "203.0.113.1"
	addrB = "198.51.100.2"
	addrC = "192.0.2.3"
)

// countingAuthn counts the authentications that reach the password users
// (each one a bcrypt comparison unless the credential cache knows it).
type countingAuthn struct {
	inner authn.Authenticator
	calls atomic.Int64
}

func (c *countingAuthn) Authenticate(ctx context.Context, user string, secret authn.Secret) (authn.Identity, error) {
	c.calls.Add(1)
	return c.inner.Authenticate(ctx, user, secret)
}

// limitEnv is a tokenEnv whose server has failure budgets, counts what
// reaches the password backend and how many requests were refused, and
// (unless untrusting) believes X-Forwarded-For from loopback peers.
type limitEnv struct {
	*tokenEnv
	passwordCalls *countingAuthn
	registry      *prometheus.Registry // of the server's metrics
}

type limitOptions struct {
	limits     server.Limits
	extraRules []authz.Rule // tried before the example ACL
	untrusting bool         // no trusted proxies
}

func newLimitEnv(tb testing.TB, o limitOptions) *limitEnv {
	tb.Helper()
	te := newTokenEnv(tb)
	e := &limitEnv{tokenEnv: te, passwordCalls: &countingAuthn{inner: te.auth}, registry: prometheus.NewRegistry()}
	logger := debugLogger(te.logs)
	svc := te.grantService(exampleACL(tb, o.extraRules...))
	m := metrics.New(e.registry)
	var trusted []netip.Prefix
	if !o.untrusting {
		trusted = loopbackProxies
	}
	te.serve(tb, server.New(server.Options{
		Grant: svc, Authn: te.accounts.Authenticator(authn.Chain{te.tokens, e.passwordCalls}), Logger: logger, Realm: issuer,
		APITokens: te.tokens, Passwords: te.accounts.Authenticator(e.passwordCalls),
		TrustedProxies: trusted, Limits: o.limits, Metrics: m, RateLimited: m.RateLimited, // as cmd/tollgate wires it
	}))
	return e
}

// rateLimited reads tollgate_rate_limited_requests_total by endpoint.
func (e *limitEnv) rateLimited(t testing.TB) map[string]float64 {
	t.Helper()
	families, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "tollgate_rate_limited_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "endpoint" {
					counts[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return counts
}

func sum(m map[string]float64) float64 {
	var n float64
	for _, v := range m {
		n += v
	}
	return n
}

// with applies several request options in order.
func with(opts ...func(*http.Request)) func(*http.Request) {
	return func(r *http.Request) {
		for _, o := range opts {
			o(r)
		}
	}
}

// from sends the request on behalf of addr through the trusted proxy.
func from(addr string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("X-Forwarded-For", addr) }
}

// postFrom sends a form to POST /oauth2/token on behalf of addr.
func (e *limitEnv) postFrom(t testing.TB, form url.Values, addr string) response {
	t.Helper()
	return e.postForm(t, endpoint, form, from(addr))
}

// checkRetryAfter checks that a 429 carries Retry-After in whole seconds
// between 1 and most.
func checkRetryAfter(t testing.TB, r response, most int) {
	t.Helper()
	got := r.header.Get("Retry-After")
	secs, err := strconv.Atoi(got)
	if err != nil || secs < 1 || secs > most {
		t.Errorf("Retry-After = %q, want whole seconds between 1 and %d", got, most)
	}
}

func tooManyDocker(t testing.TB, r response, most int) {
	t.Helper()
	checkDockerError(t, r, http.StatusTooManyRequests, "TOOMANYREQUESTS", true)
	checkRetryAfter(t, r, most)
}

func tooManyOAuth(t testing.TB, r response, most int) {
	t.Helper()
	checkOAuthError(t, r, http.StatusTooManyRequests, "temporarily_unavailable")
	checkRetryAfter(t, r, most)
}

// wrongPasswordForm is a password grant for user with a wrong password.
func wrongPasswordForm(user string) url.Values {
	f := passwordForm(user, "docker", "")
	f.Set("password", "wrong-password")
	return f
}

// Brute force on alice's password from one address: alice is limited from
// every address (the per-username budget protects her account), the
// address is charged too, and everyone else logs in as before.
func TestFailureBudgets(t *testing.T) {
	e := newLimitEnv(t, limitOptions{limits: server.Limits{
		PerUser:    ratelimit.Budget{PerMinute: 1, Burst: 3},
		PerIP:      ratelimit.Budget{PerMinute: 1, Burst: 5},
		MaxTracked: 100,
	}})
	ci := e.create(t, "alice", "read", 0) // alice's CI token, made before the attack
	const q = "service=" + service + "&scope=repository:alice/app:pull"
	const bobQ = "service=" + service + "&scope=repository:bob/app:pull"

	// 1. Hammer alice from A: 3 failures, then 429 without a password check.
	for range 3 {
		checkDockerError(t, e.get(t, q, with(basicWith("alice", "wrong-password"), from(addrA))), http.StatusUnauthorized, "UNAUTHORIZED", false)
	}
	checked := e.passwordCalls.calls.Load()
	tooManyDocker(t, e.get(t, q, with(basicWith("alice", "wrong-password"), from(addrA))), 60)
	if got := e.passwordCalls.calls.Load(); got != checked {
		t.Errorf("the refused request reached the password backend (%d calls, want %d): the budget must be checked first", got, checked)
	}

	// 2. Other users are unaffected, from B and even from A (A has spent
	// 3 of its 5).
	e.checkGetOK(t, e.get(t, bobQ, with(basic("bob"), from(addrB))))
	e.checkGetOK(t, e.get(t, bobQ, with(basic("bob"), from(addrA))))

	// 3. alice's own password is refused from any address, on every
	// endpoint, in each one's format...
	tooManyDocker(t, e.get(t, q, with(basic("alice"), from(addrB))), 60)
	tooManyOAuth(t, e.postFrom(t, passwordForm("alice", "docker", ""), addrB), 60)
	tooManyDocker(t, e.api(t, "/api/tokens", jsonOf(t, creds("alice")), from(addrB)), 60)
	tooManyDocker(t, e.api(t, "/api/tokens/list", jsonOf(t, creds("alice")), from(addrB)), 60)
	if got := e.passwordCalls.calls.Load(); got != checked+2 {
		t.Errorf("%d password checks after the refusals, want %d (bob's two logins only)", got, checked+2)
	}
	// ...but her API token, even sent under her name, is no password
	// guess: it spends only the address budget, so her CI keeps working.
	e.checkGetOK(t, e.get(t, q, with(basicWith("alice", ci.Token), from(addrB))))
	e.checkGetOK(t, e.get(t, q, with(basicWith("token", ci.Token), from(addrB))))

	// 4. The address budget: five failures from C under five names shut
	// C for everyone, bob included; B is still open.
	for i := range 5 {
		r := e.get(t, q, with(basicWith("nobody"+strconv.Itoa(i), "wrong-password"), from(addrC)))
		checkDockerError(t, r, http.StatusUnauthorized, "UNAUTHORIZED", false)
	}
	tooManyDocker(t, e.get(t, bobQ, with(basic("bob"), from(addrC))), 60)
	tooManyOAuth(t, e.postFrom(t, passwordForm("bob", "docker", ""), addrC), 60)
	e.checkGetOK(t, e.get(t, bobQ, with(basic("bob"), from(addrB))))
	// Anonymous requests authenticate nothing and are not limited.
	e.checkGetOK(t, e.get(t, "service="+service+"&scope=repository:public/x:pull", from(addrC)))

	want := map[string]float64{"/oauth2/token": 5, "/api/tokens": 1, "/api/tokens/list": 1} // one per 429
	if got := e.rateLimited(t); !reflect.DeepEqual(got, want) {
		t.Errorf("rate_limited_requests_total = %v, want %v", got, want)
	}
}

// Every endpoint charges its authentication failures and refuses in its own
// error format once the address budget is spent.
func TestFailureBudgetEveryEndpoint(t *testing.T) {
	wrongBody := jsonOf(t, map[string]any{"username": "alice", "password": "wrong-password"})
	tests := []struct {
		name      string
		fail      func(t *testing.T, e *limitEnv) response
		checkFail func(t testing.TB, r response)
		oauth     bool // the 429 is RFC 6749, else Docker
	}{
		{
			name: "GET Basic",
			fail: func(t *testing.T, e *limitEnv) response {
				return e.get(t, "service="+service, with(basicWith("alice", "wrong-password"), from(addrA)))
			},
			checkFail: func(t testing.TB, r response) { checkDockerError(t, r, 401, "UNAUTHORIZED", false) },
		},
		{
			name:      "POST password grant",
			fail:      func(t *testing.T, e *limitEnv) response { return e.postFrom(t, wrongPasswordForm("alice"), addrA) },
			checkFail: func(t testing.TB, r response) { checkOAuthError(t, r, 400, "invalid_grant") },
			oauth:     true,
		},
		{
			name: "POST refresh grant",
			fail: func(t *testing.T, e *limitEnv) response {
				f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh.Prefix + "bogus"}, "client_id": {"docker"}, "service": {service}}
				return e.postFrom(t, f, addrA)
			},
			checkFail: func(t testing.TB, r response) { checkOAuthError(t, r, 400, "invalid_grant") },
			oauth:     true,
		},
		{
			name:      "create API token",
			fail:      func(t *testing.T, e *limitEnv) response { return e.api(t, "/api/tokens", wrongBody, from(addrA)) },
			checkFail: func(t testing.TB, r response) { checkDockerError(t, r, 401, "UNAUTHORIZED", false) },
		},
		{
			name: "list with a bad Bearer",
			fail: func(t *testing.T, e *limitEnv) response {
				return e.api(t, "/api/tokens/list", "", with(bearer("tg_not-a-token"), from(addrA)))
			},
			checkFail: func(t testing.TB, r response) { checkDockerError(t, r, 401, "UNAUTHORIZED", false) },
		},
		{
			name: "revoke with a wrong password",
			fail: func(t *testing.T, e *limitEnv) response {
				return e.api(t, "/api/tokens/revoke", wrongBody, from(addrA))
			},
			checkFail: func(t testing.TB, r response) { checkDockerError(t, r, 401, "UNAUTHORIZED", false) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLimitEnv(t, limitOptions{limits: server.Limits{PerIP: ratelimit.Budget{PerMinute: 2, Burst: 1}, MaxTracked: 10}})
			tt.checkFail(t, tt.fail(t, e))
			checked := e.passwordCalls.calls.Load()
			r := tt.fail(t, e)
			if tt.oauth {
				tooManyOAuth(t, r, 30)
			} else {
				tooManyDocker(t, r, 30)
			}
			if got := e.passwordCalls.calls.Load(); got != checked {
				t.Errorf("the refused request reached the password backend")
			}
			if got := e.rateLimited(t); len(got) != 1 || sum(got) != 1 {
				t.Errorf("rate_limited_requests_total = %v, want 1 in all", got)
			}
			// Another address is not limited.
			e.checkGetOK(t, e.get(t, "service="+service, with(basic("bob"), from(addrB))))
		})
	}
}

// Successful logins spend nothing, however many.
func TestSuccessesSpendNoBudget(t *testing.T) {
	e := newLimitEnv(t, limitOptions{limits: server.Limits{
		PerUser: ratelimit.Budget{PerMinute: 1, Burst: 1}, PerIP: ratelimit.Budget{PerMinute: 1, Burst: 1}, MaxTracked: 10,
	}})
	for range 10 {
		e.checkGetOK(t, e.get(t, "service="+service, with(basic("alice"), from(addrA))))
		e.checkPostOK(t, e.postFrom(t, passwordForm("alice", "docker", ""), addrA))
	}
	if got := e.rateLimited(t); len(got) != 0 {
		t.Errorf("rate_limited_requests_total = %v, want none", got)
	}
}

// The zero Limits refuse nothing.
func TestFailureBudgetsDisabled(t *testing.T) {
	e := newLimitEnv(t, limitOptions{})
	for range 30 {
		checkDockerError(t, e.get(t, "service="+service, basicWith("alice", "wrong-password")), http.StatusUnauthorized, "UNAUTHORIZED", false)
	}
	e.checkGetOK(t, e.get(t, "service="+service, basic("alice")))
}

// The address the ACL, the budgets and the access log see is the one the
// trusted proxy reported, and only a trusted proxy's report counts.
func TestClientIPBehindProxy(t *testing.T) {
	account := "*"
	internal := authz.Rule{Account: &account, IP: []string{"198.51.100.0/24"}, Type: "repository", Name: "internal/*", Actions: []string{"pull"}}
	const q = "service=" + service + "&scope=repository:internal/app:pull"
	want := []token.Access{repo("internal/app", "pull")}

	t.Run("trusted proxy", func(t *testing.T) {
		e := newLimitEnv(t, limitOptions{extraRules: []authz.Rule{internal}})
		g := e.checkGetOK(t, e.get(t, q, with(basic("alice"), from("198.51.100.7"))))
		checkAccess(t, e.verify(t, g.Token, "alice", service), want)
		// A client cannot prepend its way in: the proxy appends the real address.
		g = e.checkGetOK(t, e.get(t, q, with(basic("alice"), from("198.51.100.7, "+addrA))))
		checkAccess(t, e.verify(t, g.Token, "alice", service), nil)
		if logs := e.logs.String(); !strings.Contains(logs, `"client_ip":"198.51.100.7"`) || !strings.Contains(logs, `"client_ip":"`+addrA+`"`) {
			t.Errorf("the access log does not name the clients behind the proxy:\n%s", logs)
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		e := newLimitEnv(t, limitOptions{extraRules: []authz.Rule{internal}, untrusting: true})
		g := e.checkGetOK(t, e.get(t, q, with(basic("alice"), from("198.51.100.7"))))
		checkAccess(t, e.verify(t, g.Token, "alice", service), nil)
		if logs := e.logs.String(); strings.Contains(logs, "198.51.100.7") {
			t.Errorf("a spoofed X-Forwarded-For reached the logs:\n%s", logs)
		}
	})
}

// A refusal for a spent budget (429) writes no audit event: a flood of
// them must not fill the audit log, and tollgate_rate_limited_requests_total
// counts them already. A real authentication failure is still audited.
func TestRefusalsAreNotAudited(t *testing.T) {
	bogusRefresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh.Prefix + "bogus"}, "client_id": {"docker"}, "service": {service}}
	tests := []struct {
		name  string
		send  func(t *testing.T, e *engineEnv) response
		oauth bool // the 429 is RFC 6749, else Docker
	}{
		{"GET Basic", func(t *testing.T, e *engineEnv) response {
			return e.get(t, "service="+service, with(basicWith("alice", "wrong-password"), from(addrA)))
		}, false},
		{"POST password grant", func(t *testing.T, e *engineEnv) response {
			return e.send(t, endpoint, wrongPasswordForm("alice"), addrA)
		}, true},
		{"POST refresh grant", func(t *testing.T, e *engineEnv) response {
			return e.send(t, endpoint, bogusRefresh, addrA)
		}, true},
		{"engine password grant", func(t *testing.T, e *engineEnv) response {
			return e.send(t, engineToken, engineForm("alice", "wrong-password"), addrA)
		}, true},
		{"engine refresh grant", func(t *testing.T, e *engineEnv) response {
			return e.send(t, engineToken, refreshForm("tge_bogus", "anonymous"), addrA)
		}, true},
		{"client_credentials", func(t *testing.T, e *engineEnv) response {
			return e.send(t, engineToken, clientForm("service-a", "not-the-secret-0123456789"), addrA)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngineEnv(t, engineOptions{trusted: true, clients: map[string]string{"service-a": "service-a-secret-0123456789"},
				limits: server.Limits{PerIP: ratelimit.Budget{PerMinute: 1, Burst: 1}, MaxTracked: 10}})
			if r := tt.send(t, e); r.status == http.StatusTooManyRequests || r.status < 400 {
				t.Fatalf("first failure: status %d, want a refusal of the credentials", r.status)
			}
			// A failed login is counted toward its address's row of the minute.
			if got := deniedEvents(e.audit.Events()) + len(e.audit.FailedLogins()); got != 1 {
				t.Fatalf("%d token.denied events and failed logins after one failed authentication, want 1", got)
			}
			for range 20 {
				r := tt.send(t, e)
				if tt.oauth {
					tooManyOAuth(t, r, 60)
				} else {
					tooManyDocker(t, r, 60)
				}
			}
			if got := len(e.audit.Events()) + len(e.audit.FailedLogins()); got != 1 {
				t.Errorf("%d audit events after 20 refusals with 429, want the 1 of the failure before them", got)
			}
		})
	}
}

// send POSTs a form to path on behalf of addr.
func (e *engineEnv) send(t testing.TB, path string, form url.Values, addr string) response {
	t.Helper()
	return e.postForm(t, path, form, from(addr))
}

// deniedEvents counts the token.denied events.
func deniedEvents(events []store.AuditEvent) int {
	n := 0
	for _, ev := range events {
		if ev.Kind == audit.TokenDenied {
			n++
		}
	}
	return n
}

// serviceASecret is the secret of the client service-a of newServiceAEnv.
const serviceASecret = "service-a-secret-0123456789"

// newServiceAEnv is an engineEnv with the registered client service-a,
// failure budgets of a burst of 2 per name and per address, and trusted
// loopback proxies (see from).
func newServiceAEnv(t *testing.T) *engineEnv {
	t.Helper()
	return newEngineEnv(t, engineOptions{trusted: true, clients: map[string]string{"service-a": serviceASecret},
		limits: server.Limits{
			PerUser:    ratelimit.Budget{PerMinute: 1, Burst: 2},
			PerIP:      ratelimit.Budget{PerMinute: 1, Burst: 2},
			MaxTracked: 10,
		}})
}

// A registered client's secret is not a password a guesser can lock out:
// like an API token, a client spends only the address budget, so failures
// under its ID from elsewhere never refuse the client itself. The
// addresses that fail are still refused.
func TestClientsSpendOnlyTheAddressBudget(t *testing.T) {
	const secret = serviceASecret
	e := newServiceAEnv(t)
	wrong := clientForm("service-a", "not-the-secret-0123456789")
	// A username budget's worth of failures from B and C, then more.
	for _, addr := range []string{addrB, addrB, addrC, addrC} {
		if r := e.send(t, engineToken, wrong, addr); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong secret from %s: status %d, body %s; want 401 invalid_client", addr, r.status, r.body)
		}
	}
	// The client, from its own address, is not refused.
	if r := e.send(t, engineToken, clientForm("service-a", secret), addrA); r.status != http.StatusOK {
		t.Errorf("the right secret from A after failures elsewhere: status %d, body %s; want 200", r.status, r.body)
	}
	// The failing addresses spent their budgets: even the right secret is refused there.
	for _, addr := range []string{addrB, addrC} {
		tooManyOAuth(t, e.send(t, engineToken, clientForm("service-a", secret), addr), 120)
	}
}

// Shared names (federation.username) are charged to the address alone at
// the token endpoints only: at /api/tokens a user of that name has a
// password, and its per-name budget protects it from guesses spread over
// many addresses.
func TestSharedNamesOnlyAtTokenEndpoints(t *testing.T) {
	e := newLimitEnv(t, limitOptions{limits: server.Limits{
		PerUser:     ratelimit.Budget{PerMinute: 1, Burst: 2},
		PerIP:       ratelimit.Budget{PerMinute: 1, Burst: 100},
		MaxTracked:  100,
		SharedNames: []string{"alice"},
	}})
	const q = "service=" + service + "&scope=repository:alice/app:pull"
	addrs := []string{addrA, addrB, addrC}
	for i := range 3 { // at the token endpoint, alice is a shared name: 3 failures, no per-name budget spent
		checkDockerError(t, e.get(t, q, with(basicWith("alice", "wrong-password"), from(addrs[i]))), http.StatusUnauthorized, "UNAUTHORIZED", false)
	}
	e.checkGetOK(t, e.get(t, q, with(basic("alice"), from(addrA))))
	wrong := jsonOf(t, map[string]any{"username": "alice", "password": "wrong-password"})
	for i := range 2 {
		r := e.api(t, "/api/tokens", wrong, from(addrs[i]))
		checkDockerError(t, r, http.StatusUnauthorized, "UNAUTHORIZED", false)
	}
	tooManyDocker(t, e.api(t, "/api/tokens", jsonOf(t, creds("alice")), from(addrC)), 60)
}
