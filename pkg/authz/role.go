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

// LimitByRole caps granted scopes by role, as Request.Role does (see
// capByRole). Scopes left with no action are omitted; granted is not
// modified.
//
// Deprecated: set Request.Role instead; ACL.AuthorizeRules, Decide and
// Explain then apply the cap themselves.
func LimitByRole(role string, granted []scope.Scope) []scope.Scope {
	if role == "" || role == RoleAdmin {
		return granted
	}
	out := make([]scope.Scope, 0, len(granted))
	for _, s := range granted {
		if kept := capByRole(slices.Clone(s.Actions), 0, role, s.Type); len(kept) > 0 {
			s.Actions = kept
			out = append(out, s)
		}
	}
	return out
}

// capByRole caps the actions dst[start:] that a rule granted on a resource
// of type typ by role, in place, and returns the shortened (or, for a
// granted "*", rewritten) slice: "" and admin keep everything; read and
// write keep only their repository actions, with "*" standing for the
// role's whole list, and nothing of other types; an unknown role keeps
// nothing.
func capByRole(dst []string, start int, role, typ string) []string {
	if role == "" || role == RoleAdmin {
		return dst
	}
	allowed := roleActions[role]
	if allowed == nil || typ != "repository" {
		return dst[:start]
	}
	if slices.Contains(dst[start:], scope.Wildcard) {
		return append(dst[:start], allowed...)
	}
	kept := dst[:start]
	for _, a := range dst[start:] {
		if slices.Contains(allowed, a) {
			kept = append(kept, a)
		}
	}
	return kept
}
