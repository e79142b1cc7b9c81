package grant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
)

// Errors the endpoints map to client errors.
var (
	ErrUnknownService  = errors.New("service not served by this token server")
	ErrAccountMismatch = errors.New("account does not match the authenticated user")
	ErrRefreshInvalid  = refresh.ErrInvalid
)

// Authorizer returns the granted subset of the requested scopes (a denial
// is an empty result, never an error) and stores in rules[k], when rules is
// not nil, the index of the rule that decided requested[k] (-1: none
// matched). *authz.ACL implements it, and *authz.Holder, which lets a
// reload swap the ACL under running requests.
type Authorizer interface {
	AuthorizeRules(req authz.Request, requested []scope.Scope, rules []int) []scope.Scope
}

// Auditor receives audit events; it must not block (audit.Recorder).
type Auditor interface {
	Record(ev store.AuditEvent)
	// FailedLogin counts a refused login from ev.ClientIP under the name
	// ev.Subject; the log gets one row per address and minute.
	FailedLogin(ev store.AuditEvent)
}

// Observer is told how token requests end, for metrics. Its methods run on
// the request path, in the caller's goroutine, with the caller's context:
// they must be cheap and must not block.
type Observer interface {
	// Issued is told of every token minted and how much of the request it
	// grants.
	Issued(ctx context.Context, req Request, outcome Outcome)
	// Refused is told of every failed login of the grant (the Table
	// entry's Type): wrong or unknown credentials, a refresh token that is
	// no longer good. err is the refusal (an *Error wrapping its cause).
	Refused(ctx context.Context, grantType string, err error)
}

// Outcome is how much of what was asked a token grants, counted in actions.
type Outcome uint8

// Outcomes.
const (
	GrantedAll  Outcome = iota // every action asked, or nothing was asked (docker login)
	GrantedSome                // some of the actions asked
	GrantedNone                // none of a non-empty request
)

// RefreshSource is the Identity.Source of the identities Redeem returns.
const RefreshSource = "refresh_token"

// Admitter checks an identity against its account (accounts.Service):
// a refresh token is good only while its account lives, is enabled and
// has the password it was issued under. Confirm reads the account from
// the store whatever a cache says, before a refresh token is made.
type Admitter interface {
	Admit(ctx context.Context, id authn.Identity) (authn.Identity, error)
	Confirm(ctx context.Context, id authn.Identity) (authn.Identity, error)
}

// Readmitter rebuilds the workload a refresh token was issued to, if the
// trust rule it was issued under (policy) is still in force.
type Readmitter interface {
	Readmit(ctx context.Context, name, policy string, claims map[string]string) (authn.Identity, error)
}

// Service is the core every grant shares: authorization, the role cap,
// minting (in its Minter's claims profile), refresh tokens, audit and
// metrics, written once. A Pipeline runs it after its grant's handler.
type Service struct {
	Audit  Auditor    // optional
	Authz  Authorizer // registry profile: the ACL; nil grants no registry scope
	Minter *token.Minter
	// Refresh issues the Docker identity tokens asked for with
	// offline_token / access_type=offline; Families the rotating refresh
	// tokens every password grant of the Engine API gets. Either may be nil.
	Refresh  *refresh.Tokens
	Families *refresh.Families
	Accounts Admitter // checks the account a refresh token was issued to
	// Workloads checks the trust rule a workload's refresh token was
	// issued under (*federation.Federation); nil refuses such tokens.
	Workloads Readmitter
	Services  []string // accepted audiences of registry tokens; empty accepts any
	// Audience is the aud of the tokens of users in the Engine profile
	// ("" none); a client's tokens name the client's audiences.
	Audience string
	// AuditDetail marks the audit events of this dialect ("engine api");
	// "" marks none.
	AuditDetail string
	Observer    Observer // optional: told how requests end (metrics)
	// Reuse, when set, answers identical registry grants within its window
	// with the token already minted (token.reuse_window).
	Reuse *Reuse
}

