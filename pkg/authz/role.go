package authz

import (
	"slices"

	"github.com/tollgate/tollgate/pkg/scope"
)

// Roles of API tokens. A role caps what a credential may do; it never adds
// to what the ACL grants its owner.
const (
	RoleRead  = "read"  // pull
	RoleWrite = "write" // pull, push
	RoleAdmin = "admin" // everything, including delete and registry:catalog:*
)

// roleActions are the repository actions each capped role keeps.
var roleActions = map[string][]string{
	RoleRead:  {"pull"},
	RoleWrite: {"pull", "push"},
}

// ValidRole reports whether role is a known role.
func ValidRole(role string) bool {
	return role == RoleAdmin || roleActions[role] != nil
}

// LimitByRole caps granted scopes by role: "" and admin keep everything;
// read and write keep only their repository actions and drop every other
// resource type. Scopes left with no action are omitted. An unknown role
// keeps nothing.
func LimitByRole(role string, granted []scope.Scope) []scope.Scope {
	if role == "" || role == RoleAdmin {
		return granted
	}
	allowed := roleActions[role]
	out := make([]scope.Scope, 0, len(granted))
	for _, s := range granted {
		if s.Type != "repository" {
			continue
		}
		if kept := keepActions(s.Actions, allowed); len(kept) > 0 {
			s.Actions = kept
			out = append(out, s)
		}
	}
	return out
}

// keepActions returns the granted actions the role allows; a granted "*"
// becomes the role's whole list.
func keepActions(granted, allowed []string) []string {
	if slices.Contains(granted, "*") {
		return slices.Clone(allowed)
	}
	var kept []string
	for _, a := range granted {
		if slices.Contains(allowed, a) {
			kept = append(kept, a)
		}
	}
	return kept
}
