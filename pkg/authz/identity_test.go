package authz

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/scope"
)

// identityRules use groups and labels: ops may push anything under ops/,
// any "team-*" group member pulls shared/, and a caller with a team label
// owns that team's repositories and its own corner of them.
func identityRules() []Rule {
	return []Rule{
		{Account: str("*"), Group: "ops", Type: "repository", Name: "ops/*", Actions: []string{"pull", "push"}},
		{Account: str("*"), Group: "team-*", Type: "repository", Name: "shared/*", Actions: []string{"pull"}},
		{Account: str("*"), Type: "repository", Name: "teams/${labels:team}/*", Actions: []string{"pull", "push"}},
		{Account: str("*"), Type: "repository", Name: "${labels:team}/${account}/*", Actions: []string{"push"}},
		{Account: str("*"), Type: "repository", Name: "${labels:team}-${labels:env}", Actions: []string{"pull"}},
	}
}

func TestGroupsAndLabels(t *testing.T) {
	blue := map[string]string{"team": "blue"}
	tests := []struct {
		name   string
		req    Request
		scope  string // repository name
		rule   int
		action string // granted; "" = nothing
	}{
		{"group matches", Request{Account: "alice", Groups: []string{"dev", "ops"}}, "ops/app", 0, "push"},
		{"group case matters", Request{Account: "alice", Groups: []string{"Ops"}}, "ops/app", -1, ""},
		{"no groups", Request{Account: "alice"}, "ops/app", -1, ""},
		{"group glob", Request{Account: "alice", Groups: []string{"team-blue"}}, "shared/x", 1, "pull"},
		{"group glob needs a group", Request{Account: "alice", Groups: []string{"team"}}, "shared/x", -1, ""},
		{"group is not an account", Request{Account: "ops"}, "ops/app", -1, ""},
		{"label", Request{Account: "alice", Labels: blue}, "teams/blue/app", 2, "push"},
		{"other team's label", Request{Account: "alice", Labels: map[string]string{"team": "red"}}, "teams/blue/app", -1, ""},
		{"label prefix is not the team", Request{Account: "alice", Labels: map[string]string{"team": "blu"}}, "teams/blue/app", -1, ""},
		{"label and account", Request{Account: "alice", Labels: blue}, "blue/alice/app", 3, "push"},
		{"label and another account", Request{Account: "bob", Labels: blue}, "blue/alice/app", -1, ""},
		{"two labels", Request{Account: "alice", Labels: map[string]string{"team": "blue", "env": "prod"}}, "blue-prod", 4, "pull"},
		{"one of two labels missing", Request{Account: "alice", Labels: blue}, "blue-", -1, ""},
		{"label missing", Request{Account: "alice"}, "teams//app", -1, ""},
		{"label empty", Request{Account: "alice", Labels: map[string]string{"team": ""}}, "teams//app", -1, ""},
		{"other label", Request{Account: "alice", Labels: map[string]string{"group": "blue"}}, "teams/blue/app", -1, ""},
		// Injection: a value is never a pattern, and a value that could
		// reach another namespace makes the rule not match at all.
		{"value a/* reaching deeper", Request{Account: "alice", Labels: map[string]string{"team": "a/*"}}, "teams/a/b/app", -1, ""},
		{"value a/* literally", Request{Account: "alice", Labels: map[string]string{"team": "a/*"}}, "teams/a/*/app", -1, ""},
		{"value *", Request{Account: "alice", Labels: map[string]string{"team": "*"}}, "teams/red/app", -1, ""},
		{"value * literally", Request{Account: "alice", Labels: map[string]string{"team": "*"}}, "teams/*/app", -1, ""},
		{"value ?", Request{Account: "alice", Labels: map[string]string{"team": "???"}}, "teams/red/app", -1, ""},
		{"value ..", Request{Account: "alice", Labels: map[string]string{"team": ".."}}, "teams/../app", -1, ""},
		{"value with slash", Request{Account: "alice", Labels: map[string]string{"team": "blue/x"}}, "teams/blue/x/app", -1, ""},
		{"value with bracket", Request{Account: "alice", Labels: map[string]string{"team": "[a-z]"}}, "teams/[a-z]/app", -1, ""},
		{"value with space", Request{Account: "alice", Labels: map[string]string{"team": "blue green"}}, "teams/blue green/app", -1, ""},
		{"value with newline", Request{Account: "alice", Labels: map[string]string{"team": "blue\n"}}, "teams/blue\n/app", -1, ""},
		{"unsafe value, safe other", Request{Account: "alice", Labels: map[string]string{"team": "blue", "env": "*"}}, "blue-prod", -1, ""},
	}
	acl := mustCompile(t, identityRules())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := repo(tt.scope, "pull", "push")
			d := acl.Decide(tt.req, s)
			if d.Rule != tt.rule {
				t.Errorf("Decide rule = %d, want %d (%+v)", d.Rule, tt.rule, d)
			}
			if tt.action != "" && !slices.Contains(d.Granted, tt.action) || tt.action == "" && len(d.Granted) > 0 {
				t.Errorf("Decide granted %q, want %q", d.Granted, tt.action)
			}
			e := acl.Explain(tt.req, s)
			if first := slices.IndexFunc(e.Checks, Check.Matches); first != d.Rule || e.Rule != d.Rule {
				t.Errorf("Explain: first matching check %d, decision %d; Decide says %d", first, e.Rule, d.Rule)
			}
			for _, c := range e.Checks {
				if len(c.Reasons) != popcount(c.Mismatch) {
					t.Errorf("rule %d: reasons %q for mismatch %q", c.Rule, c.Reasons, c.Mismatch)
				}
			}
		})
	}
}

