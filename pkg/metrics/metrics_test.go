package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/pkg/store"
)

func newTest(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := NewRegistry()
	m := New(reg)
	m.GrantTypes(testGrants...)
	return m, reg
}

// testGrants are the grant types the tests declare, as a server does from
// its grant tables.
var testGrants = []string{"get", "password", "refresh_token", "client_credentials"}

// value returns the value of the one series of name whose labels include
// want (name="value" pairs), failing unless exactly one matches.
func value(t *testing.T, reg prometheus.Gatherer, name string, want ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found []float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for _, kv := range want {
				k, v, _ := strings.Cut(kv, "=")
				if labels[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				found = append(found, m.GetCounter().GetValue())
			case m.Gauge != nil:
				found = append(found, m.GetGauge().GetValue())
			case m.Histogram != nil:
				found = append(found, float64(m.GetHistogram().GetSampleCount()))
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, want, len(found))
	}
	return found[0]
}

func seriesCount(t *testing.T, reg prometheus.Gatherer, name string) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

func TestRegistryHasRuntimeCollectors(t *testing.T) {
	_, reg := newTest(t)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "process_start_time_seconds",
		"tollgate_tokens_issued_total", "tollgate_authentication_failures_total",
		"tollgate_api_token_operations_total", "tollgate_bcrypt_verifications_total",
		"tollgate_credential_cache_requests_total", "tollgate_signing_key_age_seconds"} {
		if !names[want] {
			t.Errorf("family %s is not exported", want)
		}
	}
}

func TestNewTwicePanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Error("registering the metrics twice did not panic")
		}
	}()
	New(reg)
}

func TestClosedLabelSetsStartAtZero(t *testing.T) {
	_, reg := newTest(t)
	for _, g := range testGrants {
		for r := range numTokenResults {
			if v := value(t, reg, "tollgate_tokens_issued_total", "grant_type="+g, "result="+r.String()); v != 0 {
				t.Errorf("%s/%s = %v before any request", g, r, v)
			}
		}
	}
	if v := value(t, reg, "tollgate_credential_cache_requests_total", "result=miss"); v != 0 {
		t.Errorf("cache misses = %v", v)
	}
}

// TestAuthFailureReasons: the reasons exported are a closed set that does
// not tell an unknown user from a wrong password, so that /metrics, which
// anyone who can reach it may read, never confirms that a name exists.
func TestAuthFailureReasons(t *testing.T) {
	_, reg := newTest(t)
	want := []string{"bad_credentials", "malformed", "api_token_invalid", "refresh_token_invalid"}
	if n := seriesCount(t, reg, "tollgate_authentication_failures_total"); n != len(want) {
		t.Errorf("%d reasons exported, want %d: %v", n, len(want), want)
	}
	for _, r := range want {
		if v := value(t, reg, "tollgate_authentication_failures_total", "reason="+r); v != 0 {
			t.Errorf("reason %s = %v before any request", r, v)
		}
	}
}

