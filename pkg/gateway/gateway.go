package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
)

// Audit event kinds of decisions.
const (
	EventAllowed = "forward.allowed"
	EventDenied  = "forward.denied"
)

// RegistryTokens verifies Tollgate's own registry tokens
// (introspect.Service.RegistryClaims): one that does not verify, or whose
// account has ended, wraps authn.ErrBadCredentials (or authn.ErrDisabled).
type RegistryTokens interface {
	RegistryClaims(ctx context.Context, raw string) (token.Claims, error)
}

// Gateway decides forward-auth requests.
type Gateway struct {
	// Users authenticates Basic credentials (passwords, API tokens as
	// the password of user token, identity tokens of federation.username)
	// and Bearer API tokens: the token endpoint's callers.
	Users authn.Authenticator
	// Tokens verifies Bearer Tollgate tokens; nil refuses them.
	Tokens RegistryTokens
	// Core authorizes with the ACL (grant.Service.Authorize), audits and
	// counts failed logins.
	Core *grant.Service
	// Service is the service the ACL sees for these requests.
	Service string
	Cache   *Cache // nil: every request is decided afresh
}

// Request is one forward-auth question: the original request and its
// credentials.
type Request struct {
	Method, URI string
	Username    string       // Basic
	Password    authn.Secret // Basic password, or the Bearer token
	Bearer      bool
	// Credential is the whole Authorization value, the cache's key (kept
	// only as a hash).
	Credential string
	// ContentType is the original request's: an upload POST whose form
	// body could name mount and from (which the registry reads from the
	// body too, where the proxy's question cannot see them) is denied.
	ContentType string
	ClientIP    netip.Addr
	Budget      grant.Budget
}

// Decision is the answer: the HTTP status the proxy passes on.
type Decision struct {
	Status     int    // 200, 401, 403 or 429
	Subject    string // who, when authenticated
	Message    string // why not, for the client
	RetryAfter time.Duration
}

// Decide answers req. Errors are the store's or a backend's that is away
// (503), or internal.
func (g *Gateway) Decide(ctx context.Context, req Request) (Decision, error) {
	acc, err := Route(req.Method, req.URI)
	if err == nil && acc.upload && formBody(req.ContentType) {
		err = errFormUpload
	}
	if err != nil {
		return Decision{Status: http.StatusForbidden, Message: err.Error()}, nil
	}
	if req.Password == "" && req.Username == "" {
		return g.anonymous(req, acc), nil
	}
	key := g.key(req, acc)
	if d, ok := g.Cache.get(key); ok {
		return d, nil
	}
	d, err := g.decide(ctx, req, acc)
	if err == nil && (d.Status == http.StatusOK || d.Status == http.StatusForbidden) {
		g.Cache.put(key, d)
	}
	return d, err
}

// errFormUpload: an upload POST with a form body, which could hide mount
// and from from the question.
var errFormUpload = errors.New("an upload with a form body is not allowed: mount and from go in the query")

