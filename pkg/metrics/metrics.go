package metrics

import (
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name defined here.
const Namespace = "tollgate"

// TokenResult is what a token request came to.
type TokenResult uint8

// Token results. Denied is an authentication failure, or a token that grants
// nothing of a non-empty request; a request for no scope (docker login) that
// gets its empty token is Granted.
const (
	Granted TokenResult = iota
	PartiallyGranted
	Denied
	numTokenResults
)

var tokenResultNames = [numTokenResults]string{"granted", "partially_granted", "denied"}

func (r TokenResult) String() string { return tokenResultNames[r] }

// AuthFailure is why a caller was not authenticated.
type AuthFailure uint8

// Authentication failure reasons. An unknown user and a wrong password are
// both BadCredentials: /metrics is readable without authentication, and a
// reason of its own would tell a scraper which user names exist.
const (
	BadCredentials      AuthFailure = iota // an unknown user, or a wrong password
	Malformed                              // credentials missing or not in the form asked for
	APITokenInvalid                        // an API token that is unknown, expired, revoked or sent under another name
	RefreshTokenInvalid                    // a refresh token that is unknown, expired, revoked or for another service
	numAuthFailures
)

var authFailureNames = [numAuthFailures]string{
	"bad_credentials", "malformed", "api_token_invalid", "refresh_token_invalid",
}

func (a AuthFailure) String() string { return authFailureNames[a] }

// APITokenOp is an operation of the API token endpoints.
type APITokenOp uint8

// API token operations.
const (
	APITokenCreate APITokenOp = iota
	APITokenList
	APITokenRevoke
	numAPITokenOps
)

var apiTokenOpNames = [numAPITokenOps]string{"create", "list", "revoke"}

func (o APITokenOp) String() string { return apiTokenOpNames[o] }

// OpResult is how an API token operation ended.
type OpResult uint8

// Operation results.
const (
	OpOK           OpResult = iota
	OpInvalid               // a malformed or unacceptable request
	OpUnauthorized          // the caller could not be authenticated
	OpForbidden             // authenticated, but not allowed
	OpNotFound              // no such token (or not the caller's)
	OpConflict              // ambiguous hash prefix
	OpRateLimited           // refused by the rate limit
	OpError                 // internal error
	numOpResults
)

var opResultNames = [numOpResults]string{
	"ok", "invalid", "unauthorized", "forbidden", "not_found", "conflict", "rate_limited", "error",
}

func (r OpResult) String() string { return opResultNames[r] }

// Metrics holds every Tollgate metric. Build it with New; its methods are
// safe for concurrent use and on a nil *Metrics (where they do nothing).
type Metrics struct {
	requests *prometheus.CounterVec   // route, method, status
	duration *prometheus.HistogramVec // route, method

	tokens    *prometheus.CounterVec                  // grant_type, result
	grants    atomic.Pointer[map[string]*grantSeries] // declared grant types; copied on write
	grantsMu  sync.Mutex                              // serializes GrantTypes
	authFails [numAuthFailures]prometheus.Counter
	apiOps    [numAPITokenOps][numOpResults]prometheus.Counter

	bcrypt    prometheus.Counter
	cacheHit  prometheus.Counter
	cacheMiss prometheus.Counter

	keyInfo    *prometheus.GaugeVec // kid, alg
	keyCreated prometheus.Gauge
	keyNanos   atomic.Int64 // creation time of the active key, Unix ns; 0 when unknown
	keyMu      sync.Mutex   // one SetSigningKey at a time: Reset and Set stay paired

	storeErrors *prometheus.CounterVec // operation
	rateLimited *prometheus.CounterVec // endpoint

	reloads reloads                     // configuration reloads (config.go)
	audit   atomic.Pointer[auditSource] // read by the audit metrics (audit.go)

	gatherer prometheus.Gatherer // what Handler serves: New's registry, when it is one
	now      func() time.Time
}

// NewRegistry returns a registry of our own (not prometheus's global one)
// holding the Go runtime and process collectors; pass it to New, and serve
// it as the Gatherer of /metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// latencyBuckets span a cached token request (well under a millisecond)
// to a cold bcrypt check (50-80 ms at cost 10) and a slow store.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// New creates the metrics and registers them with reg. It panics if reg
// already holds metrics of these names (registering twice is a wiring bug).
// When reg is also a prometheus.Gatherer (a *prometheus.Registry is),
// Handler serves everything it holds.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{now: time.Now}
	m.gatherer, _ = reg.(prometheus.Gatherer)
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by route (the path template), method and status.",
	}, []string{"route", "method", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by route (the path template) and method.",
		Buckets: latencyBuckets,
	}, []string{"route", "method"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "tokens_issued_total",
		Help: "Token requests by grant type (the grant tables' entries: get, password, refresh_token, client_credentials, ...) and result (granted, partially_granted, denied).",
	}, []string{"grant_type", "result"})
	authFails := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "authentication_failures_total",
		Help: "Failed authentications by reason.",
	}, []string{"reason"})
	apiOps := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "api_token_operations_total",
		Help: "API token operations (create, list, revoke) by result.",
	}, []string{"operation", "result"})
	m.bcrypt = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "bcrypt_verifications_total",
		Help: "bcrypt password comparisons (unknown users pay one too).",
	})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "credential_cache_requests_total",
		Help: "Password authentications answered from the verified-credential cache (hit) or not (miss).",
	}, []string{"result"})
	m.keyInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "signing_key_info",
		Help: "The active token signing key: always 1, labelled with its kid and JWT alg.",
	}, []string{"kid", "alg"})
	m.keyCreated = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "signing_key_created_timestamp_seconds",
		Help: "When the active signing key was created, in Unix seconds: its certificate's NotBefore, else the key file's modification time.",
	})
	keyAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "signing_key_age_seconds",
		Help: "Age of the active signing key in seconds (now - signing_key_created_timestamp_seconds; 0 when unknown).",
	}, m.keyAge)
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "store_errors_total",
		Help: "Failed store operations by operation (not-found and conflict answers are not failures).",
	}, []string{"operation"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rate_limited_requests_total",
		Help: "Requests refused by the rate limit, by endpoint.",
	}, []string{"endpoint"})
	reg.MustRegister(m.requests, m.duration, m.tokens, authFails, apiOps, m.bcrypt, cache,
		m.keyInfo, m.keyCreated, keyAge, m.storeErrors, m.rateLimited)
	m.reloads = newReloads(reg)
	m.registerAudit(reg)

	// Resolve every series of the closed label sets now: they are exported
	// as 0 from the start, and recording needs no lookup.
	for a := range numAuthFailures {
		m.authFails[a] = authFails.WithLabelValues(a.String())
	}
	for o := range numAPITokenOps {
		for r := range numOpResults {
			m.apiOps[o][r] = apiOps.WithLabelValues(o.String(), r.String())
		}
	}
	m.cacheHit = cache.WithLabelValues("hit")
	m.cacheMiss = cache.WithLabelValues("miss")
	return m
}

