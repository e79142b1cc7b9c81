package authz

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/scope"
)

func str(s string) *string { return &s }

// exampleRules is the ACL from the documented example config.
func exampleRules() []Rule {
	return []Rule{
		{Account: str("admin"), Actions: []string{"*"}},
		{Account: str("*"), Type: "repository", Name: "${account}/*", Actions: []string{"pull", "push"}},
		{Account: str("*"), Type: "repository", Name: "shared/*", Actions: []string{"pull"}},
		{Account: str(""), Type: "repository", Name: "public/*", Actions: []string{"pull"}},
	}
}

func mustCompile(t testing.TB, rules []Rule) *ACL {
	t.Helper()
	acl, err := Compile(rules)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return acl
}

func repo(name string, actions ...string) scope.Scope {
	return scope.Scope{Type: "repository", Name: name, Actions: actions}
}

// grantedActions authorizes one scope and returns its granted actions, nil if omitted.
func grantedActions(t *testing.T, acl *ACL, req Request, s scope.Scope) []string {
	t.Helper()
	got := acl.Authorize(req, []scope.Scope{s})
	switch len(got) {
	case 0:
		return nil
	case 1:
		if got[0].Type != s.Type || got[0].Class != s.Class || got[0].Name != s.Name {
			t.Fatalf("granted scope %+v, want resource of %+v", got[0], s)
		}
		return got[0].Actions
	default:
		t.Fatalf("Authorize returned %d scopes for 1 requested: %+v", len(got), got)
		return nil
	}
}

func TestAuthorizeExampleRules(t *testing.T) {
	tests := []struct {
		name    string
		account string
		scope   scope.Scope
		want    []string // nil: scope omitted
	}{
		{"admin repository", "admin", repo("alice/app", "pull", "push"), []string{"pull", "push"}},
		{"admin catalog", "admin", scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}, []string{"*"}},
		{"admin any action", "admin", repo("x/y", "delete"), []string{"delete"}},
		{"alice own repo", "alice", repo("alice/app", "pull", "push"), []string{"pull", "push"}},
		{"alice own repo request order", "alice", repo("alice/app", "push", "pull"), []string{"push", "pull"}},
		{"alice nested repo", "alice", repo("alice/team/app", "push"), []string{"push"}},
		{"alice shared pull only", "alice", repo("shared/x", "pull", "push"), []string{"pull"}},
		{"alice other user", "alice", repo("bob/app", "pull"), nil},
		{"alice prefix is not own namespace", "alice", repo("alicex/app", "pull"), nil},
		{"alice bare name", "alice", repo("alice", "pull"), nil},
		{"alice not catalog", "alice", scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}, nil},
		{"alice public is anonymous only", "alice", repo("public/x", "pull"), nil},
		{"alice wildcard request", "alice", repo("alice/app", "*"), []string{"pull", "push"}},
		{"alice unknown action dropped", "alice", repo("alice/app", "delete", "pull"), []string{"pull"}},
		{"anonymous public pull", "", repo("public/x", "pull"), []string{"pull"}},
		{"anonymous public push", "", repo("public/x", "push"), nil},
		{"anonymous shared", "", repo("shared/x", "pull"), nil},
		{"anonymous user repo", "", repo("alice/x", "pull"), nil},
		{"anonymous empty namespace", "", repo("/x", "pull"), nil},
		{"account with star is literal", "a*", repo("ab/x", "pull"), nil},
		{"account with question mark is literal", "a?", repo("ab/x", "pull"), nil},
		{"account with star own repo", "a*", repo("a*/x", "pull"), []string{"pull"}},
	}
	acl := mustCompile(t, exampleRules())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := grantedActions(t, acl, Request{Account: tt.account}, tt.scope)
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("granted %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFirstMatchWins(t *testing.T) {
	rules := []Rule{
		{Account: str("*"), Name: "alice/secret", Actions: []string{"pull"}},
		{Account: str("*"), Name: "${account}/*", Actions: []string{"pull", "push"}},
	}
	tests := []struct {
		name      string
		scope     scope.Scope
		wantRule  int
		wantGrant []string
	}{
		{"narrow rule decides", repo("alice/secret", "pull", "push"), 0, []string{"pull"}},
		{"narrow rule decides even when it grants nothing asked", repo("alice/secret", "push"), 0, nil},
		{"broad rule for the rest", repo("alice/app", "pull", "push"), 1, []string{"pull", "push"}},
	}
	acl := mustCompile(t, rules)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := acl.Decide(Request{Account: "alice"}, tt.scope)
			if d.Rule != tt.wantRule || !slices.Equal(d.Granted, tt.wantGrant) {
				t.Errorf("Decide = rule %d granted %q, want rule %d granted %q", d.Rule, d.Granted, tt.wantRule, tt.wantGrant)
			}
			if got := grantedActions(t, acl, Request{Account: "alice"}, tt.scope); !slices.Equal(got, tt.wantGrant) {
				t.Errorf("Authorize granted %q, want %q", got, tt.wantGrant)
			}
		})
	}
}