// Result is what the endpoint renders.
type Result struct {
	Token   token.Token
	Granted []scope.Scope // registry scopes granted
	// Scope is the OAuth2 scope granted (Engine profile); nil when the
	// request asked for none and none was granted.
	Scope        []string
	RefreshToken string // empty unless one was issued
	// ExpiresIn is how long the token has left: its lifetime, or for a
	// reused token what remains of it (expires_in counts down honestly).
	ExpiresIn time.Duration
	// Reused tells that Token was minted for an identical earlier grant.
	Reused bool
	// Identity is who the token was issued to.
	Identity authn.Identity
	// Rules holds, parallel to Request.Scopes, the index of the ACL rule
	// that decided each scope (-1: none matched, default deny). It is nil
	// unless the Service audits or the Request asked (WantRules).
	Rules []int
}

// Issue authorizes and mints for a request whose identity is already
// known (req.Identity), as the pipeline does after a handler.
func (s *Service) Issue(ctx context.Context, req Request) (Result, error) {
	return s.issue(ctx, req, Grant{Type: req.GrantType})
}

// issue authorizes and mints (distribution token.md: the token lists the
// intersection of what was asked and what is allowed) and issues the
// refresh token the grant calls for.
func (s *Service) issue(ctx context.Context, req Request, g Grant) (Result, error) {
	if s.Authz != nil {
		if err := s.CheckService(req.Service); err != nil {
			return Result{}, err
		}
	}
	offline := s.lasting(req)
	if offline && s.Accounts != nil && !req.Identity.Accountless() { // a lasting credential: the account as the store has it now
		id, err := s.Accounts.Confirm(ctx, req.Identity)
		if err != nil {
			return Result{}, Credentials(err, "")
		}
		req.Identity = id
	}
	res, err := s.mint(req)
	if err != nil {
		return Result{}, err
	}
	res.Identity = req.Identity
	if s.Audit != nil {
		s.record(audit.TokenIssued, req, res, s.detail(g, issuedDetail(req, res)))
	}
	if res.RefreshToken, err = s.refreshToken(ctx, req, offline); err != nil {
		return Result{}, err
	}
	if s.Observer != nil {
		s.Observer.Issued(ctx, req, outcome(req.Scopes, res.Granted))
	}
	return res, nil
}

// lasting reports whether the request gets a refresh token: a password
// grant of the Engine API, or an offline request for Docker identity
// tokens. A role-capped identity (an API token) never does: one would carry
// its owner's full rights and outlive the token's revocation; neither does
// a client.
func (s *Service) lasting(req Request) bool {
	id := req.Identity
	if id.Anonymous() || id.Role != "" || id.Kind == authn.KindClient { // a workload may keep a Docker refresh token (bound to its rule)
		return false
	}
	if s.Families != nil { // rotating families are an account's
		return req.GrantType == TypePassword && !id.Accountless()
	}
	return s.Refresh != nil && req.Offline && req.GrantType != TypeRefreshToken
}

// mint authorizes the request and signs its token.
func (s *Service) mint(req Request) (Result, error) {
	id := req.Identity
	if s.Minter.Profile == token.Engine && !id.Accountless() && id.AccountID == "" {
		return Result{}, refresh.ErrNoAccount // sub is the account ID
	}
	var res Result
	res.Granted, res.Rules = s.authorize(req)
	res.Scope = req.Granted
	aud := req.Audience
	switch {
	case aud != nil:
	case s.Minter.Profile == token.Registry && req.Service != "":
		aud = []string{req.Service}
	case s.Minter.Profile == token.Engine && s.Audience != "":
		aud = []string{s.Audience}
	}
	g := token.Grant{Subject: id.Name, Audience: aud, Access: res.Granted, Scope: res.Scope, NotBefore: id.NotBefore}
	if s.Reuse != nil && s.Minter.Profile == token.Registry {
		return s.mintOrReuse(req, g, res)
	}
	g.Identity = id.Claim()
	tok, err := s.Minter.Mint(g)
	res.Token, res.ExpiresIn = tok, tok.ExpiresAt.Sub(tok.IssuedAt)
	return res, err
}

