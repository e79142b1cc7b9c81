package authz

import (
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/pkg/scope"
)

// Field is a set of the parts of a rule compared with a request and scope.
type Field uint8

// The fields of a rule, in the order Explain reports them.
const (
	FieldAccount Field = 1 << iota
	FieldService
	FieldIP
	FieldType
	FieldName
)

var fieldNames = [...]string{"account", "service", "ip", "type", "name"}

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

// Explanation is a Decision together with how every rule compared.
type Explanation struct {
	Decision
	Checks []Check // one per rule, in rule order
}

// Explain decides s for req exactly as Decide does and also reports, for
// every rule, whether it matches and why not, so an operator can see why a
// request was denied (tollgate acl explain). It is not meant for the request
// path: it allocates freely and never short-circuits.
func (a *ACL) Explain(req Request, s scope.Scope) Explanation {
	e := Explanation{Decision: a.Decide(req, s), Checks: make([]Check, len(a.compiled))}
	for i := range a.compiled {
		e.Checks[i] = a.check(i, &req, &s)
	}
	return e
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
	if !cr.service.match(req.Service, "") {
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
	if !cr.typ.match(s.Type, "") {
		fail(FieldType, "type: %q does not match %q", s.Type, r.Type)
	}
	switch {
	case cr.name.usesAccount && req.Account == "":
		fail(FieldName, "name: %q uses %s, which an anonymous request does not have", r.Name, accountVar)
	case !cr.name.match(s.Name, req.Account) && cr.name.usesAccount:
		fail(FieldName, "name: %q does not match %q with %s = %s", s.Name, r.Name, accountVar, req.Account)
	case !cr.name.match(s.Name, req.Account):
		fail(FieldName, "name: %q does not match %q", s.Name, r.Name)
	}
	return c
}
