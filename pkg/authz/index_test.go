package authz

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
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

// linearMatch is the reference evaluation: every rule in order, the first
// match wins. The ACL must decide exactly as it does, however it gets there.
func linearMatch(a *ACL, req *Request, s *scope.Scope) int {
	for i := range a.compiled {
		if a.compiled[i].matches(req, s) {
			return i
		}
	}
	return -1
}

// Vocabularies for random rules and requests, chosen to overlap: name
// prefixes that are prefixes of one another ("a", "al", "alice/"), accounts
// that are prefixes of names, a label value with a '/', multi-byte text.
var (
	randNamePrefixes = []string{"", "a", "al", "alice", "alice/", "bob/", "team-1", "team-1/", "team-10/", "team-1/app", "shared/", "é/"}
	randNameSuffixes = []string{"", "*", "?", "app", "app-*", "*/x", "/${account}", "${labels:team}/*", "?*"}
	randAfterAccount = []string{"", "/", "/*", "-*", "/app", "x*", "*", "/${labels:team}"}
	randAccountGlobs = []string{"", "*", "alice", "a*", "bob", "team-?-bot", "al"}
	randGroupGlobs   = []string{"", "*", "dev", "team-*"}
	randTypeGlobs    = []string{"", "repository", "registry", "repo*"}
	randServiceGlobs = []string{"", "registry.local", "*.local"}
	randIPLists      = [][]string{nil, {"10.0.0.0/8"}, {"::1", "192.0.2.1"}}
	randActionLists  = [][]string{{"pull"}, {"push", "pull"}, {"*"}, {"delete"}}
	randAccounts     = []string{"", "alice", "bob", "al", "team-1-bot", "a", "é"}
	randGroups       = []string{"dev", "team-1", "ops"}
	randLabelValues  = []string{"team-1", "blue", "", "x/y", "app"}
	randIPs          = []string{"", "10.1.2.3", "::ffff:10.1.2.3", "192.0.2.1", "::1"}
	randRoles        = []string{"", RoleRead, RoleWrite, RoleAdmin, "bogus"}
	randActions      = []string{"pull", "push", "*", "delete"}
)

func pick[T any](r *rand.Rand, from []T) T { return from[r.IntN(len(from))] }

// randName returns a name pattern: a literal prefix and a suffix, or one
// that starts with ${account}, ${labels:team} or a glob character.
func randName(r *rand.Rand) string {
	switch r.IntN(9) {
	case 0:
		return accountVar + pick(r, randAfterAccount)
	case 1:
		return varRef{kind: tokLabel, name: "team"}.String() + pick(r, randAfterAccount)
	case 8:
		return varRef{kind: tokClaim, name: "owner"}.String() + pick(r, randAfterAccount)
	case 2:
		return pick(r, []string{"*", "?lice/*", "*/app"})
	}
	return pick(r, randNamePrefixes) + pick(r, randNameSuffixes)
}

// randRule returns a random rule that compiles on its own.
func randRule(r *rand.Rand) Rule {
	for {
		rule := Rule{
			Account: str(pick(r, randAccountGlobs)),
			Group:   pick(r, randGroupGlobs),
			Type:    pick(r, randTypeGlobs),
			Name:    randName(r),
			Service: pick(r, randServiceGlobs),
			IP:      pick(r, randIPLists),
			Actions: pick(r, randActionLists),
		}
		if _, err := Compile([]Rule{rule}); err == nil {
			return rule
		}
	}
}

// randACL compiles n random rules.
func randACL(t testing.TB, r *rand.Rand, n int) *ACL {
	rules := make([]Rule, n)
	for i := range rules {
		rules[i] = randRule(r)
	}
	return mustCompile(t, rules)
}

func randRequest(r *rand.Rand) Request {
	req := Request{Account: pick(r, randAccounts), Service: pick(r, randServiceGlobs), Role: pick(r, randRoles)}
	if ip := pick(r, randIPs); ip != "" {
		req.ClientIP = netip.MustParseAddr(ip)
	}
	if req.Account != "" {
		for _, g := range randGroups {
			if r.IntN(3) == 0 {
				req.Groups = append(req.Groups, g)
			}
		}
	}
	if r.IntN(3) > 0 {
		req.Labels = map[string]string{"team": pick(r, randLabelValues)}
		req.Claims = map[string]string{"owner": pick(r, randLabelValues)}
	}
	return req
}

// randScope names a repository the rules may well be about: a prefix of
// the vocabulary, the account's own namespace or the team label's.
func randScope(r *rand.Rand, req *Request) scope.Scope {
	var name string
	switch r.IntN(4) {
	case 0:
		name = req.Account + pick(r, []string{"", "/", "/app", "-x", "x/app"})
	case 1:
		name = req.Labels["team"] + pick(r, []string{"/", "/app", "/x/app"})
	default:
		name = pick(r, randNamePrefixes) + pick(r, []string{"", "app", "/app", "app-1", "/x", "-x/app", "é"})
	}
	return scope.Scope{Type: pick(r, []string{"repository", "registry"}), Name: name, Actions: []string{pick(r, randActions), pick(r, randActions)}}
}

