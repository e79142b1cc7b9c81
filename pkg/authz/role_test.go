package authz

import (
	"reflect"
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
