package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/ratelimit"
)

// Limits are the brute-force budgets. Each failed authentication spends a
// token of the budget of the username it named and of the client address
// it came from; successes spend nothing. While either is spent, requests
// that name that username, or come from that address, are refused with 429
// before any password is checked. The zero Limits disables both.
type Limits struct {
	PerUser    ratelimit.Budget // failed password logins per username, from any address
	PerIP      ratelimit.Budget // failed authentications per client address (IPv6: per /64)
	MaxTracked int              // usernames, and addresses, remembered at most (each)
	// SharedNames are login names that stand for no one user and are
	// charged to the address alone (federation.username: every CI job
	// logs in under it), so that failures under them lock no one out.
	SharedNames []string
}

// limiter applies Limits around authentication. The endpoints call admit
// before they authenticate and failed when authentication said the
// credentials were wrong.
type limiter struct {
	shared  []string
	users   *ratelimit.Keyed
	addrs   *ratelimit.Keyed
	limited func(endpoint string) // called for every refused request (a metrics counter); may be nil
}

func newLimiter(l Limits, limited func(endpoint string)) *limiter {
	return &limiter{
		users:   ratelimit.New(l.PerUser, l.MaxTracked, nil),
		addrs:   ratelimit.New(l.PerIP, l.MaxTracked, nil),
		limited: limited,
	}
}

// sharing is a limiter over the same budgets that charges names to the
// address alone (Limits.SharedNames), for the endpoints where those names
// are no user's.
func (l *limiter) sharing(names []string) *limiter {
	c := *l
	c.shared = names
	return &c
}

// maxUserKey bounds the length of a username kept as a key; longer names
// are kept as their SHA-256.
const maxUserKey = 128

