package scope

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scope is one resource scope of the Docker token protocol
// (distribution scope.md): type[(class)]:name:action[,action...].
type Scope struct {
	Type    string   // "repository", "registry", ...
	Class   string   // optional resource class, e.g. "plugin" in repository(plugin)
	Name    string   // resource name, may carry a host[:port]/ prefix
	Actions []string // requested or granted actions, deduplicated, in request order
}

// Limits on what a client may ask for in one token request.
const (
	MaxScopes = 64   // scopes per request, counted before merging
	MaxLength = 1024 // bytes per scope string
)

// maxNameLength bounds a repository name, host prefix included
// (reference.RepositoryNameTotalLengthMax).
const maxNameLength = 255

// ErrMalformed is wrapped by every error of Parse and ParseAll.
var ErrMalformed = errors.New("scope: malformed")

// repositoryType is the resource type whose names follow the reference grammar.
const repositoryType = "repository"

// Wildcard is the action that stands for every action ("registry:catalog:*").
const Wildcard = "*"

// Parse parses one resource scope (scope.md: Resource Scope Grammar):
//
//	resourcetype ":" resourcename ":" action [ ',' action ]*
//
// The name runs from the first colon to the last one, since it may carry a
// host:port/ prefix (scope.md: the note under the grammar). Repeated actions
// are dropped, keeping the first of each.
func Parse(s string) (Scope, error) {
	if len(s) > MaxLength {
		return Scope{}, malformed(s, fmt.Sprintf("longer than %d bytes", MaxLength))
	}
	first, last := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if first < 0 || first == last {
		return Scope{}, malformed(s, "want type:name:actions")
	}
	var sc Scope
	var err error
	if sc.Type, sc.Class, err = parseType(s, s[:first]); err != nil {
		return Scope{}, err
	}
	sc.Name = s[first+1 : last]
	if err := checkName(s, sc.Type, sc.Name); err != nil {
		return Scope{}, err
	}
	if sc.Actions, err = parseActions(s, s[last+1:]); err != nil {
		return Scope{}, err
	}
	return sc, nil
}

// ParseAll parses the scope parameters of a token request. Each parameter
// may hold several scopes separated by spaces (scope.md: "scope :=
// resourcescope [ ' ' resourcescope ]*"; token.md lets GET repeat the
// parameter). Scopes naming the same type, class and resource are merged,
// their actions united in first-seen order. No scopes gives a nil slice.
func ParseAll(params []string) ([]Scope, error) {
	var out []Scope
	n := 0
	for _, p := range params {
		for field := range strings.SplitSeq(p, " ") {
			if field == "" {
				continue
			}
			if n++; n > MaxScopes {
				return nil, malformed(field, fmt.Sprintf("more than %d scopes", MaxScopes))
			}
			sc, err := Parse(field)
			if err != nil {
				return nil, err
			}
			out = merge(out, sc)
		}
	}
	for i := range out {
		out[i].Actions = dedupe(out[i].Actions)
	}
	return out, nil
}

// String returns the canonical form of s, which Parse reads back to s.
func (s Scope) String() string {
	var b strings.Builder
	b.Grow(len(s.Type) + len(s.Class) + len(s.Name) + 8*len(s.Actions) + 4)
	s.WriteResource(&b)
	b.WriteByte(':')
	b.WriteString(strings.Join(s.Actions, ","))
	return b.String()
}

// WriteResource writes the resource s names, "type(class):name" (the
// canonical form without the actions), to b.
func (s Scope) WriteResource(b *strings.Builder) {
	b.WriteString(s.Type)
	if s.Class != "" {
		b.WriteByte('(')
		b.WriteString(s.Class)
		b.WriteByte(')')
	}
	b.WriteByte(':')
	b.WriteString(s.Name)
}

// Has reports whether s lists action or the wildcard "*".
func (s Scope) Has(action string) bool {
	return permits(s.Actions, action)
}

// Intersect returns a copy of s holding only the actions of s that allowed
// permits: those listed in allowed, or all of them when allowed lists "*".
// A requested "*" is granted only when allowed lists "*" itself. The copy
// may hold no actions (an empty, non-nil slice): the token server returns
// the intersection and never fails for less access (token.md).
func (s Scope) Intersect(allowed []string) Scope {
	granted := make([]string, 0, len(s.Actions))
	for _, a := range s.Actions {
		if permits(allowed, a) {
			granted = append(granted, a)
		}
	}
	s.Actions = granted
	return s
}

// permits reports whether actions lists action or the wildcard.
func permits(actions []string, action string) bool {
	for _, a := range actions {
		if a == action || a == Wildcard {
			return true
		}
	}
	return false
}

// parseType splits resourcetype := resourcetypevalue [ '(' resourcetypevalue ')' ].
func parseType(s, t string) (typ, class string, err error) {
	typ = t
	if open := strings.IndexByte(t, '('); open >= 0 {
		if !strings.HasSuffix(t, ")") {
			return "", "", malformed(s, "invalid resource type")
		}
		typ, class = t[:open], t[open+1:len(t)-1]
		if !isWord(class, isAlnum) {
			return "", "", malformed(s, "invalid resource class")
		}
	}
	if !isWord(typ, isLowerAlnum) {
		return "", "", malformed(s, "invalid resource type")
	}
	return typ, class, nil
}