func TestCounters(t *testing.T) {
	m, reg := newTest(t)
	m.TokenIssued("get", Granted)
	m.TokenIssued("get", Granted)
	m.TokenIssued("refresh_token", Denied)
	m.TokenIssued("get", numTokenResults)          // out of range: ignored
	m.TokenIssued("urn:undeclared", Granted)       // not declared: no series
	m.GrantTypes("password", "urn:example:device") // declaring again keeps the counts
	m.AuthFailed(APITokenInvalid)
	m.APITokenOperation(APITokenRevoke, OpNotFound)
	m.BcryptVerified()
	m.CredentialCache(true)
	m.CredentialCache(false)
	m.CredentialCache(false)
	m.RateLimited("/oauth2/token")

	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tollgate_tokens_issued_total", []string{"grant_type=get", "result=granted"}, 2},
		{"tollgate_tokens_issued_total", []string{"grant_type=refresh_token", "result=denied"}, 1},
		{"tollgate_tokens_issued_total", []string{"grant_type=password", "result=granted"}, 0},
		{"tollgate_tokens_issued_total", []string{"grant_type=urn:example:device", "result=denied"}, 0},
		{"tollgate_authentication_failures_total", []string{"reason=api_token_invalid"}, 1},
		{"tollgate_authentication_failures_total", []string{"reason=bad_credentials"}, 0},
		{"tollgate_api_token_operations_total", []string{"operation=revoke", "result=not_found"}, 1},
		{"tollgate_bcrypt_verifications_total", nil, 1},
		{"tollgate_credential_cache_requests_total", []string{"result=hit"}, 1},
		{"tollgate_credential_cache_requests_total", []string{"result=miss"}, 2},
		{"tollgate_rate_limited_requests_total", []string{"endpoint=/oauth2/token"}, 1},
	}
	for _, tt := range tests {
		if got := value(t, reg, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

func TestRouteObserve(t *testing.T) {
	m, reg := newTest(t)
	r := m.Route("/oauth2/token")
	r.Observe("GET", 200, 3*time.Millisecond)
	r.Observe("GET", 200, time.Millisecond)
	r.Observe("GET", 401, time.Millisecond)
	r.Observe("POST", 400, time.Millisecond)
	r.Observe("BREW", 405, time.Millisecond) // invented methods share one label value
	r.Observe("get", 405, time.Millisecond)  // methods are case-sensitive (RFC 9110 §9.1)
	r.Observe("GET", 999, time.Millisecond)  // beyond the cached range

	tests := []struct {
		labels []string
		want   float64
	}{
		{[]string{"route=/oauth2/token", "method=GET", "status=200"}, 2},
		{[]string{"route=/oauth2/token", "method=GET", "status=401"}, 1},
		{[]string{"route=/oauth2/token", "method=POST", "status=400"}, 1},
		{[]string{"route=/oauth2/token", "method=OTHER", "status=405"}, 2},
		{[]string{"route=/oauth2/token", "method=GET", "status=999"}, 1},
	}
	for _, tt := range tests {
		if got := value(t, reg, "tollgate_http_requests_total", tt.labels...); got != tt.want {
			t.Errorf("requests%v = %v, want %v", tt.labels, got, tt.want)
		}
	}
	if got := value(t, reg, "tollgate_http_request_duration_seconds", "route=/oauth2/token", "method=GET"); got != 4 {
		t.Errorf("GET latency samples = %v, want 4", got)
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	m, _ := newTest(t)
	r := m.Route("/oauth2/token")
	r.Observe("GET", 200, time.Millisecond) // resolves the series
	tests := map[string]func(){
		"Route.Observe":   func() { r.Observe("GET", 200, time.Millisecond) },
		"TokenIssued":     func() { m.TokenIssued("password", PartiallyGranted) },
		"AuthFailed":      func() { m.AuthFailed(BadCredentials) },
		"CredentialCache": func() { m.CredentialCache(true) },
		"BcryptVerified":  func() { m.BcryptVerified() },
	}
	for name, f := range tests {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.GrantTypes("get")
	m.TokenIssued("get", Granted)
	m.AuthFailed(Malformed)
	m.APITokenOperation(APITokenCreate, OpOK)
	m.BcryptVerified()
	m.CredentialCache(true)
	m.RateLimited("x")
	m.SetSigningKey("kid", "ES256", time.Now())
	m.Route("/x").Observe("GET", 200, time.Second)
	var s store.Store = fakeStore{}
	if got := m.InstrumentStore(s); got != s {
		t.Errorf("InstrumentStore on nil Metrics = %T, want the store itself", got)
	}
}

func TestSigningKey(t *testing.T) {
	m, reg := newTest(t)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.now = func() time.Time { return created.Add(90 * time.Second) }
	m.SetSigningKey("OLD", "ES256", created.Add(-time.Hour))
	m.SetSigningKey("ABCD", "ES256", created) // a rotation replaces the key
	if got := value(t, reg, "tollgate_signing_key_info", "kid=ABCD", "alg=ES256"); got != 1 {
		t.Errorf("signing_key_info = %v, want 1", got)
	}
	if n := seriesCount(t, reg, "tollgate_signing_key_info"); n != 1 {
		t.Errorf("%d signing_key_info series after a rotation, want 1", n)
	}
	if got := value(t, reg, "tollgate_signing_key_created_timestamp_seconds"); got != float64(created.Unix()) {
		t.Errorf("created = %v, want %v", got, created.Unix())
	}
	if got := value(t, reg, "tollgate_signing_key_age_seconds"); got != 90 {
		t.Errorf("age = %v, want 90", got)
	}
	m.SetSigningKey("EFGH", "EdDSA", time.Time{})
	if got := value(t, reg, "tollgate_signing_key_age_seconds"); got != 0 {
		t.Errorf("age of a key of unknown creation = %v, want 0", got)
	}
}

// fakeStore fails every operation with err.
type fakeStore struct {
	store.Store // nil: methods not overridden here would panic
	err         error
}

func (f fakeStore) APIToken(context.Context, string) (store.APIToken, error) {
	return store.APIToken{}, f.err
}
func (f fakeStore) Ping(context.Context) error { return f.err }
func (f fakeStore) TouchAPITokens(context.Context, map[string]time.Time) error {
	return f.err
}
func (f fakeStore) RevokeWorkloadRefreshTokens(context.Context, string, time.Time) (int64, error) {
	return 0, f.err
}

func TestInstrumentStoreCountsFailuresOnly(t *testing.T) {
	tests := []struct {
		err  error
		want float64
	}{
		{nil, 0},
		{fmt.Errorf("sqlite: %w", store.ErrNotFound), 0},
		{fmt.Errorf("x: %w", store.ErrConflict), 0},
		{fmt.Errorf("query: %w", context.Canceled), 0},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), 1},
		{errors.New("database is locked"), 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			m, reg := newTest(t)
			s := m.InstrumentStore(fakeStore{err: tt.err})
			_, err := s.APIToken(context.Background(), "h")
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v passed through", err, tt.err)
			}
			if got := value(t, reg, "tollgate_store_errors_total", "operation=get_api_token"); got != tt.want {
				t.Errorf("get_api_token errors = %v, want %v", got, tt.want)
			}
			if got := value(t, reg, "tollgate_store_errors_total", "operation=ping"); got != 0 {
				t.Errorf("ping errors = %v, want 0", got)
			}
		})
	}
}