// TestIndexAgreesWithLinearScan compiles random ACLs of hundreds of rules
// and checks, for random requests, that Decide, Explain and AuthorizeRules
// name the rule the linear scan finds and grant what it decides. It also
// checks that the requests exercise the ACLs: a good share is denied and a
// good share is decided past the first ten rules.
func TestIndexAgreesWithLinearScan(t *testing.T) {
	var denied, deep, scopes int
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 1))
		acl := randACL(t, r, 100+r.IntN(200))
		for range 150 {
			req := randRequest(r)
			requested := []scope.Scope{randScope(r, &req), randScope(r, &req)}
			for _, i := range checkAgainstLinearScan(t, acl, req, requested) {
				denied, deep, scopes = denied+b2i(i < 0), deep+b2i(i >= 10), scopes+1
			}
		}
	}
	if denied < scopes/10 || deep < scopes/10 {
		t.Errorf("of %d scopes, %d denied and %d decided past rule 9: the generator no longer exercises the index", scopes, denied, deep)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkAgainstLinearScan checks every way of evaluating acl against
// linearMatch for req and each of requested, and returns the deciding rules.
func checkAgainstLinearScan(t *testing.T, acl *ACL, req Request, requested []scope.Scope) []int {
	t.Helper()
	rules := make([]int, len(requested))
	granted := acl.AuthorizeRules(req, requested, rules)
	var want []scope.Scope
	for k, s := range requested {
		ref := linearMatch(acl, &req, &s)
		d, e := acl.Decide(req, s), acl.Explain(req, s)
		first := slices.IndexFunc(e.Checks, Check.Matches)
		if d.Rule != ref || e.Rule != ref || rules[k] != ref || first != ref || len(e.Checks) != len(acl.compiled) {
			t.Fatalf("%+v %v: linear scan says rule %d; Decide %d, Explain %d (first matching check %d of %d), AuthorizeRules %d",
				req, s, ref, d.Rule, e.Rule, first, len(e.Checks), rules[k])
		}
		if len(d.Granted) > 0 {
			s.Actions = d.Granted
			want = append(want, s)
		}
	}
	if !equalScopes(granted, want) {
		t.Fatalf("%+v %v: AuthorizeRules granted %+v, Decide %+v", req, requested, granted, want)
	}
	return rules
}

// FuzzIndexAgreesWithLinearScan decides arbitrary accounts, names, groups
// and team labels against a random ACL and compares with the linear scan.
func FuzzIndexAgreesWithLinearScan(f *testing.F) {
	acl := randACL(f, rand.New(rand.NewPCG(7, 1)), 300)
	f.Add("alice", "alice/app", "dev", "team-1")
	f.Add("", "public/x", "", "")
	f.Add("al", "alice/x", "team-1", "x/y")
	f.Add("é", "é/app", "ops", "é")
	f.Fuzz(func(t *testing.T, account, name, group, team string) {
		req := Request{Account: account, Groups: []string{group}, Labels: map[string]string{"team": team}, ClientIP: netip.MustParseAddr("10.1.2.3")}
		checkAgainstLinearScan(t, acl, req, []scope.Scope{repo(name, "pull", "push")})
	})
}

// TestIndexCandidates checks which rules the index offers, in which order:
// those whose literal prefix starts the name (prefixes nested in one
// another included), those whose prefix after ${account} starts the rest of
// a name in the account's namespace, and those without a prefix, always.
func TestIndexCandidates(t *testing.T) {
	names := []string{
		"",                // 0: no pattern
		"${account}/*",    // 1: "/" after the account
		"a*",              // 2
		"alice/*",         // 3
		"al?ce/app",       // 4: "al"
		"*/app",           // 5: no prefix
		"${account}",      // 6: "" after the account
		"${labels:t}/*",   // 7: no prefix
		"alice",           // 8: exact
		"é/*",             // 9
		"${account}-ci/*", // 10: "-ci/" after the account
	}
	rules := make([]Rule, len(names))
	for i, name := range names {
		rules[i] = Rule{Account: str("*"), Name: name, Actions: []string{"pull"}}
	}
	acl := mustCompile(t, rules)
	tests := []struct {
		account, name string
		want          []int
	}{
		{"alice", "alice/app", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"bob", "alice/app", []int{0, 2, 3, 4, 5, 7, 8}},
		{"", "alice/app", []int{0, 2, 3, 4, 5, 7, 8}},
		{"alice", "alice-ci/x", []int{0, 2, 4, 5, 6, 7, 8, 10}},
		{"alice", "bob/app", []int{0, 5, 7}},
		{"bob", "bob", []int{0, 5, 6, 7}},
		{"é", "é/x", []int{0, 1, 5, 6, 7, 9}},
		{"alice", "al", []int{0, 2, 4, 5, 7}},
		{"alice", "", []int{0, 5, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.account+" "+tt.name, func(t *testing.T) {
			if got := allCandidates(acl, tt.account, tt.name); !slices.Equal(got, tt.want) {
				t.Errorf("candidates = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestIndexKeepsLargeACLsFlat checks that a request against the 10,000
// rules of the benchmark tests two rules, not thousands: the admin rule,
// which names no repository, and its team's.
func TestIndexKeepsLargeACLsFlat(t *testing.T) {
	acl := mustCompile(t, scaleRules(10000))
	if got, want := allCandidates(acl, "bob", "team-9995/app"), []int{0, 9998}; !slices.Equal(got, want) {
		t.Errorf("candidates = %v, want %v", got, want)
	}
}

// allCandidates returns the rules the index offers for account and name.
func allCandidates(acl *ACL, account, name string) []int {
	var out []int
	c := acl.index.candidates(nil, account, name)
	for i := c.next(); i >= 0; i = c.next() {
		out = append(out, i)
	}
	return out
}
