package grant

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/redact"
	"github.com/tollgate/tollgate/pkg/scope"
)

// Handler serves one grant type (the shape of ory/fosite's
// TokenEndpointHandler): it turns the request's credential into the
// identity the token is for. Everything else — budgets, failure
// accounting, authorization, the role cap, minting, refresh tokens, audit
// and metrics — the Pipeline does around it, the same for every grant.
//
// Refusals are *Error values (Credentials classifies authentication
// errors); any other error is internal.
type Handler interface {
	Authenticate(ctx context.Context, req *Request) (authn.Identity, error)
}

// Grant is one entry of a Table.
type Grant struct {
	// Type is the grant_type (RFC 6749), or "get" for the Docker token
	// protocol's GET (the one grant of its own table). It is also the
	// metric label.
	Type string
	// Auth lists the client authentication methods (RFC 8414 §2).
	Auth    []string
	Handler Handler
	// Audit names the grant in audit details of dialects that mark their
	// events (Service.AuditDetail), e.g. "refresh"; "" names none.
	Audit string
}

// Client authentication methods (RFC 8414 §2, RFC 7591 §2).
var (
	// PublicAuth: a client_id without a secret (RFC 6749 §2.1 public
	// clients: docker, anchorectl, ...).
	PublicAuth = []string{"none"}
	// ConfidentialAuth: client_id and client_secret as HTTP Basic or in
	// the form (RFC 6749 §2.3.1).
	ConfidentialAuth = []string{"client_secret_basic", "client_secret_post"}
)

// Grant types.
const (
	TypeGet               = "get"
	TypePassword          = "password"
	TypeRefreshToken      = "refresh_token"
	TypeClientCredentials = "client_credentials"
	TypeTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange" // RFC 8693
)

// Table is the grants of one token endpoint, in the order they are
// documented: the one list dispatch, the unsupported_grant_type error,
// discovery's grant_types_supported and the metric labels read.
type Table []Grant

// Find returns the grant of type gt.
func (t Table) Find(gt string) (Grant, bool) {
	i := slices.IndexFunc(t, func(g Grant) bool { return g.Type == gt })
	if i < 0 {
		return Grant{}, false
	}
	return t[i], true
}

// Names lists the grant types, for grant_types_supported.
func (t Table) Names() []string {
	out := make([]string, len(t))
	for i, g := range t {
		out[i] = g.Type
	}
	return out
}

// AuthMethods lists the client authentication methods of every grant,
// each once, for token_endpoint_auth_methods_supported.
func (t Table) AuthMethods() []string {
	var out []string
	for _, g := range t {
		for _, m := range g.Auth {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// Budget is the failure budgets of one request (the server's limiter for
// its client address): Admit before any credential is tried, Failed after
// a failed login. An empty user charges the address alone.
type Budget interface {
	Admit(user string, secret authn.Secret) (ok bool, wait time.Duration)
	Failed(user string, secret authn.Secret)
}

// Request is one token request, as a dialect parsed it.
type Request struct {
	GrantType string // a Table entry's Type

	// The credentials given; a handler reads those of its grant.
	Username     string       // Basic or form username; charged to its per-name budget
	Password     authn.Secret // its password (or API token)
	Bearer       bool         // GET: the credential came as Bearer (an API token)
	Account      string       // Docker's account parameter
	RefreshToken string
	ClientID     string
	ClientSecret authn.Secret
	// RFC 8693 token exchange: the subject token and its type, the type
	// asked for, and whether an actor token came (it is not supported).
	SubjectToken       authn.Secret
	SubjectTokenType   string
	RequestedTokenType string
	ActorToken         bool
	// Tried is the name the caller gave (a Basic or form username, a
	// client_id), audited on a refusal; redacted if it looks like a secret.
	Tried string

	Service  string        // registry tokens: the service; Engine API: the audience asked
	Scopes   []scope.Scope // registry scopes asked
	Scope    []string      // OAuth2 scopes asked (Engine API)
	ClientIP netip.Addr
	Offline  bool // also issue a refresh token (GET offline_token, POST access_type=offline)

	// Set by the pipeline and its handlers:
	Identity authn.Identity
	// Granted, Audience: what a handler authorized itself (a client's own
	// scopes and audiences); nil leaves it to the Service.
	Granted  []string
	Audience []string
	// NextRefresh is the refresh token a handler issued (a rotation) or
	// echoes, returned with the token.
	NextRefresh string

	// WantRules asks for Result.Rules even without an auditor (for logs).
	WantRules bool
	Budget    Budget // nil: no budgets
}

// Pipeline serves the token requests of one endpoint: one loop around
// whichever grant of its table the request names.
type Pipeline struct {
	Grants  Table
	Service *Service
}

// Token runs the request through its grant: budget, authenticate, count a
// failure, authorize, mint, audit. A refusal is an *Error.
func (p *Pipeline) Token(ctx context.Context, req Request) (Result, error) {
	g, ok := p.Grants.Find(req.GrantType)
	if !ok {
		return Result{}, p.Grants.Unsupported()
	}
	id, err := Authenticate(ctx, g.Handler, &req)
	if err != nil {
		p.refused(ctx, req, g, err)
		return Result{}, err
	}
	req.Identity = id
	return p.Service.issue(ctx, req, g)
}

// Authenticate is the one authentication sequence: check the request's
// budgets, authenticate through h, charge a failed login to the budgets.
// Its errors are typed: an *Error with ErrTooManyFailures (budget spent),
// an *Error of Refusal FailedLogin (bad or unknown credentials) or Denied
// (unusable ones), or an internal error.
func Authenticate(ctx context.Context, h Handler, req *Request) (authn.Identity, error) {
	if req.Budget != nil && req.credentialed() { // the anonymous caller tries nothing
		if ok, wait := req.Budget.Admit(req.Username, req.Password); !ok {
			return authn.Identity{}, tooMany(wait)
		}
	}
	id, err := h.Authenticate(ctx, req)
	if e, ok := AsError(err); ok && e.Refusal == FailedLogin && req.Budget != nil {
		req.Budget.Failed(req.Username, req.Password)
	}
	return id, err
}

// credentialed reports whether the request presents any credential.
func (req *Request) credentialed() bool {
	return req.Username != "" || req.Password != "" || req.RefreshToken != "" || req.ClientSecret != "" ||
		req.SubjectToken != ""
}

// refused accounts for a refusal: a failed login spends the budgets and is
// audited per address and minute, a denial gets its own audit row.
func (p *Pipeline) refused(ctx context.Context, req Request, g Grant, err error) {
	e, ok := AsError(err)
	if !ok || e.Refusal == NotCounted {
		return
	}
	req.Tried = redact.Secrets(req.Tried)
	req.ClientID = redact.Secrets(req.ClientID)
	if e.Refusal == Denied {
		p.Service.Denied(req, p.Service.detail(g, e.Message))
		return
	}
	p.Service.FailedLogin(req)
	if p.Service.Observer != nil {
		p.Service.Observer.Refused(ctx, g.Type, err)
	}
}

// orList joins "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