// mintOrReuse answers with the token of an identical grant minted within
// the reuse window, else mints one and keeps it.
func (s *Service) mintOrReuse(req Request, g token.Grant, res Result) (Result, error) {
	now := s.now()
	var kid string
	if k, ok := s.Minter.Signer.(keyIdentifier); ok {
		kid = k.ID()
	}
	key := reuseKey(req, res.Granted, kid)
	if tok, ok := s.Reuse.get(key, now); ok {
		res.Token, res.Reused = tok, true
		res.ExpiresIn = tok.ExpiresAt.Sub(now).Truncate(time.Second)
		return res, nil
	}
	g.Identity = req.Identity.Claim()
	tok, err := s.Minter.Mint(g)
	if err != nil {
		return res, err
	}
	s.Reuse.put(key, tok, now)
	res.Token, res.ExpiresIn = tok, tok.ExpiresAt.Sub(tok.IssuedAt)
	return res, nil
}

// now is the Minter's clock.
func (s *Service) now() time.Time {
	if s.Minter.Now != nil {
		return s.Minter.Now()
	}
	return time.Now()
}

// Authorize is what the ACL grants of req.Scopes to req.Identity, capped
// by its role, and the rule that decided each scope (-1: none), without
// minting anything: for callers that decide a request rather than issue a
// token (the forward-auth gateway).
func (s *Service) Authorize(req Request) ([]scope.Scope, []int) {
	req.WantRules = true
	return s.authorize(req)
}

// authorize is what the ACL grants of the registry scopes asked, capped by
// the identity's role, and the deciding rules (when someone reads them).
func (s *Service) authorize(req Request) ([]scope.Scope, []int) {
	if s.Authz == nil || len(req.Scopes) == 0 {
		return nil, nil
	}
	var rules []int // one small slice, paid only when someone reads it
	if s.Audit != nil || req.WantRules {
		rules = make([]int, len(req.Scopes))
	}
	id := req.Identity
	granted := s.Authz.AuthorizeRules(authz.Request{
		Account:  id.Name,
		Service:  req.Service,
		ClientIP: req.ClientIP,
		Role:     id.Role,
		Groups:   id.Groups(),
		Labels:   id.Labels(),
		Claims:   id.Claims(),
	}, req.Scopes, rules)
	return granted, rules
}

// refreshToken issues the refresh token the request gets, if any, or
// returns the one its handler issued (a rotation) or echoes.
func (s *Service) refreshToken(ctx context.Context, req Request, lasting bool) (string, error) {
	switch {
	case !lasting:
		return req.NextRefresh, nil
	case s.Families != nil:
		issued, err := s.Families.Start(ctx, req.Identity, req.ClientID)
		return issued.Raw, err
	}
	issued, err := s.Refresh.Issue(ctx, req.Identity, req.ClientID, req.Service)
	return issued.Raw, err
}

// Redeem turns a refresh token into the identity it was issued to. The
// token is good only for the service it was issued for (distribution
// oauth.md), while its account lives and is enabled, and until its user's
// password changes; what that subject may do is decided afresh by Issue. A
// disabled account is authn.ErrDisabled.
func (s *Service) Redeem(ctx context.Context, raw, service string) (authn.Identity, error) {
	rec, err := s.Refresh.Redeem(ctx, raw)
	if err != nil {
		return authn.Identity{}, err
	}
	if rec.Service != "" && rec.Service != service {
		return authn.Identity{}, fmt.Errorf("%w: issued for another service", refresh.ErrInvalid)
	}
	if rec.Binding != "" {
		return s.readmit(ctx, rec)
	}
	id := authn.Identity{Kind: authn.KindUser, Name: rec.Subject, Source: RefreshSource, AccountID: rec.AccountID, Epoch: rec.Epoch}
	if s.Accounts == nil {
		return id, nil
	}
	id, err = s.Accounts.Admit(ctx, id)
	if errors.Is(err, authn.ErrBadCredentials) {
		return authn.Identity{}, fmt.Errorf("%w: %v", refresh.ErrInvalid, err)
	}
	return id, err
}

