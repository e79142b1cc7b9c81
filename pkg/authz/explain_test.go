package authz

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/tollgate/tollgate/pkg/scope"
)

// explainRules cover every field Explain reports on.
func explainRules() []Rule {
	return append(exampleRules(),
		Rule{Account: str("ci-*"), Service: "registry.local", IP: []string{"10.0.0.0/8"}, Type: "repository", Name: "*", Actions: []string{"pull"}},
	)
}

func TestExplainReasons(t *testing.T) {
	ci := netip.MustParseAddr("10.1.2.3")
	outside := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name     string
		req      Request
		scope    scope.Scope
		rule     int
		mismatch Field
		reasons  []string
	}{
		{"matching rule", Request{Account: "alice"}, repo("alice/app", "pull"), 1, 0, nil},
		{"account glob", Request{Account: "alice"}, repo("alice/app", "pull"), 0, FieldAccount,
			[]string{`account: "alice" does not match "admin"`}},
		{"anonymous against signed-in rule", Request{}, repo("shared/x", "pull"), 2, FieldAccount,
			[]string{"account: the rule is for signed-in accounts; the request is anonymous"}},
		{"signed-in against anonymous rule", Request{Account: "alice"}, repo("public/x", "pull"), 3, FieldAccount,
			[]string{`account: the rule is for anonymous clients only; the request is signed in as "alice"`}},
		{"account variable", Request{Account: "alice"}, repo("bob/app", "pull"), 1, FieldName,
			[]string{`name: "bob/app" does not match "${account}/*" with ${account} = alice`}},
		{"account variable, anonymous", Request{}, repo("alice/app", "pull"), 1, FieldAccount | FieldName,
			[]string{"account: the rule is for signed-in accounts; the request is anonymous",
				`name: "${account}/*" uses ${account}, which an anonymous request does not have`}},
		{"plain name", Request{Account: "alice"}, repo("bob/app", "pull"), 2, FieldName,
			[]string{`name: "bob/app" does not match "shared/*"`}},
		{"type", Request{Account: "alice"}, scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}, 1,
			FieldType | FieldName, []string{`type: "registry" does not match "repository"`,
				`name: "catalog" does not match "${account}/*" with ${account} = alice`}},
		{"ci match", Request{Account: "ci-build", Service: "registry.local", ClientIP: ci}, repo("team/app", "pull"), 4, 0, nil},
		{"ip outside", Request{Account: "ci-build", Service: "registry.local", ClientIP: outside}, repo("team/app", "pull"), 4, FieldIP,
			[]string{"ip: client 192.0.2.1 is not in 10.0.0.0/8"}},
		{"ip unknown", Request{Account: "ci-build", Service: "registry.local"}, repo("team/app", "pull"), 4, FieldIP,
			[]string{"ip: the client address is unknown; the rule needs 10.0.0.0/8"}},
		{"service", Request{Account: "ci-build", Service: "mirror.local", ClientIP: ci}, repo("team/app", "pull"), 4, FieldService,
			[]string{`service: "mirror.local" does not match "registry.local"`}},
		{"no service", Request{Account: "ci-build", ClientIP: ci}, repo("team/app", "pull"), 4, FieldService,
			[]string{`service: the request names none; the rule needs "registry.local"`}},
		{"everything wrong", Request{Account: "alice", Service: "mirror.local", ClientIP: outside},
			scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}, 4,
			FieldAccount | FieldService | FieldIP | FieldType, []string{
				`account: "alice" does not match "ci-*"`,
				`service: "mirror.local" does not match "registry.local"`,
				"ip: client 192.0.2.1 is not in 10.0.0.0/8",
				`type: "registry" does not match "repository"`,
			}},
	}
	acl := mustCompile(t, explainRules())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := acl.Explain(tt.req, tt.scope)
			if len(e.Checks) != len(explainRules()) {
				t.Fatalf("%d checks, want one per rule (%d)", len(e.Checks), len(explainRules()))
			}
			c := e.Checks[tt.rule]
			if c.Rule != tt.rule || c.Mismatch != tt.mismatch || c.Matches() != (tt.mismatch == 0) {
				t.Errorf("check = rule %d mismatch %q matches %v, want rule %d mismatch %q", c.Rule, c.Mismatch, c.Matches(), tt.rule, tt.mismatch)
			}
			if !slices.Equal(c.Reasons, tt.reasons) {
				t.Errorf("reasons:\n got %q\nwant %q", c.Reasons, tt.reasons)
			}
		})
	}
}

