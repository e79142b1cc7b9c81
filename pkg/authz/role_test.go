package authz

import (
	"reflect"
	"slices"
	"testing"

	"github.com/tollgate/tollgate/pkg/scope"
)

func TestLimitByRole(t *testing.T) {
	granted := []scope.Scope{
		{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push", "delete"}},
		{Type: "repository", Name: "alice/all", Actions: []string{"*"}},
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
		{Type: "repository", Name: "alice/gone", Actions: []string{"delete"}},
	}
	tests := []struct {
		role string
		want []scope.Scope
	}{
		{"", granted},
		{RoleAdmin, granted},
		{RoleRead, []scope.Scope{
			{Type: "repository", Name: "alice/app", Actions: []string{"pull"}},
			{Type: "repository", Name: "alice/all", Actions: []string{"pull"}},
		}},
		{RoleWrite, []scope.Scope{
			{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}},
			{Type: "repository", Name: "alice/all", Actions: []string{"pull", "push"}},
		}},
		{"superuser", []scope.Scope{}},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			got := LimitByRole(tt.role, granted)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LimitByRole(%q) = %+v, want %+v", tt.role, got, tt.want)
			}
		})
	}
	if granted[0].Actions[2] != "delete" {
		t.Error("LimitByRole modified its input")
	}
}

func TestValidRole(t *testing.T) {
	for role, want := range map[string]bool{"read": true, "write": true, "admin": true, "": false, "root": false} {
		if got := ValidRole(role); got != want {
			t.Errorf("ValidRole(%q) = %v, want %v", role, got, want)
		}
	}
}

// roleRules give admin every action and alice a listed set on her own
// repositories, so each role meets both a "*" grant and a list.
func roleRules() []Rule {
	return []Rule{
		{Account: str("admin"), Actions: []string{"*"}},
		{Account: str("alice"), Type: "repository", Name: "alice/*", Actions: []string{"push", "pull", "delete"}},
	}
}

// TestRequestRole checks that Request.Role caps what Decide and
// AuthorizeRules grant, and says in Decision.Capped what it took away.
func TestRequestRole(t *testing.T) {
	catalog := scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}
	tests := []struct {
		name    string
		account string
		role    string
		scope   scope.Scope
		want    Decision
	}{
		{"no role keeps everything", "admin", "", repo("x/y", "pull", "delete"),
			Decision{Rule: 0, Granted: []string{"pull", "delete"}}},
		{"admin keeps everything", "admin", RoleAdmin, catalog,
			Decision{Rule: 0, Granted: []string{"*"}}},
		{"read keeps pull", "alice", RoleRead, repo("alice/app", "pull", "push", "delete"),
			Decision{Rule: 1, Granted: []string{"pull"}, Dropped: []string{"push", "delete"}, Capped: []string{"push", "delete"}}},
		{"write keeps pull and push", "alice", RoleWrite, repo("alice/app", "delete", "push", "pull"),
			Decision{Rule: 1, Granted: []string{"push", "pull"}, Dropped: []string{"delete"}, Capped: []string{"delete"}}},
		{"read turns a granted * into pull", "admin", RoleRead, repo("x/y", "*"),
			Decision{Rule: 0, Granted: []string{"pull"}, Dropped: []string{"*"}, Capped: []string{"*"}}},
		{"write turns a granted * into its list", "admin", RoleWrite, repo("x/y", "*"),
			Decision{Rule: 0, Granted: []string{"pull", "push"}, Dropped: []string{"*"}, Capped: []string{"*"}}},
		{"read with a listed rule and *", "alice", RoleRead, repo("alice/app", "*"),
			Decision{Rule: 1, Granted: []string{"pull"}, Dropped: []string{"*"}, Capped: []string{"push", "delete"}}},
		{"read drops other types", "admin", RoleRead, catalog,
			Decision{Rule: 0, Dropped: []string{"*"}, Capped: []string{"*"}}},
		{"write drops other types", "admin", RoleWrite, scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"pull"}},
			Decision{Rule: 0, Dropped: []string{"pull"}, Capped: []string{"pull"}}},
		{"unknown role keeps nothing", "alice", "superuser", repo("alice/app", "pull"),
			Decision{Rule: 1, Dropped: []string{"pull"}, Capped: []string{"pull"}}},
		{"role does not widen a denial", "alice", RoleAdmin, repo("bob/app", "pull"),
			Decision{Rule: -1, Dropped: []string{"pull"}}},
	}
	acl := mustCompile(t, roleRules())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Account: tt.account, Role: tt.role}
			got := acl.Decide(req, tt.scope)
			if got.Rule != tt.want.Rule || !slices.Equal(got.Granted, tt.want.Granted) ||
				!slices.Equal(got.Dropped, tt.want.Dropped) || !slices.Equal(got.Capped, tt.want.Capped) {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
			rules := []int{9}
			granted := acl.AuthorizeRules(req, []scope.Scope{tt.scope}, rules)
			if rules[0] != tt.want.Rule {
				t.Errorf("AuthorizeRules rule = %d, want %d", rules[0], tt.want.Rule)
			}
			var want []scope.Scope
			if len(tt.want.Granted) > 0 {
				s := tt.scope
				s.Actions = tt.want.Granted
				want = []scope.Scope{s}
			}
			if !equalScopes(granted, want) {
				t.Errorf("AuthorizeRules = %+v, want %+v", granted, want)
			}
			uncapped := acl.Authorize(Request{Account: tt.account}, []scope.Scope{tt.scope})
			if limited := LimitByRole(tt.role, uncapped); !equalScopes(limited, want) {
				t.Errorf("LimitByRole after Authorize = %+v, want the same as Request.Role: %+v", limited, want)
			}
		})
	}
}

// A role's "*" list is the caller's own: appending to one granted scope's
// actions must not reach the next scope nor the role's table.
func TestRequestRoleSharesNothing(t *testing.T) {
	acl := mustCompile(t, roleRules())
	got := acl.Authorize(Request{Account: "admin", Role: RoleWrite}, []scope.Scope{repo("a/b", "*"), repo("c/d", "*")})
	if len(got) != 2 {
		t.Fatalf("Authorize = %+v, want two scopes", got)
	}
	got[0].Actions[0] = "overwritten"
	_ = append(got[0].Actions, "appended")
	if !slices.Equal(got[1].Actions, []string{"pull", "push"}) || !slices.Equal(roleActions[RoleWrite], []string{"pull", "push"}) {
		t.Errorf("writing to one grant changed another: %q, role table %q", got[1].Actions, roleActions[RoleWrite])
	}
}