// readmit is the workload a refresh token was issued to, while the trust
// rule it was issued under is in force.
func (s *Service) readmit(ctx context.Context, rec store.RefreshToken) (authn.Identity, error) {
	b, err := refresh.ParseBinding(rec.Binding)
	if err != nil || s.Workloads == nil {
		return authn.Identity{}, fmt.Errorf("%w: a workload's token, and no federation in force", refresh.ErrInvalid)
	}
	id, err := s.Workloads.Readmit(ctx, rec.Subject, b.Policy, b.Claims)
	if errors.Is(err, authn.ErrBadCredentials) {
		return authn.Identity{}, fmt.Errorf("%w: %v", refresh.ErrInvalid, err)
	}
	return id, err
}

// Denied records a refused request (malformed credentials, a disabled
// account); reason must hold no secret. A failed login goes to
// FailedLogin instead.
func (s *Service) Denied(req Request, reason string) {
	req.Identity = authn.Identity{Name: req.tried()}
	s.record(audit.TokenDenied, req, Result{}, reason)
}

// tried is the name a refused caller gave: Tried, else the identity's.
func (req Request) tried() string {
	if req.Tried != "" {
		return req.Tried
	}
	return req.Identity.Name
}

// FailedLogin records a refused login (a wrong password, an unknown user,
// an invalid API token or refresh token) under the name the caller gave
// (req.Tried), aggregated per client address and minute so that password
// guessing cannot flood the audit log.
func (s *Service) FailedLogin(req Request) {
	if s.Audit == nil {
		return
	}
	ev := store.AuditEvent{Subject: req.tried()}
	if req.ClientIP.IsValid() {
		ev.ClientIP = req.ClientIP.String()
	}
	s.Audit.FailedLogin(ev)
}

// detail is an audit detail: the dialect's mark and the grant's (when the
// dialect marks its events), then more.
func (s *Service) detail(g Grant, more string) string {
	parts := make([]string, 0, 3)
	if s.AuditDetail != "" {
		parts = append(parts, s.AuditDetail)
		if g.Audit != "" {
			parts = append(parts, g.Audit)
		}
	}
	if more != "" {
		parts = append(parts, more)
	}
	return strings.Join(parts, ": ")
}

func (s *Service) record(kind string, req Request, res Result, detail string) {
	if s.Audit == nil {
		return
	}
	ev := store.AuditEvent{
		Kind:      kind,
		Subject:   req.Identity.Name,
		ClientID:  req.ClientID,
		Service:   req.Service,
		Requested: scope.Join(req.Scopes),
		Granted:   scope.Join(res.Granted),
		Detail:    detail,
	}
	if s.Minter != nil && s.Minter.Profile == token.Engine {
		ev.Service = engineAudience(req, s.Audience)
		ev.Requested, ev.Granted = strings.Join(req.Scope, " "), strings.Join(res.Scope, " ")
	}
	if req.ClientIP.IsValid() {
		ev.ClientIP = req.ClientIP.String()
	}
	s.Audit.Record(ev)
}