func TestUnsafeLiteral(t *testing.T) {
	tests := []struct {
		value string
		want  string // substring of the reason; "" = safe
	}{
		{"blue", ""},
		{"team-1.x_y", ""},
		{"ünïcode", ""},
		{"a/b", "'/'"},
		{"a*", "glob"},
		{"a?", "glob"},
		{"[ab]", "glob"},
		{"..", "'..'"},
		{"a..b", "'..'"},
		{"a b", "white space"},
		{"a\tb", "white space"},
		{"a\x00b", "control"},
		{"a\x7fb", "control"},
	}
	for _, tt := range tests {
		got := UnsafeLiteral(tt.value)
		if (got == "") != (tt.want == "") || !strings.Contains(got, tt.want) {
			t.Errorf("UnsafeLiteral(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestExplainGroupsAndLabels(t *testing.T) {
	tests := []struct {
		name     string
		req      Request
		scope    string
		rule     int
		mismatch Field
		reasons  []string
	}{
		{"no groups", Request{Account: "alice"}, "ops/app", 0, FieldGroup,
			[]string{`group: the rule needs a group matching "ops"; the request has none`}},
		{"other groups", Request{Account: "alice", Groups: []string{"dev", "qa"}}, "ops/app", 0, FieldGroup,
			[]string{`group: none of dev, qa matches "ops"`}},
		{"label missing", Request{Account: "alice"}, "teams/blue/app", 2, FieldName,
			[]string{`name: "teams/${labels:team}/*" uses ${labels:team}, which the request has no value for`}},
		{"label empty", Request{Account: "alice", Labels: map[string]string{"team": ""}}, "teams/blue/app", 2, FieldName,
			[]string{`name: "teams/${labels:team}/*" uses ${labels:team}, which the request has no value for`}},
		{"label unsafe", Request{Account: "alice", Labels: map[string]string{"team": "a/*"}}, "teams/a/b", 2, FieldName,
			[]string{`name: "teams/${labels:team}/*" uses ${labels:team}, whose value "a/*" cannot be taken literally (contains '/')`}},
		{"label mismatch", Request{Account: "alice", Labels: map[string]string{"team": "red"}}, "teams/blue/app", 2, FieldName,
			[]string{`name: "teams/blue/app" does not match "teams/${labels:team}/*" with ${labels:team} = red`}},
		{"label and account mismatch", Request{Account: "bob", Labels: map[string]string{"team": "blue"}}, "blue/alice/app", 3, FieldName,
			[]string{`name: "blue/alice/app" does not match "${labels:team}/${account}/*" with ${account} = bob, ${labels:team} = blue`}},
		{"group and label", Request{Account: "alice", Groups: []string{"dev"}, Labels: map[string]string{"team": "red"}}, "ops/app", 0, FieldGroup,
			[]string{`group: none of dev matches "ops"`}},
	}
	acl := mustCompile(t, identityRules())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := acl.Explain(tt.req, repo(tt.scope, "pull")).Checks[tt.rule]
			if c.Mismatch != tt.mismatch || !slices.Equal(c.Reasons, tt.reasons) {
				t.Errorf("check = mismatch %q reasons\n %q\nwant mismatch %q\n %q", c.Mismatch, c.Reasons, tt.mismatch, tt.reasons)
			}
		})
	}
}