// Handler serves the registry given to New in the Prometheus text format
// (or OpenMetrics, as negotiated), for GET /metrics. Without a registry that
// can be gathered, it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil || m.gatherer == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, // a broken collector must not hide the others
	})
}

// grantSeries are the token series of one grant type, by result.
type grantSeries [numTokenResults]prometheus.Counter

// GrantTypes declares the grant types a server serves, the Type of each
// entry of its grant tables (pkg/grant): their series are exported as 0
// from the start, and TokenIssued counts them. The names come from code,
// never from a request, so the label set stays bounded.
func (m *Metrics) GrantTypes(names ...string) {
	if m == nil || m.tokens == nil {
		return
	}
	m.grantsMu.Lock()
	defer m.grantsMu.Unlock()
	next := map[string]*grantSeries{}
	if cur := m.grants.Load(); cur != nil {
		next = maps.Clone(*cur)
	}
	for _, name := range names {
		if next[name] != nil {
			continue
		}
		var s grantSeries
		for r := range numTokenResults {
			s[r] = m.tokens.WithLabelValues(name, r.String())
		}
		next[name] = &s
	}
	m.grants.Store(&next)
}

// TokenIssued counts a token request's outcome under its grant type; a
// grant type not declared (GrantTypes) is not counted.
func (m *Metrics) TokenIssued(grantType string, r TokenResult) {
	if m == nil || r >= numTokenResults {
		return
	}
	if grants := m.grants.Load(); grants != nil && (*grants)[grantType] != nil {
		(*grants)[grantType][r].Inc()
	}
}

// AuthFailed counts a failed authentication.
func (m *Metrics) AuthFailed(reason AuthFailure) {
	if m == nil || reason >= numAuthFailures {
		return
	}
	m.authFails[reason].Inc()
}

// APITokenOperation counts an API token operation.
func (m *Metrics) APITokenOperation(op APITokenOp, r OpResult) {
	if m == nil || op >= numAPITokenOps || r >= numOpResults {
		return
	}
	m.apiOps[op][r].Inc()
}

// BcryptVerified counts one bcrypt comparison; it fits htpasswd.File.OnCompare.
func (m *Metrics) BcryptVerified() {
	if m == nil {
		return
	}
	m.bcrypt.Inc()
}

// CredentialCache counts a lookup of the verified-credential cache; it fits
// authn.Cache.Observe.
func (m *Metrics) CredentialCache(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cacheHit.Inc()
	} else {
		m.cacheMiss.Inc()
	}
}

// RateLimited counts a request refused by the rate limit. endpoint becomes a
// label value: pass a fixed name or a route template, never a raw path.
func (m *Metrics) RateLimited(endpoint string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(endpoint).Inc()
}

// SetSigningKey publishes the active signing key: its kid and alg (public:
// every token's header carries them) and when it was created (the zero time
// when unknown). A later call replaces the key, as after a rotation.
func (m *Metrics) SetSigningKey(kid, alg string, created time.Time) {
	if m == nil {
		return
	}
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	m.keyInfo.Reset()
	m.keyInfo.WithLabelValues(kid, alg).Set(1)
	if created.IsZero() {
		m.keyNanos.Store(0)
		m.keyCreated.Set(0)
		return
	}
	m.keyNanos.Store(created.UnixNano())
	m.keyCreated.Set(float64(created.UnixNano()) / 1e9)
}

func (m *Metrics) keyAge() float64 {
	n := m.keyNanos.Load()
	if n == 0 {
		return 0
	}
	return m.now().Sub(time.Unix(0, n)).Seconds()
}