// ruleDetail names the rule that decided each requested scope, as in
// "rules=repository:alice/app:1 repository:bob/x:-1" (-1: no rule matched,
// default deny), followed by " role=read" when a role capped the grant.
// Scope names hold no spaces, and the rule follows the last colon.
func ruleDetail(req Request, rules []int) string {
	if len(rules) == 0 && req.Identity.Role == "" {
		return ""
	}
	n := len("rules=") + len(" role=") + len(req.Identity.Role)
	for _, sc := range req.Scopes {
		n += len(sc.Type) + len(sc.Class) + len(sc.Name) + 8
	}
	var b strings.Builder
	b.Grow(n) // the only allocation
	var num [20]byte
	if len(rules) > 0 {
		b.WriteString("rules=")
		for k, sc := range req.Scopes {
			if k > 0 {
				b.WriteByte(' ')
			}
			sc.WriteResource(&b)
			b.WriteByte(':')
			b.Write(strconv.AppendInt(num[:0], int64(rules[k]), 10))
		}
	}
	if req.Identity.Role != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("role=")
		b.WriteString(req.Identity.Role)
	}
	return b.String()
}

// outcome compares the actions granted with those asked; granted is a
// subset of requested (authz never grants what was not asked).
func outcome(requested, granted []scope.Scope) Outcome {
	asked, got := 0, 0
	for _, s := range requested {
		asked += len(s.Actions)
	}
	for _, s := range granted {
		got += len(s.Actions)
	}
	switch {
	case got >= asked:
		return GrantedAll
	case got == 0:
		return GrantedNone
	}
	return GrantedSome
}

// CheckAccount enforces that an "account" parameter, when given with
// credentials, names who logged in (distribution token.md). Clients send
// the login name the user typed: the Docker CLI and regctl always do, so
// `docker login -u token -p tg_…` asks with account=token. It is accepted
// when it equals the Basic username (login) or the authenticated account's
// name, and refused when it names anyone else.
func CheckAccount(id authn.Identity, login, account string) error {
	if account == "" || id.Anonymous() || account == id.Name || account == login {
		return nil
	}
	return ErrAccountMismatch
}

// CheckService tells whether tokens are issued for service (token.services;
// an empty list accepts any): an invalid_request wrapping ErrUnknownService
// if not. Endpoints call it while parsing, so that a request for a foreign
// service fails before any password is checked; Issue checks again, as the
// core must not rely on its callers.
func (s *Service) CheckService(service string) error {
	if len(s.Services) == 0 || slices.Contains(s.Services, service) {
		return nil
	}
	err := fmt.Errorf("%w: %q", ErrUnknownService, service)
	if service == "" {
		err = fmt.Errorf("%w: the service parameter is required", ErrUnknownService)
	}
	e := Invalid("unknown service", err.Error())
	e.Cause = err
	return e
}

// engineAudience is the audience an Engine API request is audited under:
// the token's, else the one asked, else the API's own.
func engineAudience(req Request, own string) string {
	switch {
	case req.Audience != nil:
		return strings.Join(req.Audience, " ")
	case req.Service != "":
		return req.Service
	}
	return own
}

// issuedDetail is the audit detail of an issued token: the deciding rules,
// the role cap, and "reused" for a token minted for an earlier grant.
func issuedDetail(req Request, res Result) string {
	parts := make([]string, 0, 3)
	for _, p := range [...]string{ruleDetail(req, res.Rules), workloadDetail(req.Identity)} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if res.Reused {
		parts = append(parts, "reused")
	}
	return strings.Join(parts, " ")
}

// workloadDetail is, for a workload, what vouched for it: the issuer, the
// trust rule that matched and the claims it carries (never the token), as
// in `issuer=https://token.actions.githubusercontent.com
// rule=issuers[0].rules[0] claims={"ref":"refs/heads/main",...}`.
func workloadDetail(id authn.Identity) string {
	if id.Kind != authn.KindWorkload || id.Attrs == nil {
		return ""
	}
	claims := maps.Clone(id.Attrs.Claims)
	iss := claims["iss"]
	delete(claims, "iss")
	b, _ := json.Marshal(claims) // keys in order; strings cannot fail
	return "issuer=" + iss + " rule=" + id.Attrs.Rule + " claims=" + string(b)
}