// TestExplainAgreesWithDecide runs every combination of a few requests and
// scopes: the explanation must carry Decide's decision, and the first
// matching check must be the deciding rule.
func TestExplainAgreesWithDecide(t *testing.T) {
	acl := mustCompile(t, explainRules())
	var reqs []Request
	for _, account := range []string{"", "admin", "alice", "ci-build", "a*"} {
		for _, service := range []string{"", "registry.local"} {
			for _, ip := range []netip.Addr{{}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("192.0.2.1")} {
				for _, role := range []string{"", RoleRead} {
					reqs = append(reqs, Request{Account: account, Service: service, ClientIP: ip, Role: role})
				}
			}
		}
	}
	scopes := []scope.Scope{
		repo("alice/app", "pull", "push"), repo("a*/x", "pull"), repo("shared/x", "push", "pull"),
		repo("public/x", "pull"), repo("team/app", "*"), repo("alice", "pull"),
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
	}
	for _, req := range reqs {
		for _, s := range scopes {
			e, d := acl.Explain(req, s), acl.Decide(req, s)
			if e.Rule != d.Rule || !slices.Equal(e.Granted, d.Granted) || !slices.Equal(e.Dropped, d.Dropped) || !slices.Equal(e.Capped, d.Capped) {
				t.Errorf("%+v %v: Explain decided %+v, Decide %+v", req, s, e.Decision, d)
			}
			first := slices.IndexFunc(e.Checks, Check.Matches)
			if first != d.Rule {
				t.Errorf("%+v %v: first matching check is rule %d, Decide says %d", req, s, first, d.Rule)
			}
			for _, c := range e.Checks {
				if len(c.Reasons) != popcount(c.Mismatch) {
					t.Errorf("%+v %v rule %d: %d reasons for mismatch %q", req, s, c.Rule, len(c.Reasons), c.Mismatch)
				}
			}
		}
	}
}

func popcount(f Field) int {
	n := 0
	for ; f != 0; f &= f - 1 {
		n++
	}
	return n
}

