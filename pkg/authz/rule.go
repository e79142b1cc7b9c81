package authz

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Rule is one entry of the "acl" config list. The first rule that matches a
// request and scope decides which actions are granted on that scope.
type Rule struct {
	// Account is required: "" matches only anonymous clients; any other
	// value is a glob over signed-in account names ("*" = any signed-in
	// account, never anonymous).
	Account *string `mapstructure:"account"`
	// Group is a glob over the request's groups: "" = any caller, in a
	// group or not; otherwise the rule matches when one of the caller's
	// groups matches it ("*" = in some group).
	Group string `mapstructure:"group"`
	// Type is the resource type ("repository", "registry"): "" = any; glob.
	Type string `mapstructure:"type"`
	// Name is the resource name: "" = any; glob; may use ${account} and
	// ${labels:NAME}, each matched literally (see UnsafeLiteral).
	Name string `mapstructure:"name"`
	// Service is the token request's service parameter: "" = any; glob.
	Service string `mapstructure:"service"`
	// IP lists client addresses or CIDR prefixes, IPv4 or IPv6; empty = any.
	IP []string `mapstructure:"ip"`
	// Actions is required and non-empty; "*" grants every action.
	Actions []string `mapstructure:"actions"`
	// Comment is free text shown by explain.
	Comment string `mapstructure:"comment"`
}

// String returns the rule in a compact form for explain output and logs,
// e.g. `account=* type=repository name=${account}/* actions=pull,push`.
// Fields left at "any" are omitted; an anonymous account prints as "".
func (r Rule) String() string {
	var b strings.Builder
	switch {
	case r.Account == nil:
		b.WriteString("account=(missing)")
	case *r.Account == "":
		b.WriteString(`account=""`)
	default:
		b.WriteString("account=" + *r.Account)
	}
	writeField(&b, "group", r.Group)
	writeField(&b, "type", r.Type)
	writeField(&b, "name", r.Name)
	writeField(&b, "service", r.Service)
	writeField(&b, "ip", strings.Join(r.IP, ","))
	b.WriteString(" actions=" + strings.Join(r.Actions, ","))
	if r.Comment != "" {
		b.WriteString("  # " + r.Comment)
	}
	return b.String()
}

func writeField(b *strings.Builder, key, value string) {
	if value != "" {
		b.WriteString(" " + key + "=" + value)
	}
}

// ErrInvalidRule is matched (errors.Is) by every error [Compile] returns.
var ErrInvalidRule = errors.New("invalid ACL rule")

// RuleError is one problem with one field of one rule.
type RuleError struct {
	Field   string // config key as the user wrote it, e.g. "acl[2].ip[0]"
	Problem string
}

func (e *RuleError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap makes errors.Is(err, ErrInvalidRule) true.
func (e *RuleError) Unwrap() error { return ErrInvalidRule }

// compiledRule is a Rule with its patterns parsed and its prefixes resolved.
type compiledRule struct {
	anonymous  bool // Account == "": matches only the anonymous client
	account    glob
	group      glob
	anyGroup   bool // Group == "": the caller's groups do not matter
	typ        glob
	name       glob
	service    glob
	prefixes   []netip.Prefix
	allActions bool
	actions    []string
}

// ruleCompiler collects every problem of one rule instead of stopping at the first.
type ruleCompiler struct {
	index int
	errs  []error
}

func (c *ruleCompiler) fail(field, format string, args ...any) {
	c.errs = append(c.errs, &RuleError{
		Field:   fmt.Sprintf("acl[%d].%s", c.index, field),
		Problem: fmt.Sprintf(format, args...),
	})
}

func (c *ruleCompiler) compile(r Rule) compiledRule {
	var cr compiledRule
	c.compileAccount(r.Account, &cr)
	c.compileGroup(r.Group, &cr)
	if r.Type != "" && !validType(r.Type) {
		c.fail("type", "%q: use lower-case letters, digits, * and ?", r.Type)
	}
	cr.typ = c.glob("type", r.Type, false)
	cr.name = c.glob("name", r.Name, true)
	if cr.anonymous && cr.name.usesAccount {
		c.fail("name", "%s never matches anonymous clients (account is \"\")", accountVar)
	}
	cr.service = c.glob("service", r.Service, false)
	cr.prefixes = c.prefixes(r.IP)
	cr.allActions, cr.actions = c.actions(r.Actions)
	return cr
}

func (c *ruleCompiler) compileAccount(account *string, cr *compiledRule) {
	switch {
	case account == nil:
		c.fail("account", `missing: write "" for anonymous clients or "*" for any signed-in account`)
	case *account == "":
		cr.anonymous = true
	default:
		cr.account = c.glob("account", *account, false)
	}
}

// compileGroup compiles the group glob. Anonymous clients belong to no
// group, so a group on an anonymous rule would make it dead.
func (c *ruleCompiler) compileGroup(group string, cr *compiledRule) {
	cr.anyGroup = group == ""
	cr.group = c.glob("group", group, false)
	if cr.anonymous && !cr.anyGroup {
		c.fail("group", "%q never matches anonymous clients (account is \"\"), who belong to no group", group)
	}
}

func (c *ruleCompiler) glob(field, pattern string, allowVars bool) glob {
	g, err := parseGlob(pattern, allowVars)
	if err != nil {
		c.fail(field, "%v", err)
	}
	return g
}

func (c *ruleCompiler) prefixes(ips []string) []netip.Prefix {
	var out []netip.Prefix
	for j, s := range ips {
		p, err := parsePrefix(s)
		if err != nil {
			c.fail(fmt.Sprintf("ip[%d]", j), "%q: want an IP address or CIDR prefix", s)
			continue
		}
		out = append(out, p)
	}
	return out
}

// parsePrefix accepts "10.0.0.0/8", "10.0.0.1" (as /32), "2001:db8::/32" and
// "::1" (as /128). IPv4-mapped IPv6 prefixes are turned into IPv4 ones, so
// that they match the unmapped client addresses the ACL compares against.
func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zoned address")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func (c *ruleCompiler) actions(actions []string) (all bool, list []string) {
	if len(actions) == 0 {
		c.fail("actions", `missing: list the actions to grant, or "*" for all`)
	}
	for j, a := range actions {
		switch {
		case a == "*":
			all = true
		case !validAction(a):
			c.fail(fmt.Sprintf("actions[%d]", j), `%q: want "*" or a lower-case name like pull`, a)
		case !slices.Contains(list, a):
			list = append(list, a)
		}
	}
	return all, list
}

// validAction reports whether a matches ^[a-z][a-z0-9_-]*$.
func validAction(a string) bool {
	for i := 0; i < len(a); i++ {
		c := a[i]
		lower := 'a' <= c && c <= 'z'
		if !lower && (i == 0 || !('0' <= c && c <= '9' || c == '_' || c == '-')) {
			return false
		}
	}
	return a != ""
}

// validType reports whether t matches ^[a-z0-9*?]+$.
func validType(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '*' || c == '?') {
			return false
		}
	}
	return t != ""
}