func TestServiceGlob(t *testing.T) {
	rules := []Rule{{Account: str("*"), Service: "registry.*.example.com", Actions: []string{"pull"}}}
	tests := []struct {
		service string
		want    bool
	}{
		{"registry.eu.example.com", true},
		{"registry.eu.west.example.com", true},
		{"registry.example.com", false},
		{"other.example.com", false},
		{"", false},
	}
	acl := mustCompile(t, rules)
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			got := grantedActions(t, acl, Request{Account: "alice", Service: tt.service}, repo("x/y", "pull"))
			if (got != nil) != tt.want {
				t.Errorf("granted %q, want granted=%v", got, tt.want)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name   string
		ip     []string
		client netip.Addr
		want   bool
	}{
		{"no ip rule, unknown client", nil, netip.Addr{}, true},
		{"ipv4 cidr inside", []string{"10.0.0.0/8"}, netip.MustParseAddr("10.1.2.3"), true},
		{"ipv4 cidr outside", []string{"10.0.0.0/8"}, netip.MustParseAddr("11.0.0.1"), false},
		{"ipv4 single address", []string{"192.168.1.5"}, netip.MustParseAddr("192.168.1.5"), true},
		{"ipv4 single address neighbour", []string{"192.168.1.5"}, netip.MustParseAddr("192.168.1.6"), false},
		{"second entry matches", []string{"10.0.0.0/8", "172.16.0.0/12"}, netip.MustParseAddr("172.20.0.1"), true},
		{"ipv6 cidr inside", []string{"2001:db8::/32"}, netip.MustParseAddr("2001:db8:1::1"), true},
		{"ipv6 cidr outside", []string{"2001:db8::/32"}, netip.MustParseAddr("2001:db9::1"), false},
		{"ipv6 single address", []string{"::1"}, netip.MustParseAddr("::1"), true},
		{"ipv6 client with zone", []string{"fe80::/10"}, netip.MustParseAddr("fe80::1%eth0"), true},
		{"mapped client, ipv4 prefix", []string{"10.0.0.0/8"}, netip.MustParseAddr("::ffff:10.0.0.1"), true},
		{"mapped client outside ipv4 prefix", []string{"10.0.0.0/8"}, netip.MustParseAddr("::ffff:11.0.0.1"), false},
		{"ipv4 client, mapped prefix", []string{"::ffff:10.0.0.0/104"}, netip.MustParseAddr("10.0.0.1"), true},
		{"ipv4 client, ipv6 prefix", []string{"2001:db8::/32"}, netip.MustParseAddr("10.0.0.1"), false},
		{"unknown client, ip rule", []string{"0.0.0.0/0", "::/0"}, netip.Addr{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acl := mustCompile(t, []Rule{{Account: str("*"), IP: tt.ip, Actions: []string{"pull"}}})
			got := grantedActions(t, acl, Request{Account: "alice", ClientIP: tt.client}, repo("x/y", "pull"))
			if (got != nil) != tt.want {
				t.Errorf("client %v against %q: granted %q, want granted=%v", tt.client, tt.ip, got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		account string
		scope   scope.Scope
		want    Decision
	}{
		{"no rule matches", "alice", repo("bob/app", "pull", "push"),
			Decision{Rule: -1, Dropped: []string{"pull", "push"}}},
		{"push dropped", "alice", repo("shared/x", "pull", "push"),
			Decision{Rule: 2, Granted: []string{"pull"}, Dropped: []string{"push"}}},
		{"unknown action dropped", "alice", repo("alice/app", "pull", "delete"),
			Decision{Rule: 1, Granted: []string{"pull"}, Dropped: []string{"delete"}}},
		{"wildcard against list", "alice", repo("alice/app", "*"),
			Decision{Rule: 1, Granted: []string{"pull", "push"}, Dropped: []string{"*"}}},
		{"wildcard after explicit action", "alice", repo("alice/app", "push", "*"),
			Decision{Rule: 1, Granted: []string{"push", "pull"}, Dropped: []string{"*"}}},
		{"wildcard against wildcard", "admin", scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}},
			Decision{Rule: 0, Granted: []string{"*"}}},
		{"anonymous", "", repo("public/x", "pull"),
			Decision{Rule: 3, Granted: []string{"pull"}}},
	}
	acl := mustCompile(t, exampleRules())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := acl.Decide(Request{Account: tt.account}, tt.scope)
			if got.Rule != tt.want.Rule || !slices.Equal(got.Granted, tt.want.Granted) || !slices.Equal(got.Dropped, tt.want.Dropped) {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAuthorizeOmitsDeniedAndKeepsOrder(t *testing.T) {
	acl := mustCompile(t, exampleRules())
	requested := []scope.Scope{
		repo("bob/app", "pull"),
		repo("shared/x", "pull", "push"),
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
		repo("alice/app", "push", "pull"),
	}
	want := []scope.Scope{repo("shared/x", "pull"), repo("alice/app", "push", "pull")}

	got := acl.Authorize(Request{Account: "alice"}, requested)
	if !equalScopes(got, want) {
		t.Fatalf("Authorize = %+v, want %+v", got, want)
	}
	if !slices.Equal(requested[1].Actions, []string{"pull", "push"}) {
		t.Errorf("Authorize modified the request: %+v", requested[1])
	}
	// Granted lists share one backing array; appending to one must not
	// overwrite the next.
	_ = append(got[0].Actions, "overwritten")
	if !slices.Equal(got[1].Actions, []string{"push", "pull"}) {
		t.Errorf("append to got[0].Actions changed got[1].Actions to %q", got[1].Actions)
	}
}

func TestAuthorizeNothingGranted(t *testing.T) {
	acl := mustCompile(t, exampleRules())
	tests := []struct {
		name      string
		account   string
		requested []scope.Scope
	}{
		{"no scopes", "alice", nil},
		{"all denied", "", []scope.Scope{repo("alice/app", "pull"), repo("shared/x", "pull")}},
		{"no requested actions", "alice", []scope.Scope{repo("alice/app")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acl.Authorize(Request{Account: tt.account}, tt.requested); len(got) != 0 {
				t.Errorf("Authorize = %+v, want nothing", got)
			}
		})
	}
}

func TestEmptyACLDeniesEverything(t *testing.T) {
	acl := mustCompile(t, nil)
	if d := acl.Decide(Request{Account: "admin"}, repo("x/y", "pull")); d.Rule != -1 || len(d.Granted) != 0 {
		t.Errorf("Decide = %+v, want no rule and nothing granted", d)
	}
}

func equalScopes(a, b []scope.Scope) bool {
	return slices.EqualFunc(a, b, func(x, y scope.Scope) bool {
		return x.Type == y.Type && x.Class == y.Class && x.Name == y.Name && slices.Equal(x.Actions, y.Actions)
	})
}

// ruleErrorFields returns the Field of every *RuleError joined in err.
func ruleErrorFields(t *testing.T, err error) []string {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v is not a joined error", err)
	}
	var fields []string
	for _, e := range joined.Unwrap() {
		var re *RuleError
		if !errors.As(e, &re) {
			t.Fatalf("error %v is not a *RuleError", e)
		}
		if !errors.Is(e, ErrInvalidRule) {
			t.Errorf("errors.Is(%v, ErrInvalidRule) = false", e)
		}
		fields = append(fields, re.Field)
	}
	return fields
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name       string
		rules      []Rule
		wantFields []string
		wantText   string // substring of the error message; "" = not checked
	}{
		{
			name: "every problem at once",
			rules: []Rule{
				{Name: "x/*"},
				{Account: str("*"), Actions: []string{"pull"}},
				{Account: str("*"), Type: "Repo!", Name: "${user}/x", IP: []string{"10.0.0.0/33", "nope", "10.0.0.1"}, Actions: []string{"pull", "Push"}},
			},
			wantFields: []string{"acl[0].account", "acl[0].actions", "acl[2].type", "acl[2].name", "acl[2].ip[0]", "acl[2].ip[1]", "acl[2].actions[1]"},
		},
		{"account missing", []Rule{{Actions: []string{"pull"}}}, []string{"acl[0].account"}, `write "" for anonymous clients or "*" for any signed-in account`},
		{"actions nil", []Rule{{Account: str("*")}}, []string{"acl[0].actions"}, ""},
		{"actions empty", []Rule{{Account: str("*"), Actions: []string{}}}, []string{"acl[0].actions"}, ""},
		{"action empty string", []Rule{{Account: str("*"), Actions: []string{""}}}, []string{"acl[0].actions[0]"}, ""},
		{"action starts with digit", []Rule{{Account: str("*"), Actions: []string{"pull", "1pull"}}}, []string{"acl[0].actions[1]"}, ""},
		{"action with space", []Rule{{Account: str("*"), Actions: []string{"pull push"}}}, []string{"acl[0].actions[0]"}, ""},
		{"type with slash", []Rule{{Account: str("*"), Type: "repo/x", Actions: []string{"pull"}}}, []string{"acl[0].type"}, ""},
		{"unknown variable", []Rule{{Account: str("*"), Name: "${user}/*", Actions: []string{"pull"}}}, []string{"acl[0].name"}, "unknown variable ${user}"},
		{"unterminated variable", []Rule{{Account: str("*"), Name: "${account/*", Actions: []string{"pull"}}}, []string{"acl[0].name"}, "unterminated"},
		{"variable in service", []Rule{{Account: str("*"), Service: "${account}", Actions: []string{"pull"}}}, []string{"acl[0].service"}, "only allowed in name"},
		{"variable in account", []Rule{{Account: str("${account}"), Actions: []string{"pull"}}}, []string{"acl[0].account"}, "only allowed in name"},
		{"account variable for anonymous", []Rule{{Account: str(""), Name: "${account}/*", Actions: []string{"pull"}}}, []string{"acl[0].name"}, "never matches anonymous"},
		{"ip with zone", []Rule{{Account: str("*"), IP: []string{"fe80::1%eth0"}, Actions: []string{"pull"}}}, []string{"acl[0].ip[0]"}, ""},
		{"ip hostname", []Rule{{Account: str("*"), IP: []string{"localhost"}, Actions: []string{"pull"}}}, []string{"acl[0].ip[0]"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acl, err := Compile(tt.rules)
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("Compile error = %v, want ErrInvalidRule", err)
			}
			if acl != nil {
				t.Errorf("Compile returned an ACL along with an error")
			}
			if got := ruleErrorFields(t, err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("error fields = %q, want %q\nerror: %v", got, tt.wantFields, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
		})
	}
}

func TestCompileValid(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
	}{
		{"example", exampleRules()},
		{"type glob", []Rule{{Account: str("*"), Type: "repo?itory*", Actions: []string{"pull"}}}},
		{"action characters", []Rule{{Account: str("*"), Actions: []string{"x_y-1", "pull"}}}},
		{"wildcard among actions", []Rule{{Account: str("*"), Actions: []string{"pull", "*"}}}},
		{"ip forms", []Rule{{Account: str("*"), IP: []string{"10.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32", "::ffff:10.0.0.0/104"}, Actions: []string{"pull"}}}},
		{"dollar without brace is literal", []Rule{{Account: str("*"), Name: "a$b", Actions: []string{"pull"}}}},
		{"account glob", []Rule{{Account: str("ci-*"), Name: "${account}", Actions: []string{"pull"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Compile(tt.rules); err != nil {
				t.Errorf("Compile: %v", err)
			}
		})
	}
}

func TestAccountPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		account string
		want    bool
	}{
		{"*", "alice", true},
		{"*", "", false},
		{"", "", true},
		{"", "alice", false},
		{"alice", "alice", true},
		{"alice", "alicex", false},
		{"ci-*", "ci-build", true},
		{"ci-*", "cd-build", false},
		{"?", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.account, func(t *testing.T) {
			acl := mustCompile(t, []Rule{{Account: str(tt.pattern), Actions: []string{"pull"}}})
			d := acl.Decide(Request{Account: tt.account}, repo("x/y", "pull"))
			if got := d.Rule == 0; got != tt.want {
				t.Errorf("account pattern %q vs %q: matched=%v, want %v", tt.pattern, tt.account, got, tt.want)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern string
		s       string
		account string
		want    bool
	}{
		{"", "anything/at/all", "", true},
		{"alice/*", "alice/team/app", "", true},
		{"alice/*", "alice/", "", true},
		{"alice/*", "alice", "", false},
		{"*/app", "x/y/app", "", true},
		{"*/app", "x/y/apps", "", false},
		{"a?c", "abc", "", true},
		{"a?c", "ac", "", false},
		{"a?c", "a/c", "", true},
		{"?", "é", "", true},
		{"??", "é", "", false},
		{"a*b*c", "axxbyyc", "", true},
		{"a*b*c", "axxbyy", "", false},
		{"a**c", "abc", "", true},
		{"*a*", "bab", "", true},
		{"*", "", "", true},
		{"abc", "abcd", "", false},
		{"abc", "ab", "", false},
		{"${account}/*", "alice/app", "alice", true},
		{"${account}/*", "bob/app", "alice", false},
		{"${account}/*", "ab/x", "a*", false},
		{"${account}/*", "a*/x", "a*", true},
		{"${account}/*", "ab/x", "a?", false},
		{"team/${account}", "team/alice", "alice", true},
		{"team/${account}", "team/alice2", "alice", false},
		{"*/${account}", "x/y/alice", "alice", true},
		{"*-${account}-*", "a-bob-b-alice-c", "alice", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.s, func(t *testing.T) {
			g, err := parseGlob(tt.pattern, true)
			if err != nil {
				t.Fatalf("parseGlob(%q): %v", tt.pattern, err)
			}
			if got := g.match(tt.s, &Request{Account: tt.account}); got != tt.want {
				t.Errorf("%q matches %q (account %q) = %v, want %v", tt.pattern, tt.s, tt.account, got, tt.want)
			}
		})
	}
}

func TestRuleString(t *testing.T) {
	tests := []struct {
		rule Rule
		want string
	}{
		{exampleRules()[0], "account=admin actions=*"},
		{exampleRules()[1], "account=* type=repository name=${account}/* actions=pull,push"},
		{exampleRules()[3], `account="" type=repository name=public/* actions=pull`},
		{Rule{Account: str("ci"), Service: "reg", IP: []string{"10.0.0.0/8", "::1"}, Actions: []string{"pull"}, Comment: "CI runners"},
			"account=ci service=reg ip=10.0.0.0/8,::1 actions=pull  # CI runners"},
		{Rule{Actions: []string{"pull"}}, "account=(missing) actions=pull"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.rule.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRulesReturnsCopy(t *testing.T) {
	rules := exampleRules()
	acl := mustCompile(t, rules)
	*rules[0].Account = "mallory" // the caller's slice must not reach the ACL

	got := acl.Rules()
	got[1].Actions[0] = "changed"
	*got[1].Account = "changed"

	again := acl.Rules()
	if *again[0].Account != "admin" || again[1].Actions[0] != "pull" || *again[1].Account != "*" {
		t.Errorf("Rules() exposed internal state: %v", again)
	}
}

func BenchmarkAuthorize(b *testing.B) {
	acl := mustCompile(b, exampleRules())
	req := Request{Account: "alice", Service: "registry.example.com", ClientIP: netip.MustParseAddr("10.0.0.7")}
	// docker push alice/app with a blob mounted from shared/base.
	requested := []scope.Scope{repo("alice/app", "pull", "push"), repo("shared/base", "pull")}
	b.ReportAllocs()
	for b.Loop() {
		if got := acl.Authorize(req, requested); len(got) != 2 {
			b.Fatalf("Authorize = %+v", got)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	acl := mustCompile(b, exampleRules())
	req := Request{Account: "alice"}
	s := repo("alice/team/app", "pull", "push")
	b.ReportAllocs()
	for b.Loop() {
		if d := acl.Decide(req, s); d.Rule != 1 {
			b.Fatalf("Decide = %+v", d)
		}
	}
}
