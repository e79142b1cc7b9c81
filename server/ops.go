package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/metrics"
	"github.com/tollgate/tollgate/pkg/refresh"
)

// This file is production operations: the unauthenticated endpoints that
// orchestrators and Prometheus call (/health, /ready, /metrics), and the
// hooks that tell the access log and the metrics which route a request took,
// who it authenticated as and how a token request ended.

// ReadyCheck is one condition of GET /ready.
type ReadyCheck struct {
	// Name is the check's key in the answer, e.g. "store".
	Name string
	// Check returns nil when ready. It must honour ctx. Its error is logged
	// but never sent: /ready is unauthenticated, and an error may quote a
	// host, a user or worse.
	Check func(ctx context.Context) error
}

// DefaultReadyTimeout bounds GET /ready when Options.ReadyTimeout is zero.
const DefaultReadyTimeout = 2 * time.Second

// opsEndpoint serves /health, /ready and /metrics, without authentication.
type opsEndpoint struct {
	checks  []ReadyCheck
	timeout time.Duration
	metrics *metrics.Metrics // nil: /metrics is not served
	logger  *slog.Logger
}

func newOpsEndpoint(checks []ReadyCheck, timeout time.Duration, m *metrics.Metrics, logger *slog.Logger) *opsEndpoint {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	return &opsEndpoint{checks: checks, timeout: timeout, metrics: m, logger: logger}
}

// Mount registers the routes.
func (e *opsEndpoint) Mount(r *mux.Router) {
	r.HandleFunc("/health", e.health).Methods(http.MethodGet)
	r.HandleFunc("/ready", e.ready).Methods(http.MethodGet)
	if e.metrics != nil {
		r.Handle("/metrics", e.metrics.Handler()).Methods(http.MethodGet)
	}
}

// opsRoutes are the templates of the operations endpoints: their successful
// requests are access-logged at debug level (probes come every few seconds).
var opsRoutes = []string{"/health", "/ready", "/metrics"}

// health serves GET /health: the process is up and serving HTTP. It checks
// nothing else, so a liveness probe never restarts a server whose database
// is merely down.
func (e *opsEndpoint) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyResponse struct {
	Status string            `json:"status"` // ready or unavailable
	Checks map[string]string `json:"checks"` // name → "ok" or "error: ..."
}

type checkResult struct {
	i   int
	err error
}

// ready serves GET /ready: 200 when every check passes, else 503 naming the
// failing ones. The checks run concurrently under one deadline; a check
// that has not answered by then has failed.
func (e *opsEndpoint) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), e.timeout)
	defer cancel()
	results := make(chan checkResult, len(e.checks)) // buffered: late checks never block
	for i, c := range e.checks {
		go func() { results <- checkResult{i, runCheck(ctx, c)} }()
	}
	errs := make([]error, len(e.checks))
	for i := range errs {
		errs[i] = errCheckTimeout
	}
wait:
	for range e.checks {
		select {
		case res := <-results:
			errs[res.i] = res.err
		case <-ctx.Done():
			break wait
		}
	}

	resp := readyResponse{Status: "ready", Checks: make(map[string]string, len(e.checks))}
	status := http.StatusOK
	for i, c := range e.checks {
		if errs[i] == nil {
			resp.Checks[c.Name] = "ok"
			continue
		}
		resp.Status, status = "unavailable", http.StatusServiceUnavailable
		resp.Checks[c.Name] = "error: " + publicReason(errs[i])
		e.logger.WarnContext(r.Context(), "readiness check failed",
			"request_id", requestID(r.Context()), "check", c.Name, "error", errs[i])
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, resp)
}

var (
	errCheckTimeout = errors.New("no answer before the deadline")
	errCheckPanic   = errors.New("check panicked")
)

// runCheck runs c, turning a panic into an error: a check runs in its own
// goroutine, where a panic would end the process.
func runCheck(ctx context.Context, c ReadyCheck) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", errCheckPanic, v)
		}
	}()
	return c.Check(ctx)
}

// PublicReason is an error of a ReadyCheck that /ready may show as it is:
// a text written to hold no secret, host or user name.
type PublicReason string

func (r PublicReason) Error() string { return string(r) }

