package authz

import (
	"strings"
	"unicode"
)

// UnsafeLiteral says why value cannot stand for a variable of a name
// pattern (${account}, ${labels:NAME}), or returns "" when it can. A
// variable is matched literally, never as a pattern, but the value still
// lands inside a repository name: an account "shared/bot" in "${account}/*"
// would reach shared/bot/..., which is not its own. So a value may not hold
// '/', the glob characters '*', '?' and '[', "..", white space or control
// characters.
//
// Account names are checked where accounts are made (the htpasswd loader and
// `tollgate users add`, through htpasswd.SafeName); label values come with
// each request, so a rule whose name uses a label that is missing, empty or
// unsafe does not match (it never widens to match everything).
func UnsafeLiteral(value string) string {
	switch {
	case strings.Contains(value, "/"):
		return "contains '/'"
	case strings.ContainsAny(value, "*?["):
		return "contains a glob character ('*', '?' or '[')"
	case strings.Contains(value, ".."):
		return "contains '..'"
	case strings.ContainsFunc(value, unicode.IsSpace):
		return "contains white space"
	case strings.ContainsFunc(value, unicode.IsControl):
		return "contains a control character"
	}
	return ""
}
