package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/pkg/scope"
)

// Field is a set of the parts of a rule compared with a request and scope.
type Field uint8

// The fields of a rule, in the order Explain reports them.
const (
	FieldAccount Field = 1 << iota
	FieldGroup
	FieldService
	FieldIP
	FieldType
	FieldName
)

var fieldNames = [...]string{"account", "group", "service", "ip", "type", "name"}

// String lists the fields, e.g. "account,name"; the empty set is "".
func (f Field) String() string {
	var parts []string
	for i, name := range fieldNames {
		if f&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	return strings.Join(parts, ",")
}

// Check is how one rule compared with a request and scope.
type Check struct {
	Rule     int      // index of the rule in the ACL
	Mismatch Field    // the fields that did not match; empty when the rule matches
	Reasons  []string // one sentence per field of Mismatch, in field order
}

// Matches reports whether the rule matches the request and scope.
func (c Check) Matches() bool { return c.Mismatch == 0 }

// ActionReason says why one requested action was granted or dropped.
type ActionReason struct {
	Action  string
	Granted bool
	Reason  string // e.g. "granted by rule 1", "dropped: not in rule 2's actions (pull)"
}

// Explanation is a Decision together with how every rule compared.
type Explanation struct {
	Decision
	Actions []ActionReason // one per requested action, in request order
	Checks  []Check        // one per rule, in rule order
}

// Explain decides s for req exactly as Decide does (the role's cap
// included) and also reports why each requested action was granted or
// dropped and, for every rule, whether it matches and why not, so an
// operator can see why a request was denied (tollgate acl explain). It is
// not meant for the request path: it allocates freely and never
// short-circuits.
func (a *ACL) Explain(req Request, s scope.Scope) Explanation {
	e := Explanation{Decision: a.Decide(req, s), Checks: make([]Check, len(a.compiled))}
	var byRule []string // what the rule granted before the role's cap
	if e.Rule >= 0 {
		byRule = a.compiled[e.Rule].grant(nil, s.Actions)
	}
	for _, act := range s.Actions {
		e.Actions = append(e.Actions, a.actionReason(act, e.Decision, byRule, req.Role, s.Type))
	}
	for i := range a.compiled {
		e.Checks[i] = a.check(i, &req, &s)
	}
	return e
}

// actionReason says why act, a requested action, was granted or dropped
// by d; byRule is what the deciding rule granted before role capped it on
// a resource of type typ.
func (a *ACL) actionReason(act string, d Decision, byRule []string, role, typ string) ActionReason {
	ar := ActionReason{Action: act, Granted: slices.Contains(d.Granted, act)}
	switch {
	case d.Rule < 0:
		ar.Reason = "dropped: no rule matched (default deny)"
	case ar.Granted:
		ar.Reason = fmt.Sprintf("granted by rule %d", d.Rule)
	case act == scope.Wildcard && len(d.Granted) > 0:
		ar.Reason = wildcardReason(d, byRule, role)
	case slices.Contains(byRule, act) || act == scope.Wildcard && len(byRule) > 0:
		ar.Reason = fmt.Sprintf("granted by rule %d, then dropped: %s", d.Rule, roleLimit(role, typ))
	default:
		ar.Reason = fmt.Sprintf("dropped: not in rule %d's actions (%s)", d.Rule, strings.Join(a.rules[d.Rule].Actions, ","))
	}
	return ar
}

// wildcardReason explains a requested "*" that the grant turned into a list
// of actions: the rule's own list (byRule), or the role's.
func wildcardReason(d Decision, byRule []string, role string) string {
	granted := strings.Join(d.Granted, ",")
	if slices.Contains(byRule, scope.Wildcard) {
		return fmt.Sprintf("granted by rule %d, narrowed by the %s role to %s", d.Rule, role, granted)
	}
	msg := fmt.Sprintf("rule %d lists its actions, so * stands for %s", d.Rule, strings.Join(byRule, ","))
	if len(d.Capped) > 0 {
		msg += fmt.Sprintf(", narrowed by the %s role to %s", role, granted)
	}
	return msg
}

// roleLimit says what role allows, for an action it took away on a
// resource of type typ.
func roleLimit(role, typ string) string {
	allowed := roleActions[role]
	switch {
	case allowed == nil:
		return fmt.Sprintf("the role %q is unknown and allows nothing", role)
	case typ != "repository":
		return fmt.Sprintf("the %s role allows only repository scopes, not %s", role, typ)
	}
	return fmt.Sprintf("the %s role allows only %s", role, strings.Join(allowed, ","))
}

// check compares rule i with req and s field by field; the rule matches
// (compiledRule.matches) exactly when no field fails.
func (a *ACL) check(i int, req *Request, s *scope.Scope) Check {
	r, cr := &a.rules[i], &a.compiled[i]
	c := Check{Rule: i}
	fail := func(f Field, format string, args ...any) {
		c.Mismatch |= f
		c.Reasons = append(c.Reasons, fmt.Sprintf(format, args...))
	}
	if !cr.matchAccount(req.Account) {
		switch {
		case cr.anonymous:
			fail(FieldAccount, "account: the rule is for anonymous clients only; the request is signed in as %q", req.Account)
		case req.Account == "":
			fail(FieldAccount, "account: the rule is for signed-in accounts; the request is anonymous")
		default:
			fail(FieldAccount, "account: %q does not match %q", req.Account, *r.Account)
		}
	}
	if !cr.matchGroups(req.Groups) {
		if len(req.Groups) == 0 {
			fail(FieldGroup, "group: the rule needs a group matching %q; the request has none", r.Group)
		} else {
			fail(FieldGroup, "group: none of %s matches %q", strings.Join(req.Groups, ", "), r.Group)
		}
	}
	if !cr.service.match(req.Service, nil) {
		if req.Service == "" {
			fail(FieldService, "service: the request names none; the rule needs %q", r.Service)
		} else {
			fail(FieldService, "service: %q does not match %q", req.Service, r.Service)
		}
	}
	if !cr.matchIP(req.ClientIP) {
		if req.ClientIP.IsValid() {
			fail(FieldIP, "ip: client %s is not in %s", req.ClientIP, strings.Join(r.IP, ", "))
		} else {
			fail(FieldIP, "ip: the client address is unknown; the rule needs %s", strings.Join(r.IP, ", "))
		}
	}
	if !cr.typ.match(s.Type, nil) {
		fail(FieldType, "type: %q does not match %q", s.Type, r.Type)
	}
	if why := nameMismatch(r.Name, &cr.name, req, s.Name); why != "" {
		fail(FieldName, "name: %s", why)
	}
	return c
}

// nameMismatch says why name does not match the rule's pattern g (written
// as pattern) for req, or returns "" when it matches.
func nameMismatch(pattern string, g *glob, req *Request, name string) string {
	ref, why := g.badVar(req)
	value, _ := ref.value(req)
	switch {
	case g.usesAccount && req.Account == "":
		return fmt.Sprintf("%q uses %s, which an anonymous request does not have", pattern, accountVar)
	case why == "missing" || why == "empty":
		return fmt.Sprintf("%q uses %s, which the request has no value for", pattern, ref)
	case why != "":
		return fmt.Sprintf("%q uses %s, whose value %q cannot be taken literally (%s)", pattern, ref, value, why)
	case g.match(name, req):
		return ""
	case g.usesAccount || len(g.vars) > 0:
		return fmt.Sprintf("%q does not match %q with %s", name, pattern, g.describeVars(req))
	}
	return fmt.Sprintf("%q does not match %q", name, pattern)
}

// describeVars lists the values the pattern's variables stood for, e.g.
// "${account} = alice, ${labels:team} = blue, ${claims:repository_owner} = acme".
func (g *glob) describeVars(req *Request) string {
	var parts []string
	if g.usesAccount {
		parts = append(parts, accountVar+" = "+req.Account)
	}
	for _, ref := range g.vars {
		value, _ := ref.value(req)
		parts = append(parts, ref.String()+" = "+value)
	}
	return strings.Join(parts, ", ")
}
