package authz

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/tollgate/tollgate/pkg/scope"
)

// scaleRules returns n rules (n >= 5) shaped like a large installation: an
// admin rule, ${account}/* and shared/* for every signed-in account, one
// rule per team granting its group pull and push on team-N/*, and an
// anonymous public/* rule last. The last team is team-(n-5).
func scaleRules(n int) []Rule {
	rules := []Rule{
		{Account: str("admin"), Actions: []string{"*"}},
		{Account: str("*"), Type: "repository", Name: "${account}/*", Actions: []string{"pull", "push"}},
		{Account: str("*"), Type: "repository", Name: "shared/*", Actions: []string{"pull"}},
	}
	for i := 0; len(rules) < n-1; i++ {
		team := fmt.Sprintf("team-%d", i)
		rules = append(rules, Rule{Account: str("*"), Group: team, Type: "repository", Name: team + "/*", Actions: []string{"pull", "push"}})
	}
	return append(rules, Rule{Account: str(""), Type: "repository", Name: "public/*", Actions: []string{"pull"}})
}

// BenchmarkAuthorizeRulesScale pushes to the repository of the last team,
// decided by the second to last rule, so a linear scan tests every rule.
func BenchmarkAuthorizeRulesScale(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			acl := mustCompile(b, scaleRules(n))
			team := fmt.Sprintf("team-%d", n-5)
			req := Request{Account: "bob", Groups: []string{"staff", team}, ClientIP: netip.MustParseAddr("10.0.0.7")}
			requested := []scope.Scope{repo(team+"/app", "pull", "push")}
			rules := make([]int, len(requested))
			b.ReportAllocs()
			for b.Loop() {
				if got := acl.AuthorizeRules(req, requested, rules); len(got) != 1 || rules[0] != n-2 {
					b.Fatalf("AuthorizeRules = %+v, rules %v", got, rules)
				}
			}
		})
	}
}