func TestFieldString(t *testing.T) {
	tests := []struct {
		f    Field
		want string
	}{
		{0, ""},
		{FieldAccount, "account"},
		{FieldAccount | FieldName, "account,name"},
		{FieldGroup, "group"},
		{FieldAccount | FieldGroup | FieldService | FieldIP | FieldType | FieldName, "account,group,service,ip,type,name"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("Field(%d).String() = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestAuthorizeRules(t *testing.T) {
	acl := mustCompile(t, exampleRules())
	requested := []scope.Scope{
		repo("bob/app", "pull"),
		repo("shared/x", "push"),
		repo("alice/app", "push", "pull"),
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
	}
	req := Request{Account: "alice"}
	rules := []int{9, 9, 9, 9, 9}
	got := acl.AuthorizeRules(req, requested, rules)
	if want := acl.Authorize(req, requested); !equalScopes(got, want) {
		t.Errorf("AuthorizeRules granted %+v, Authorize %+v", got, want)
	}
	// shared/x is decided by rule 2 even though it grants nothing asked.
	if want := []int{-1, 2, 1, -1, 9}; !slices.Equal(rules, want) {
		t.Errorf("rules = %v, want %v (the extra element untouched)", rules, want)
	}
	for k, s := range requested {
		if d := acl.Decide(req, s); d.Rule != rules[k] {
			t.Errorf("%v: AuthorizeRules says rule %d, Decide %d", s, rules[k], d.Rule)
		}
	}
}

func BenchmarkAuthorizeRules(b *testing.B) {
	acl := mustCompile(b, exampleRules())
	req := Request{Account: "alice", Service: "registry.example.com", ClientIP: netip.MustParseAddr("10.0.0.7")}
	requested := []scope.Scope{repo("alice/app", "pull", "push"), repo("shared/base", "pull")}
	rules := make([]int, len(requested))
	b.ReportAllocs()
	for b.Loop() {
		if got := acl.AuthorizeRules(req, requested, rules); len(got) != 2 || rules[0] != 1 {
			b.Fatalf("AuthorizeRules = %+v, rules %v", got, rules)
		}
	}
}

func TestExplainActions(t *testing.T) {
	catalog := scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}
	tests := []struct {
		name    string
		req     Request
		scope   scope.Scope
		granted []bool
		reasons []string
	}{
		{"no rule", Request{Account: "bob"}, repo("carol/app", "pull"), []bool{false},
			[]string{"dropped: no rule matched (default deny)"}},
		{"granted and not listed", Request{Account: "alice"}, repo("alice/app", "pull", "tag"), []bool{true, false},
			[]string{"granted by rule 1", "dropped: not in rule 1's actions (push,pull,delete)"}},
		{"wildcard against list", Request{Account: "alice"}, repo("alice/app", "*"), []bool{false},
			[]string{"rule 1 lists its actions, so * stands for push,pull,delete"}},
		{"role drops an action", Request{Account: "alice", Role: RoleRead}, repo("alice/app", "pull", "push"), []bool{true, false},
			[]string{"granted by rule 1", "granted by rule 1, then dropped: the read role allows only pull"}},
		{"role narrows a wildcard list", Request{Account: "alice", Role: RoleWrite}, repo("alice/app", "*"), []bool{false},
			[]string{"rule 1 lists its actions, so * stands for push,pull,delete, narrowed by the write role to push,pull"}},
		{"role narrows a granted wildcard", Request{Account: "admin", Role: RoleRead}, repo("x/y", "*"), []bool{false},
			[]string{"granted by rule 0, narrowed by the read role to pull"}},
		{"role drops another type", Request{Account: "admin", Role: RoleWrite}, catalog, []bool{false},
			[]string{"granted by rule 0, then dropped: the write role allows only repository scopes, not registry"}},
		{"unknown role", Request{Account: "alice", Role: "root"}, repo("alice/app", "pull"), []bool{false},
			[]string{`granted by rule 1, then dropped: the role "root" is unknown and allows nothing`}},
		{"admin role keeps everything", Request{Account: "admin", Role: RoleAdmin}, catalog, []bool{true},
			[]string{"granted by rule 0"}},
	}
	acl := mustCompile(t, roleRules())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := acl.Explain(tt.req, tt.scope)
			var granted []bool
			var reasons []string
			for k, ar := range e.Actions {
				if ar.Action != tt.scope.Actions[k] {
					t.Errorf("Actions[%d] is about %q, want %q", k, ar.Action, tt.scope.Actions[k])
				}
				granted = append(granted, ar.Granted)
				reasons = append(reasons, ar.Reason)
			}
			if !slices.Equal(granted, tt.granted) || !slices.Equal(reasons, tt.reasons) {
				t.Errorf("actions granted %v reasons\n %q\nwant %v\n %q", granted, reasons, tt.granted, tt.reasons)
			}
			if d := acl.Decide(tt.req, tt.scope); !slices.Equal(d.Granted, e.Granted) || !slices.Equal(d.Capped, e.Capped) {
				t.Errorf("Explain decided %+v, Decide %+v", e.Decision, d)
			}
		})
	}
}