// publicReason is what /ready may say about a failed check: whether it
// timed out, or its PublicReason; never another error's text.
func publicReason(err error) string {
	var pr PublicReason
	switch {
	case errors.Is(err, errCheckTimeout) || errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &pr):
		return string(pr)
	}
	return "check failed (details in the server log)"
}

// routeInfo is one route as the access log and the metrics see it. Each is
// built once, when New mounts the routes.
type routeInfo struct {
	template string // the mux path template, e.g. "/oauth2/token"
	quiet    bool   // an operations endpoint
	token    bool   // the token endpoint
	apiToken bool   // an API token endpoint, serving apiOp
	apiOp    metrics.APITokenOp
	metrics  *metrics.Route // nil without metrics
}

// apiTokenRoutes maps the API token endpoints' templates to their operation.
var apiTokenRoutes = map[string]metrics.APITokenOp{
	"/api/tokens":        metrics.APITokenCreate,
	"/api/tokens/list":   metrics.APITokenList,
	"/api/tokens/revoke": metrics.APITokenRevoke,
}

const tokenRoute = "/oauth2/token"

// instrumentation connects the request path to the access log and the
// metrics. Its hooks are seams, not new dependencies: the authenticators
// and the grant service are wrapped or observed here, so neither pkg/authn
// nor pkg/grant knows about HTTP or Prometheus.
type instrumentation struct {
	m         *metrics.Metrics // may be nil: every call on it is a no-op
	unmatched *metrics.Route   // 404s and 405s: no template, one label value
}

func newInstrumentation(m *metrics.Metrics) *instrumentation {
	return &instrumentation{m: m, unmatched: m.Route("unmatched")}
}

// wrapRoutes gives every route mounted on r so far a handler that records
// the route in the request's info first. Call it once every family is
// mounted; a route's template, routeInfo and closure are made here, once.
func (in *instrumentation) wrapRoutes(r *mux.Router) {
	byTemplate := map[string]*routeInfo{} // GET and POST /oauth2/token share one
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		next := route.GetHandler()
		template, err := route.GetPathTemplate()
		if next == nil || err != nil {
			return nil // a subrouter or a route without a path: its children are walked
		}
		ri, ok := byTemplate[template]
		if !ok {
			ri = &routeInfo{template: template, metrics: in.m.Route(template), token: template == tokenRoute}
			for _, q := range opsRoutes {
				ri.quiet = ri.quiet || template == q
			}
			ri.apiOp, ri.apiToken = apiTokenRoutes[template]
			byTemplate[template] = ri
		}
		route.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if info := infoOf(req.Context()); info != nil {
				info.route = ri
			}
			next.ServeHTTP(w, req)
		}))
		return nil
	})
}

// withMetrics records every request's route, method, status and latency,
// and the outcomes that only the HTTP answer tells (see done). It reuses
// the access log's status recorder when it is the one it is given.
func withMetrics(in *instrumentation, next http.Handler) http.Handler {
	if in.m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec, ok := w.(*statusRecorder)
		if !ok {
			rec = &statusRecorder{ResponseWriter: w}
			w = rec
		}
		next.ServeHTTP(w, r)
		in.done(r, rec.status, time.Since(start))
	})
}

// done records a finished request. Credentials that never reached an
// authenticator but were answered 401 were malformed: a Basic header that
// does not parse, a missing password, an Authorization scheme other than
// Bearer, or (at list and revoke) a Bearer token that is not a valid API
// token, which the endpoint checks itself.
func (in *instrumentation) done(r *http.Request, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	info := infoOf(r.Context())
	if info == nil || info.route == nil {
		in.unmatched.Observe(r.Method, status, d)
		return
	}
	ri := info.route
	ri.metrics.Observe(r.Method, status, d)
	unseen401 := status == http.StatusUnauthorized && !info.authAttempted
	switch {
	case ri.token && unseen401 && r.Method == http.MethodGet:
		in.m.AuthFailed(metrics.Malformed)
		in.m.TokenIssued(grant.TypeGet, metrics.Denied)
	case ri.apiToken:
		in.m.APITokenOperation(ri.apiOp, opResult(status))
		if unseen401 {
			scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			if ri.apiOp != metrics.APITokenCreate && strings.EqualFold(scheme, "Bearer") {
				in.m.AuthFailed(metrics.APITokenInvalid)
			} else {
				in.m.AuthFailed(metrics.Malformed)
			}
		}
	}
}

