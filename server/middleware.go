package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/redact"
)

type ctxKey int

const requestInfoKey ctxKey = iota

// requestInfo is what the middleware learns about a request while it is
// served: its ID, and from the handlers (through the hooks of ops.go) the
// route it took and who it authenticated as. Handlers run in the request's
// goroutine, before the middleware reads it back, so it needs no lock.
type requestInfo struct {
	id            string
	method        string
	route         *routeInfo // nil until a route matched
	subject       string     // the authenticated account ("" for anonymous); never a secret
	authAttempted bool       // credentials reached an authenticator (ops.go)
	clientIP      netip.Addr // resolved by withClientIP; valid once it has
}

// infoOf returns the request's info, or nil outside withRequestID.
func infoOf(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey).(*requestInfo)
	return info
}

// requestID returns the request's ID, or "".
func requestID(ctx context.Context) string {
	if info := infoOf(ctx); info != nil {
		return info.id
	}
	return ""
}

// withRequestID gives each request an ID (kept from a sane incoming
// X-Request-ID) and echoes it in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !saneID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		info := &requestInfo{id: id, method: r.Method}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey, info)))
	})
}

func saneID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// withAccessLog writes one line per request. It logs the path, never the
// query (scopes are harmless but a misused client may put secrets there)
// and never a header; the route (the path template) and the subject the
// request authenticated as, never its credentials (nor a subject with the
// shape of one). Successful probes and
// scrapes of the operations endpoints are logged at debug level.
func withAccessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		level, id, route, subject := slog.LevelInfo, "", "", ""
		if info := infoOf(r.Context()); info != nil {
			id, subject = info.id, info.subject
			if info.route != nil {
				route = info.route.template
				if info.route.quiet && rec.status < http.StatusBadRequest {
					level = slog.LevelDebug
				}
			}
		}
		attrs := [...]slog.Attr{
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.String("subject", redact.Secrets(subject)),
			slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("remote", r.RemoteAddr),
			{},
		}
		n := len(attrs) - 1
		if ip := clientIP(r); ip.IsValid() { // the client behind a proxy; remote is the peer
			attrs[n], n = slog.String("client_ip", ip.String()), n+1
		}
		// LogAttrs with typed attributes boxes nothing: one line costs no
		// allocation of its own before the handler.
		logger.LogAttrs(r.Context(), level, "request", attrs[:n]...)
	})
}

// withRecover turns a panic into a generic 500 and a log line.
func withRecover(rd renderer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				rd.logger.ErrorContext(r.Context(), "panic", "request_id", requestID(r.Context()), "panic", v)
				if rec.status != 0 {
					panic(http.ErrAbortHandler) // the response has begun: cut it off
				}
				writeJSON(w, http.StatusInternalServerError, map[string]any{
					"errors": []any{map[string]string{"code": "UNKNOWN", "message": "internal server error"}},
				})
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// bodyLimits are the largest request bodies the endpoints read, by route
// template: token forms and API-token JSON.
var bodyLimits = map[string]int64{
	"/oauth2/token":      maxFormBytes,
	"/v1/oauth/token":    maxFormBytes,
	"/oauth2/revoke":     maxFormBytes,
	"/oauth2/introspect": maxFormBytes,
	"/api/tokens":        maxAPITokenBody,
	"/api/tokens/list":   maxAPITokenBody,
	"/api/tokens/revoke": maxAPITokenBody,

	"/api/users/{name}/revoke-tokens": maxAPITokenBody,
	"/api/users/{name}/disable":       maxAPITokenBody,
	"/api/users/{name}/enable":        maxAPITokenBody,

	// The web UI's forms.
	"/ui/signin":              maxFormBytes,
	"/ui/signout":             maxFormBytes,
	"/ui/signout-everywhere":  maxFormBytes,
	"/ui/tokens":              maxFormBytes,
	"/ui/tokens/revoke":       maxFormBytes,
	"/ui/admin/tokens/revoke": maxFormBytes,
	"/ui/admin/keys/rotate":   maxFormBytes,
	"/ui/admin/users/{name}/{action:disable|enable|revoke}": maxFormBytes,
}

// limitBodies makes the routes of bodyLimits refuse a request whose
// Content-Length exceeds their limit (RFC 9110 §15.5.14) before the
// handler reads a byte or checks a credential. A body of unknown length
// (chunked) is bounded as it is read, by the handlers' MaxBytesReader.
func limitBodies(r *mux.Router, rd renderer) {
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		template, err := route.GetPathTemplate()
		limit, ok := bodyLimits[template]
		next := route.GetHandler()
		if err != nil || !ok || next == nil {
			return nil
		}
		route.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.ContentLength > limit {
				rd.tooLarge(w, req, limit)
				return
			}
			next.ServeHTTP(w, req)
		}))
		return nil
	})
}

// tooLarge answers 413 in the error format of r's endpoint. Over HTTP/1
// it closes the connection: the unread body must be neither drained
// (net/http would read up to 256 KiB of it before answering) nor taken for
// the next request. HTTP/2 resets the stream alone.
func (rd renderer) tooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
	rd.endpointError(w, r, http.StatusRequestEntityTooLarge, "INVALID_REQUEST", "request body too large",
		"at most "+strconv.FormatInt(limit>>10, 10)+" KiB")
}