// checkName validates a resource name: repository names by the reference
// grammar of scope.md, any other name only for being printable.
func checkName(s, typ, name string) error {
	switch {
	case name == "":
		return malformed(s, "empty resource name")
	case typ == repositoryType && len(name) > maxNameLength:
		return malformed(s, fmt.Sprintf("repository name longer than %d bytes", maxNameLength))
	case typ == repositoryType && !validRepository(name):
		return malformed(s, "invalid repository name")
	case !printable(name):
		return malformed(s, "resource name holds whitespace, control characters or invalid UTF-8")
	}
	return nil
}

// parseActions splits action [ ',' action ]* and drops repeats.
func parseActions(s, list string) ([]string, error) {
	if list == "" {
		return nil, malformed(s, "no actions")
	}
	actions := strings.Split(list, ",")
	for _, a := range actions {
		if a == "" {
			return nil, malformed(s, "empty action")
		}
		if !validAction(a) {
			return nil, malformed(s, "invalid action "+quote(a))
		}
	}
	return dedupe(actions), nil
}

// validAction accepts "*" or /^[a-z][a-z0-9_-]*$/. scope.md writes
// /[a-z]*/; unknown actions pass here and are left to the ACL.
func validAction(a string) bool {
	if a == Wildcard {
		return true
	}
	return a != "" && isLower(a[0]) && isWord(a, func(c byte) bool {
		return isLowerAlnum(c) || c == '_' || c == '-'
	})
}

// validRepository reports whether name matches scope.md's
// resourcename := [ hostname '/' ] component [ '/' component ]*.
func validRepository(name string) bool {
	host, path, found := strings.Cut(name, "/")
	if !found || !validHostname(host) {
		path = name
	}
	for c := range strings.SplitSeq(path, "/") {
		if !validComponent(c) {
			return false
		}
	}
	return true
}

// validHostname matches hostcomponent ['.' hostcomponent]* [':' port-number].
func validHostname(h string) bool {
	host, port, hasPort := strings.Cut(h, ":")
	if hasPort && !isWord(port, isDigit) {
		return false
	}
	for c := range strings.SplitSeq(host, ".") {
		if !validHostComponent(c) {
			return false
		}
	}
	return true
}

// validHostComponent matches /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/.
func validHostComponent(c string) bool {
	return c != "" && isAlnum(c[0]) && isAlnum(c[len(c)-1]) &&
		isWord(c, func(b byte) bool { return isAlnum(b) || b == '-' })
}

// validComponent matches component := alpha-numeric [ separator alpha-numeric ]*
// with alpha-numeric /[a-z0-9]+/ and separator /[_.]|__|[-]+/ (the reference
// grammar; scope.md's [-]* would allow an empty separator, which changes nothing).
func validComponent(c string) bool {
	if c == "" || !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if isLowerAlnum(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !isLowerAlnum(c[j]) {
			j++
		}
		if !validSeparator(c[i:j]) {
			return false
		}
		i = j
	}
	return true
}

// validSeparator matches a non-empty /[_.]|__|[-]+/.
func validSeparator(sep string) bool {
	switch sep {
	case ".", "_", "__":
		return true
	}
	return strings.Trim(sep, "-") == ""
}

// printable reports whether name is valid UTF-8 without whitespace or
// control characters. Invalid UTF-8 would be altered on its way into the
// JSON claims, so that the token would name another resource; a literal
// U+FFFD is refused along with it.
func printable(name string) bool {
	for _, r := range name {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// merge adds sc to scopes, appending its actions to an earlier scope of the
// same type, class and name. ParseAll dedupes the actions afterwards.
func merge(scopes []Scope, sc Scope) []Scope {
	for i := range scopes {
		if scopes[i].Type == sc.Type && scopes[i].Class == sc.Class && scopes[i].Name == sc.Name {
			scopes[i].Actions = append(scopes[i].Actions, sc.Actions...)
			return scopes
		}
	}
	return append(scopes, sc)
}

// smallSet is the length up to which dedupe scans instead of using a map.
const smallSet = 16

// dedupe drops repeated actions in place, keeping first-seen order.
func dedupe(actions []string) []string {
	out := actions[:0]
	if len(actions) <= smallSet {
		for _, a := range actions {
			if !contains(out, a) {
				out = append(out, a)
			}
		}
		return out
	}
	seen := make(map[string]struct{}, len(actions))
	for _, a := range actions {
		if _, dup := seen[a]; !dup {
			seen[a] = struct{}{}
			out = append(out, a)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// malformed wraps ErrMalformed with the offending scope and a detail.
func malformed(s, detail string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, quote(s), detail)
}

// quote quotes s for an error message, cut to about 100 bytes.
func quote(s string) string {
	const max = 100
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// isWord reports whether s is non-empty and every byte satisfies ok.
func isWord(s string, ok func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isLower(c byte) bool      { return 'a' <= c && c <= 'z' }
func isLowerAlnum(c byte) bool { return isLower(c) || isDigit(c) }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || ('A' <= c && c <= 'Z') }

// Join formats scopes as a space-separated list, the form of an OAuth2
// "scope" parameter (distribution oauth.md).
func Join(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}