// userKey is the per-username budget a login is charged to, or "" for none:
// an attempt without a username, under a shared name, or one whose secret
// has the form of an API token. Tokens carry 256 random bits and cannot be
// guessed, so they spend only the address budget; that way an attack on
// alice's password does not lock out the CI jobs that log in as alice with
// her API tokens, nor failures under oidc every CI job.
func (l *limiter) userKey(user string, secret authn.Secret) string {
	if user == "" || apitoken.LooksLike(string(secret)) || slices.Contains(l.shared, user) {
		return ""
	}
	user = foldName(user)
	if len(user) > maxUserKey {
		sum := sha256.Sum256([]byte(user))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return user
}

// foldName is the one budget key of every spelling a directory takes for
// the same user: case, and surrounding or repeated white space, do not
// make a new one. A name already folded (the usual one) is returned as it
// is, without allocating: every login asks.
func foldName(user string) string {
	folded := true
	for i := 0; i < len(user) && folded; i++ {
		c := user[i]
		folded = ' ' < c && c < 0x80 && !('A' <= c && c <= 'Z')
	}
	if folded {
		return user
	}
	return strings.ToLower(strings.Join(strings.Fields(user), " "))
}

// admit reports whether the request may authenticate as user with secret
// (both empty for a bearer or refresh token, which are charged only to the
// address). When a budget is spent it refuses the request through refuse,
// with the time until both budgets hold a token again, and returns false.
func (l *limiter) admit(w http.ResponseWriter, r *http.Request, user string, secret authn.Secret,
	refuse func(http.ResponseWriter, time.Duration)) bool {
	ok, wait := l.allow(r, user, secret)
	if ok {
		return true
	}
	if l.limited != nil {
		l.limited(routeTemplate(r))
	}
	refuse(w, wait)
	return false
}

// allow spends nothing: it tells whether both budgets of the request hold
// a token, and otherwise how long until they do.
func (l *limiter) allow(r *http.Request, user string, secret authn.Secret) (bool, time.Duration) {
	ok, wait := l.addrs.Allow(ratelimit.AddrKey(clientIP(r)))
	if key := l.userKey(user, secret); key != "" {
		userOK, userWait := l.users.Allow(key)
		ok = ok && userOK
		wait = max(wait, userWait)
	}
	return ok, wait
}

// routeTemplate is the path template of the route that matched r, a value
// from a fixed set fit for a metric label, never the raw path.
func routeTemplate(r *http.Request) string {
	if route := mux.CurrentRoute(r); route != nil {
		if t, err := route.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "other"
}

// failed charges a failed authentication to the address and, for a
// password login, to the username.
func (l *limiter) failed(r *http.Request, user string, secret authn.Secret) {
	l.addrs.Fail(ratelimit.AddrKey(clientIP(r)))
	if key := l.userKey(user, secret); key != "" {
		l.users.Fail(key)
	}
}

// tooManyFailures is the message of every 429; it does not say which budget
// is spent, nor whether the user exists.
const tooManyFailures = "too many failed logins for this user or from this address"

// retryAfter sets Retry-After (RFC 9110 §10.2.3) in whole seconds, at
// least 1, and returns the value.
func retryAfter(w http.ResponseWriter, wait time.Duration) string {
	secs := strconv.FormatInt(max(int64(math.Ceil(wait.Seconds())), 1), 10)
	w.Header().Set("Retry-After", secs)
	return secs
}

// tooManyDocker answers 429 TOOMANYREQUESTS in the registry's error format
// (distribution errcode ErrorCodeTooManyRequests).
func (rd renderer) tooManyDocker(w http.ResponseWriter, wait time.Duration) {
	secs := retryAfter(w, wait)
	rd.docker(w, DockerError{Status: http.StatusTooManyRequests, Code: "TOOMANYREQUESTS",
		Message: tooManyFailures, Detail: "retry after " + secs + " seconds"})
}

// tooManyOAuth answers 429 in the RFC 6749 §5.2 format. RFC 6749 defines no
// error code for rate limiting at the token endpoint; temporarily_unavailable
// (RFC 6749 §4.1.2.1, in the IANA OAuth Extensions Error Registry) is the
// one that tells a client to retry later. invalid_grant would tell it the
// password is wrong, and slow_down (RFC 8628 §3.5) is for device-code
// polling.
func (rd renderer) tooManyOAuth(w http.ResponseWriter, wait time.Duration) {
	secs := retryAfter(w, wait)
	rd.oauth(w, oauthError(http.StatusTooManyRequests, "temporarily_unavailable",
		tooManyFailures+"; retry after "+secs+" seconds"))
}

// ipResolver finds a request's client address: the peer's, unless the peer
// is a trusted proxy, in which case it is the right-most address of
// X-Forwarded-For that is not a trusted proxy. Everything left of that
// address was written by the client and proves nothing.
type ipResolver struct {
	trusted []netip.Prefix
}

func (res ipResolver) trusts(a netip.Addr) bool {
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// resolve walks X-Forwarded-For from the right while the hop that wrote
// each entry is trusted. An entry that is not an address ends the walk at
// the last address known: a proxy we trust wrote nonsense, and nothing
// left of it can be believed. If every hop is trusted, the left-most one
// is the client.
func (res ipResolver) resolve(r *http.Request) netip.Addr {
	client := peerAddr(r.RemoteAddr)
	if len(res.trusted) == 0 || !res.trusts(client) {
		return client
	}
	lines := r.Header.Values("X-Forwarded-For") // several lines are one comma-separated list (RFC 9110 §5.3)
	for i := len(lines) - 1; i >= 0; i-- {
		hops := strings.Split(lines[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, ok := parseHop(hops[j])
			if !ok {
				return client
			}
			client = a
			if !res.trusts(a) {
				return a
			}
		}
	}
	return client
}

// peerAddr is the address of RemoteAddr ("ip:port"), or the zero Addr.
func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// parseHop reads one X-Forwarded-For entry: an address, or an address with
// a port as some proxies write it ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), true
}

// clientIPKey is the context key of the resolved client address.
type clientIPKey struct{}

// withClientIP resolves the client address once per request, for the ACL,
// the budgets, the audit log and the logs.
// It keeps it in the request's info when there is one (withRequestID runs
// first), which costs no new context and no copy of the request.
func withClientIP(res ipResolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoOf(r.Context()); info != nil {
			info.clientIP = res.resolve(r)
			next.ServeHTTP(w, r)
			return
		}
		ctx := context.WithValue(r.Context(), clientIPKey{}, res.resolve(r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// clientIP is the client address withClientIP resolved; without it, the
// peer address.
func clientIP(r *http.Request) netip.Addr {
	if a, ok := resolvedIP(r.Context()); ok {
		return a
	}
	return peerAddr(r.RemoteAddr)
}

// resolvedIP is the address withClientIP resolved for the request of ctx.
func resolvedIP(ctx context.Context) (netip.Addr, bool) {
	if info := infoOf(ctx); info != nil && info.clientIP.IsValid() {
		return info.clientIP, true
	}
	a, ok := ctx.Value(clientIPKey{}).(netip.Addr)
	return a, ok
}

// budget is the failure budgets of r's client address, for the grant
// pipeline.
func (l *limiter) budget(r *http.Request) grant.Budget { return requestBudget{l: l, r: r} }

// budgetFor is budget, or nil for a request without a secret (the
// anonymous caller, whom no budget concerns): nothing to allocate.
func (l *limiter) budgetFor(r *http.Request, secret authn.Secret) grant.Budget {
	if secret == "" {
		return nil
	}
	return l.budget(r)
}

// addressBudget is budget for credentials charged to the address alone
// (generated secrets, which no one guesses: a client's).
func (l *limiter) addressBudget(r *http.Request) grant.Budget {
	return requestBudget{l: l, r: r, addressOnly: true}
}

// requestBudget is a limiter seen from one request.
type requestBudget struct {
	l           *limiter
	r           *http.Request
	addressOnly bool
}

// Admit reports whether the request may authenticate as user with secret,
// and otherwise how long until it may (a 429 is counted in the metrics,
// never audited).
func (b requestBudget) Admit(user string, secret authn.Secret) (bool, time.Duration) {
	if b.addressOnly {
		user = ""
	}
	ok, wait := b.l.allow(b.r, user, secret)
	if !ok && b.l.limited != nil {
		b.l.limited(routeTemplate(b.r))
	}
	return ok, wait
}

// Failed charges a failed login.
func (b requestBudget) Failed(user string, secret authn.Secret) {
	if b.addressOnly {
		user = ""
	}
	b.l.failed(b.r, user, secret)
}