func TestCompileGroupsAndLabels(t *testing.T) {
	tests := []struct {
		name      string
		rule      Rule
		wantField string // "" = valid
		wantText  string
	}{
		{"group glob", Rule{Account: str("*"), Group: "team-*", Actions: []string{"pull"}}, "", ""},
		{"label", Rule{Account: str("*"), Name: "${labels:team}/*", Actions: []string{"pull"}}, "", ""},
		{"kubernetes label key", Rule{Account: str("*"), Name: "${labels:app.kubernetes.io/team}/*", Actions: []string{"pull"}}, "", ""},
		{"same label twice", Rule{Account: str("*"), Name: "${labels:team}/${labels:team}", Actions: []string{"pull"}}, "", ""},
		{"group for anonymous", Rule{Account: str(""), Group: "ops", Actions: []string{"pull"}}, "acl[0].group", "never matches anonymous"},
		{"variable in group", Rule{Account: str("*"), Group: "${account}", Actions: []string{"pull"}}, "acl[0].group", "only allowed in name"},
		{"label in service", Rule{Account: str("*"), Service: "${labels:team}", Actions: []string{"pull"}}, "acl[0].service", "only allowed in name"},
		{"label without name", Rule{Account: str("*"), Name: "${labels:}/*", Actions: []string{"pull"}}, "acl[0].name", "want a label name"},
		{"label name with space", Rule{Account: str("*"), Name: "${labels:a b}/*", Actions: []string{"pull"}}, "acl[0].name", "want a label name"},
		{"labels without colon", Rule{Account: str("*"), Name: "${labels}/*", Actions: []string{"pull"}}, "acl[0].name", "unknown variable ${labels}"},
		{"label unterminated", Rule{Account: str("*"), Name: "${labels:team/*", Actions: []string{"pull"}}, "acl[0].name", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]Rule{tt.rule})
			if tt.wantField == "" {
				if err != nil {
					t.Errorf("Compile: %v", err)
				}
				return
			}
			if got := ruleErrorFields(t, err); !slices.Equal(got, []string{tt.wantField}) || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Compile error %v (fields %q), want %s: ...%s...", err, got, tt.wantField, tt.wantText)
			}
		})
	}
}

func TestRuleStringGroup(t *testing.T) {
	r := Rule{Account: str("*"), Group: "ops", Type: "repository", Name: "${labels:team}/*", Actions: []string{"pull"}}
	if got, want := r.String(), "account=* group=ops type=repository name=${labels:team}/* actions=pull"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// ${claims:NAME} stands for a workload's claim, taken literally: a value
// that is missing or unsafe never matches, and the ACL lists the claims it
// reads.
func TestClaimsVariable(t *testing.T) {
	acl, err := Compile([]Rule{
		{Account: str("ci:*"), Type: "repository", Name: "${claims:repository_owner}/*", Actions: []string{"pull", "push"}},
		{Account: str("k8s:*"), Type: "repository", Name: "apps/${claims:/kubernetes.io/namespace}/*", Actions: []string{"pull"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := acl.Claims(); !slices.Equal(got, []string{"repository_owner", "/kubernetes.io/namespace"}) {
		t.Errorf("Claims = %q", got)
	}
	push := scope.Scope{Type: "repository", Name: "acme/app", Actions: []string{"pull", "push"}}
	for _, tc := range []struct {
		name   string
		claims map[string]string
		want   int
	}{
		{"own organisation", map[string]string{"repository_owner": "acme"}, 1},
		{"another organisation", map[string]string{"repository_owner": "evil"}, 0},
		{"missing", nil, 0},
		{"slash", map[string]string{"repository_owner": "acme/x"}, 0},
		{"glob", map[string]string{"repository_owner": "*"}, 0},
		{"dots", map[string]string{"repository_owner": ".."}, 0},
	} {
		got := acl.AuthorizeRules(Request{Account: "ci:github:acme/app", Claims: tc.claims}, []scope.Scope{push}, nil)
		if len(got) != tc.want {
			t.Errorf("%s: granted %v", tc.name, got)
		}
	}
	k8s := Request{Account: "k8s:ci:builder", Claims: map[string]string{"/kubernetes.io/namespace": "ci"}}
	if got := acl.AuthorizeRules(k8s, []scope.Scope{{Type: "repository", Name: "apps/ci/web", Actions: []string{"pull"}}}, nil); len(got) != 1 {
		t.Errorf("pointer claim: granted %v", got)
	}
	d := acl.Explain(Request{Account: "ci:github:acme/app", Claims: map[string]string{"repository_owner": "a b"}}, push)
	if !strings.Contains(fmt.Sprint(d), "cannot be taken literally") {
		t.Errorf("explain of an unsafe claim: %+v", d)
	}
	for _, bad := range []string{"${claims:}", "${claims:a b}", "${claims::}"} {
		if _, err := Compile([]Rule{{Account: str("*"), Name: bad + "/*", Actions: []string{"pull"}}}); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}

func TestPattern(t *testing.T) {
	p, err := CompilePattern("refs/heads/*")
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"refs/heads/main": true, "refs/heads/feat/x": true, "refs/tags/v1": false} {
		if p.Match(s) != want {
			t.Errorf("Match(%q) = %v", s, !want)
		}
	}
	if _, err := CompilePattern("${account}"); err == nil {
		t.Error("a variable compiled in a Pattern")
	}
}
