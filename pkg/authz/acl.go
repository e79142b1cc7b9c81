package authz

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/tollgate/tollgate/pkg/scope"
)

// ACL is a compiled, immutable list of rules; safe for concurrent use.
type ACL struct {
	rules    []Rule
	compiled []compiledRule
	index    ruleIndex
	claims   []string // the claims name patterns use (Claims), found once
}

// Request is who asks, from where, for which service, and under which cap.
type Request struct {
	Account  string     // authenticated account name; "" = anonymous
	Service  string     // the token request's service parameter
	ClientIP netip.Addr // client address; the zero Addr means unknown
	// Role caps what the ACL grants (an API token's role): "" = no cap;
	// see RoleRead, RoleWrite, RoleAdmin. An unknown role keeps nothing.
	Role string
	// Groups are the caller's groups, matched by the rules' group globs.
	Groups []string
	// Labels are the caller's labels, one value each, which name patterns
	// use as ${labels:NAME}. A value is taken literally; one that is empty
	// or unsafe (UnsafeLiteral) is treated as missing.
	Labels map[string]string
	// Claims are a workload's identity-token claims, which name patterns
	// use as ${claims:NAME}; taken literally like Labels.
	Claims map[string]string
}

// Decision explains how one scope was decided.
type Decision struct {
	Rule    int      // index of the rule that matched; -1 if none did
	Granted []string // requested actions granted, after the role's cap
	Dropped []string // requested actions not in Granted, in request order
	// Capped lists what the rule granted and Request.Role took away, in
	// the rule's grant order; nil when the role took nothing.
	Capped []string
}

