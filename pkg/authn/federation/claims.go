package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/pkg/authz"
)

// claimSet is the decoded claims of a token (numbers as json.Number).
type claimSet map[string]any

// lookup finds a claim: a top-level name, or a JSON Pointer (RFC 6901)
// into nested objects and arrays.
func (cs claimSet) lookup(name string) (any, bool) {
	if !strings.HasPrefix(name, "/") {
		v, ok := cs[name]
		return v, ok
	}
	var cur any = map[string]any(cs)
	for _, ref := range strings.Split(name[1:], "/") {
		ref = strings.NewReplacer("~1", "/", "~0", "~").Replace(ref)
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[ref]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(ref)
			if err != nil || i < 0 || i >= len(node) || (len(ref) > 1 && ref[0] == '0') {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// scalar returns the value of a claim that is a string, number or
// boolean, as its text.
func (cs claimSet) scalar(name string) (string, bool) {
	v, ok := cs.lookup(name)
	if !ok {
		return "", false
	}
	return scalarText(v)
}

func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// matches reports whether the claim has a value one of the globs match;
// a list claim matches when one of its scalar values does.
func (m matcher) matches(cs claimSet) bool {
	v, ok := cs.lookup(m.claim)
	if !ok {
		return false
	}
	values := []any{v}
	if list, isList := v.([]any); isList {
		values = list
	}
	for _, v := range values {
		s, ok := scalarText(v)
		if !ok {
			continue
		}
		for _, p := range m.patterns {
			if p.Match(s) {
				return true
			}
		}
	}
	return false
}

// template is a parsed subject template: literal text and ${CLAIM}
// variables.
type template struct {
	text  string
	parts []part
}

type part struct {
	literal string
	claim   string // a variable when not ""
}

// maxSubject bounds a workload's name.
const maxSubject = 256

// parseTemplate parses a subject template. It must start with a literal
// prefix that holds ':', so that no workload is named like a user (user
// names never hold ':').
func parseTemplate(s string) (template, error) {
	t := template{text: s}
	if s == "" {
		return t, errors.New(`required: the workload's name, such as "ci:github:${repository}"`)
	}
	rest := s
	for rest != "" {
		start := strings.Index(rest, "${")
		if start < 0 {
			t.parts = append(t.parts, part{literal: rest})
			break
		}
		if start > 0 {
			t.parts = append(t.parts, part{literal: rest[:start]})
		}
		end := strings.IndexByte(rest[start:], '}')
		if end < 0 {
			return t, fmt.Errorf("%q: unterminated variable", s)
		}
		claim := rest[start+2 : start+end]
		if err := checkClaimName(claim); err != nil {
			return t, fmt.Errorf("variable ${%s}: %v", claim, err)
		}
		t.parts = append(t.parts, part{claim: claim})
		rest = rest[start+end+1:]
	}
	if t.parts[0].claim != "" || !strings.Contains(t.parts[0].literal, ":") {
		return t, fmt.Errorf("%q: start with a literal prefix holding ':', such as \"ci:github:\", so that a workload is never named like a user", s)
	}
	for _, p := range t.parts {
		if p.claim == "" {
			if why := unsafeSubject(p.literal); why != "" {
				return t, fmt.Errorf("%q: %s", s, why)
			}
		}
	}
	return t, nil
}

// claims lists the claims the template reads.
func (t template) claims() []string {
	var out []string
	for _, p := range t.parts {
		if p.claim != "" {
			out = append(out, p.claim)
		}
	}
	return out
}

// expand fills the template with the token's claims; a value that is
// missing, not a scalar or unsafe in a name refuses the token.
func (t template) expand(cs claimSet) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.claim == "" {
			b.WriteString(p.literal)
			continue
		}
		v, ok := cs.scalar(p.claim)
		if !ok || v == "" {
			return "", fmt.Errorf("claim %s, which the subject uses, is missing or not a string", p.claim)
		}
		if why := unsafeSubject(v); why != "" {
			return "", fmt.Errorf("claim %s, which the subject uses, %s", p.claim, why)
		}
		b.WriteString(v)
	}
	if b.Len() > maxSubject {
		return "", fmt.Errorf("the subject is longer than %d bytes", maxSubject)
	}
	return b.String(), nil
}

// unsafeSubject says why s cannot be part of a workload's name, or "": the
// ACL's rule for literal values (authz.UnsafeLiteral), except that a name
// may hold '/' (GitHub's repository is owner/repo); and printable ASCII
// only, so that no invisible or look-alike character (U+200B, U+202E,
// U+FF0F) makes two names that read the same.
func unsafeSubject(s string) string {
	if why := authz.UnsafeLiteral(strings.ReplaceAll(s, "/", "-")); why != "" {
		return why
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return "contains a character other than printable ASCII"
	}
	return ""
}