// formBody reports whether a Content-Type is a form's, whose fields
// distribution reads as request parameters (FormValue).
func formBody(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

// anonymous is the answer without credentials: what the ACL lets anyone
// do, else a challenge. /v2/ always challenges: clients such as skopeo
// send credentials only after it.
func (g *Gateway) anonymous(req Request, acc Access) Decision {
	if !acc.Base && g.granted(authn.Identity{}, acc, req) {
		return Decision{Status: http.StatusOK}
	}
	return Decision{Status: http.StatusUnauthorized, Message: "authentication required"}
}

// decide authenticates and authorizes a request with credentials.
func (g *Gateway) decide(ctx context.Context, req Request, acc Access) (Decision, error) {
	if req.Bearer && !apitoken.LooksLike(string(req.Password)) {
		return g.tollgateToken(ctx, req, acc)
	}
	greq := grant.Request{GrantType: grant.TypeGet, Username: req.Username, Password: req.Password, Bearer: req.Bearer,
		Tried: req.Username, ClientIP: req.ClientIP, Budget: req.Budget}
	if req.Bearer { // an API token as Bearer stands for Basic with the user name token
		greq.Username, greq.Tried = apitoken.Username, ""
	}
	id, err := grant.Authenticate(ctx, grant.Get{Authn: g.Users}, &greq)
	if err != nil {
		return g.refused(greq, err)
	}
	if acc.Base {
		return Decision{Status: http.StatusOK, Subject: id.Name}, nil
	}
	allowed := g.granted(id, acc, req)
	g.audit(id.Name, req, acc, allowed)
	if !allowed {
		return Decision{Status: http.StatusForbidden, Subject: id.Name, Message: "not allowed: " + scope.Join(acc.Scopes)}, nil
	}
	return Decision{Status: http.StatusOK, Subject: id.Name}, nil
}

// tollgateToken decides a Bearer registry token of this Tollgate: it
// must verify, its subject's account live, and its access cover the
// request.
func (g *Gateway) tollgateToken(ctx context.Context, req Request, acc Access) (Decision, error) {
	if g.Tokens == nil {
		return Decision{Status: http.StatusUnauthorized, Message: "Bearer credentials must be an API token"}, nil
	}
	if req.Budget != nil { // a token is no password: the address's budget alone
		if ok, wait := req.Budget.Admit("", req.Password); !ok {
			return Decision{Status: http.StatusTooManyRequests, Message: "too many failed logins from this address", RetryAfter: wait}, nil
		}
	}
	c, err := g.Tokens.RegistryClaims(ctx, string(req.Password))
	switch {
	case errors.Is(err, authn.ErrBadCredentials) || errors.Is(err, authn.ErrDisabled):
		g.Core.FailedLogin(grant.Request{ClientIP: req.ClientIP})
		if req.Budget != nil {
			req.Budget.Failed("", req.Password)
		}
		return Decision{Status: http.StatusUnauthorized, Message: "invalid, expired or revoked token"}, nil
	case err != nil:
		return Decision{}, err
	case g.Service != "" && !slices.Contains(c.Audience, g.Service):
		return Decision{Status: http.StatusUnauthorized, Message: "the token was issued for another service"}, nil
	}
	if acc.Base {
		return Decision{Status: http.StatusOK, Subject: c.Subject}, nil
	}
	allowed := covers(c.Access, acc.Scopes)
	g.audit(c.Subject, req, acc, allowed)
	if !allowed {
		return Decision{Status: http.StatusForbidden, Subject: c.Subject, Message: "the token does not grant " + scope.Join(acc.Scopes)}, nil
	}
	return Decision{Status: http.StatusOK, Subject: c.Subject}, nil
}

// covers reports whether a token's access grants every scope needed.
func covers(access []token.Access, need []scope.Scope) bool {
	for _, s := range need {
		ok := slices.ContainsFunc(access, func(a token.Access) bool {
			return a.Type == s.Type && a.Name == s.Name &&
				(slices.Contains(a.Actions, "*") || slices.Contains(a.Actions, s.Actions[0]))
		})
		if !ok {
			return false
		}
	}
	return true
}

// refused is the answer to failed authentication.
func (g *Gateway) refused(greq grant.Request, err error) (Decision, error) {
	e, ok := grant.AsError(err)
	switch {
	case !ok:
		return Decision{}, err
	case errors.Is(e.Code, grant.ErrTooManyFailures):
		return Decision{Status: http.StatusTooManyRequests, Message: e.Message, RetryAfter: e.RetryAfter}, nil
	case e.Refusal == grant.FailedLogin:
		g.Core.FailedLogin(greq)
	case e.Refusal == grant.Denied:
		g.Core.Denied(greq, "forward auth: "+e.Message)
	}
	return Decision{Status: http.StatusUnauthorized, Message: e.Message}, nil
}

// granted reports whether the ACL grants every scope acc needs to id.
func (g *Gateway) granted(id authn.Identity, acc Access, req Request) bool {
	got, _ := g.Core.Authorize(grant.Request{Identity: id, Scopes: acc.Scopes, Service: g.Service, ClientIP: req.ClientIP})
	for _, s := range acc.Scopes {
		ok := slices.ContainsFunc(got, func(h scope.Scope) bool {
			return h.Type == s.Type && h.Name == s.Name && slices.Contains(h.Actions, s.Actions[0])
		})
		if !ok {
			return false
		}
	}
	return true
}

// audit records a decision made (not one answered from the cache).
func (g *Gateway) audit(subject string, req Request, acc Access, allowed bool) {
	if g.Core.Audit == nil {
		return
	}
	ev := store.AuditEvent{Kind: EventDenied, Subject: subject, Service: g.Service, Requested: scope.Join(acc.Scopes),
		Detail: "forward auth: " + req.Method}
	if allowed {
		ev.Kind, ev.Granted = EventAllowed, ev.Requested
	}
	if req.ClientIP.IsValid() {
		ev.ClientIP = req.ClientIP.String()
	}
	g.Core.Audit.Record(ev)
}

// key is the cache key of a decision: the credential's hash, the client
// address (ACL rules may name addresses) and the access needed.
func (g *Gateway) key(req Request, acc Access) string {
	sum := sha256.Sum256([]byte(req.Credential))
	var b strings.Builder
	b.Write(sum[:])
	b.WriteString(req.ClientIP.String())
	b.WriteByte(0)
	if acc.Base {
		b.WriteString("base")
	}
	b.WriteString(scope.Join(acc.Scopes))
	return b.String()
}