// Compile validates every rule and compiles its patterns once. It reports all
// problems together (errors.Join of *RuleError), each naming the config key
// "acl[i].field", and each matching ErrInvalidRule under errors.Is.
func Compile(rules []Rule) (*ACL, error) {
	a := &ACL{rules: cloneRules(rules), compiled: make([]compiledRule, len(rules))}
	var errs []error
	for i, r := range rules {
		c := ruleCompiler{index: i}
		a.compiled[i] = c.compile(r)
		errs = append(errs, c.errs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	a.index = newRuleIndex(a.compiled)
	a.claims = claimsUsed(a.compiled)
	return a, nil
}

// Claims lists the identity-token claims the rules' name patterns use
// (${claims:NAME}), each once, in rule order. A federation backend checks
// a workload's values of them before it vouches for it: one that cannot be
// taken literally refuses the request.
func (a *ACL) Claims() []string { return slices.Clone(a.claims) }

// claimsUsed finds the claims of Claims in the compiled rules.
func claimsUsed(compiled []compiledRule) []string {
	var out []string
	for i := range compiled {
		for _, ref := range compiled[i].name.vars {
			if ref.kind == tokClaim && !slices.Contains(out, ref.name) {
				out = append(out, ref.name)
			}
		}
	}
	return out
}

// Rules returns a copy of the rules the ACL was compiled from.
func (a *ACL) Rules() []Rule { return cloneRules(a.rules) }

// Decide returns which rule decides scope s for req and what it grants,
// capped by req.Role. A requested "*" against a rule with an explicit action
// list grants that list; "*" itself is then reported as dropped, since it is
// not in the grant.
func (a *ACL) Decide(req Request, s scope.Scope) Decision {
	i := a.match(&req, &s)
	if i < 0 {
		return Decision{Rule: -1, Dropped: slices.Clone(s.Actions)}
	}
	d := Decision{Rule: i, Granted: a.compiled[i].grant(make([]string, 0, len(s.Actions)), s.Actions)}
	if req.Role != "" && req.Role != RoleAdmin {
		byRule := slices.Clone(d.Granted)
		d.Granted = capByRole(d.Granted, 0, req.Role, s.Type)
		for _, act := range byRule {
			if !slices.Contains(d.Granted, act) {
				d.Capped = append(d.Capped, act)
			}
		}
	}
	for _, act := range s.Actions {
		if !slices.Contains(d.Granted, act) {
			d.Dropped = append(d.Dropped, act)
		}
	}
	return d
}

// Authorize returns the granted subset of requested, in request order,
// capped by req.Role. Scopes with nothing granted are left out; a denial is
// not an error (distribution token.md, "Requesting a Token").
func (a *ACL) Authorize(req Request, requested []scope.Scope) []scope.Scope {
	return a.AuthorizeRules(req, requested, nil)
}

// AuthorizeRules is Authorize that also stores in rules[k] the index of the
// rule that decided requested[k], or -1 when none matched (default deny), so
// that audit records and logs can name it. rules must be nil or at least as
// long as requested; it costs nothing more than Authorize.
func (a *ACL) AuthorizeRules(req Request, requested []scope.Scope, rules []int) []scope.Scope {
	var out []scope.Scope
	var buf []string // one backing array for all granted action lists
	for k, s := range requested {
		i := a.match(&req, &s)
		if rules != nil {
			rules[k] = i
		}
		if i < 0 {
			continue
		}
		if buf == nil {
			buf = make([]string, 0, countActions(requested))
		}
		start := len(buf)
		buf = a.compiled[i].grant(buf, s.Actions)
		buf = capByRole(buf, start, req.Role, s.Type)
		if len(buf) == start {
			continue
		}
		if out == nil {
			out = make([]scope.Scope, 0, len(requested))
		}
		s.Actions = buf[start:len(buf):len(buf)] // capped: appends by the caller copy
		out = append(out, s)
	}
	return out
}

// match returns the index of the first rule matching req and s, or -1. It
// tests, in rule order, only the rules the index offers for s.Name: every
// rule that could match is among them, so the first match is the same as
// a scan of every rule would find.
func (a *ACL) match(req *Request, s *scope.Scope) int {
	var buf [maxStackBuckets][]int
	c := a.index.candidates(buf[:0], req.Account, s.Name)
	for i := c.next(); i >= 0; i = c.next() {
		if a.compiled[i].matches(req, s) {
			return i
		}
	}
	return -1
}

func (r *compiledRule) matches(req *Request, s *scope.Scope) bool {
	return r.matchAccount(req.Account) &&
		r.matchGroups(req.Groups) &&
		r.service.match(req.Service, nil) &&
		r.matchIP(req.ClientIP) &&
		r.typ.match(s.Type, nil) &&
		r.name.usable(req) &&
		r.name.match(s.Name, req)
}

func (r *compiledRule) matchAccount(account string) bool {
	if r.anonymous {
		return account == ""
	}
	return account != "" && r.account.match(account, nil)
}

// matchGroups reports whether one of groups matches the rule's group glob;
// a rule without a group matches whatever the groups.
func (r *compiledRule) matchGroups(groups []string) bool {
	if r.anyGroup {
		return true
	}
	for _, g := range groups {
		if r.group.match(g, nil) {
			return true
		}
	}
	return false
}

// matchIP reports whether ip is in one of the rule's prefixes. A rule without
// prefixes matches any client; a rule with prefixes never matches an unknown
// one. IPv4-mapped IPv6 addresses match IPv4 prefixes.
func (r *compiledRule) matchIP(ip netip.Addr) bool {
	if len(r.prefixes) == 0 {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range r.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// grant appends to dst the requested actions the rule allows, in request
// order and without duplicates, and returns the extended slice.
func (r *compiledRule) grant(dst, requested []string) []string {
	start := len(dst)
	for _, act := range requested {
		switch {
		case r.allActions || slices.Contains(r.actions, act):
			dst = appendNew(dst, start, act)
		case act == "*":
			for _, allowed := range r.actions {
				dst = appendNew(dst, start, allowed)
			}
		}
	}
	return dst
}

// appendNew appends act to dst unless dst[start:] already holds it.
func appendNew(dst []string, start int, act string) []string {
	if slices.Contains(dst[start:], act) {
		return dst
	}
	return append(dst, act)
}

func countActions(scopes []scope.Scope) int {
	n := 0
	for _, s := range scopes {
		n += len(s.Actions)
	}
	return n
}

func cloneRules(rules []Rule) []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		if r.Account != nil {
			account := *r.Account
			r.Account = &account
		}
		r.IP = slices.Clone(r.IP)
		r.Actions = slices.Clone(r.Actions)
		out[i] = r
	}
	return out
}