// opResult classifies the answer of an API token operation.
func opResult(status int) metrics.OpResult {
	switch {
	case status < 300:
		return metrics.OpOK
	case status == http.StatusUnauthorized:
		return metrics.OpUnauthorized
	case status == http.StatusForbidden:
		return metrics.OpForbidden
	case status == http.StatusNotFound:
		return metrics.OpNotFound
	case status == http.StatusConflict:
		return metrics.OpConflict
	case status == http.StatusTooManyRequests:
		return metrics.OpRateLimited
	case status >= 500:
		return metrics.OpError
	}
	return metrics.OpInvalid
}

// authn wraps an authenticator so that its answers reach the request's
// info (the subject, for the access log) and the metrics (failures by
// reason; at the token endpoint, a denied token request). nil stays nil.
func (in *instrumentation) authn(a authn.Authenticator) authn.Authenticator {
	if a == nil {
		return nil
	}
	return observedAuthn{inner: a, m: in.m}
}

// observedAuthn is an Authenticator reporting what another one answers.
type observedAuthn struct {
	inner authn.Authenticator
	m     *metrics.Metrics
}

var _ authn.Authenticator = observedAuthn{}

func (a observedAuthn) Authenticate(ctx context.Context, username string, secret authn.Secret) (authn.Identity, error) {
	id, err := a.inner.Authenticate(ctx, username, secret)
	info := infoOf(ctx)
	if info != nil {
		info.authAttempted = true
	}
	if err == nil {
		if info != nil {
			info.subject = id.Name
		}
		return id, nil
	}
	var reason metrics.AuthFailure
	switch {
	case errors.Is(err, authn.ErrBadCredentials) && apitoken.LooksLike(string(secret)):
		reason = metrics.APITokenInvalid // the chain never tries a token as a password
	case errors.Is(err, authn.ErrBadCredentials), errors.Is(err, authn.ErrNoSuchUser):
		reason = metrics.BadCredentials // one reason: the metric must not tell which names exist
	default:
		return id, err // an internal failure, not the caller's
	}
	a.m.AuthFailed(reason) // the grant pipeline counts the denied token request
	return id, err
}

// grant returns a copy of g whose Observer also feeds the request's info
// and the metrics (g's own Observer, if any, is still told). The copy
// leaves the caller's Service untouched.
func (in *instrumentation) grant(g *grant.Service) *grant.Service {
	if g == nil {
		return nil
	}
	observed := *g
	observed.Observer = grantObserver{m: in.m, next: g.Observer}
	return &observed
}

// observer is the grant.Observer feeding the metrics, for pipelines New
// builds itself (the Engine API's).
func (in *instrumentation) observer() grant.Observer { return grantObserver{m: in.m} }

// grantObserver is the grant.Observer of the token endpoint.
type grantObserver struct {
	m    *metrics.Metrics
	next grant.Observer
}

var _ grant.Observer = grantObserver{}

// tokenResults maps grant outcomes to the metric's results.
var tokenResults = [...]metrics.TokenResult{
	grant.GrantedAll:  metrics.Granted,
	grant.GrantedSome: metrics.PartiallyGranted,
	grant.GrantedNone: metrics.Denied,
}

func (o grantObserver) Issued(ctx context.Context, req grant.Request, outcome grant.Outcome) {
	if int(outcome) < len(tokenResults) {
		o.m.TokenIssued(req.GrantType, tokenResults[outcome])
	}
	if o.next != nil {
		o.next.Issued(ctx, req, outcome)
	}
}

// Refused counts a failed login of a grant; that of a refresh token is
// also an authentication failure of its own (a password's is counted as
// the authenticator answers).
func (o grantObserver) Refused(ctx context.Context, grantType string, err error) {
	if info := infoOf(ctx); info != nil {
		info.authAttempted = true
	}
	if errors.Is(err, refresh.ErrInvalid) {
		o.m.AuthFailed(metrics.RefreshTokenInvalid)
	}
	o.m.TokenIssued(grantType, metrics.Denied)
	if o.next != nil {
		o.next.Refused(ctx, grantType, err)
	}
}