// TestInstrumentStoreCountsWorkloadRevocations: a failed revocation of a
// workload's refresh tokens counts under its own operation.
func TestInstrumentStoreCountsWorkloadRevocations(t *testing.T) {
	m, reg := newTest(t)
	failure := errors.New("database is locked")
	s := m.InstrumentStore(fakeStore{err: failure})
	if _, err := s.RevokeWorkloadRefreshTokens(context.Background(), "repo:acme/app", time.Now()); !errors.Is(err, failure) {
		t.Fatalf("error %v, want %v passed through", err, failure)
	}
	if got := value(t, reg, "tollgate_store_errors_total", "operation=revoke_workload_refresh_tokens"); got != 1 {
		t.Errorf("revoke_workload_refresh_tokens errors = %v, want 1", got)
	}
}

func BenchmarkRouteObserve(b *testing.B) {
	r := New(NewRegistry()).Route("/oauth2/token")
	b.ReportAllocs()
	for b.Loop() {
		r.Observe("GET", 200, time.Millisecond)
	}
}

func BenchmarkTokenIssued(b *testing.B) {
	m := New(NewRegistry())
	m.GrantTypes(testGrants...)
	b.ReportAllocs()
	for b.Loop() {
		m.TokenIssued("get", Granted)
	}
}

// auditCounts is an AuditSource with fixed counts.
type auditCounts struct {
	dropped         int64
	memory, spooled int
}

func (a auditCounts) Dropped() int64                  { return a.dropped }
func (a auditCounts) Buffered() (memory, spooled int) { return a.memory, a.spooled }

func TestAuditMetrics(t *testing.T) {
	m, reg := newTest(t)
	if got := value(t, reg, "tollgate_audit_events_dropped_total"); got != 0 {
		t.Errorf("dropped before ObserveAudit = %v, want 0", got)
	}
	m.ObserveAudit(auditCounts{dropped: 7, memory: 120, spooled: 3400})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tollgate_audit_events_dropped_total", nil, 7},
		{"tollgate_audit_events_buffered", []string{"place=memory"}, 120},
		{"tollgate_audit_events_buffered", []string{"place=spool"}, 3400},
	} {
		if got := value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.ObserveAudit(auditCounts{}) // a no-op, no panic
}
