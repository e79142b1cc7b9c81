package authz

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The variables a name pattern may use. Each stands for a value of the
// request taken literally, never as a pattern: ${account} for the account
// name, ${labels:NAME} for the value of the identity's label NAME,
// ${claims:NAME} for the value of a workload's identity-token claim NAME
// (a top-level claim, or a JSON Pointer such as /kubernetes.io/namespace).
const (
	accountVar   = "${account}"
	labelsPrefix = "${labels:"
	claimsPrefix = "${claims:"
)

type tokenKind uint8

const (
	tokLiteral tokenKind = iota // text matched as is
	tokStar                     // any run of characters, including '/'
	tokOne                      // exactly one character
	tokAccount                  // the requesting account name, matched literally
	tokLabel                    // the value of label text, matched literally
	tokClaim                    // the value of claim text, matched literally
)

type token struct {
	kind tokenKind
	text string // tokLiteral: the text; tokLabel, tokClaim: the label's or claim's name
}

// varRef is a label or claim variable of a pattern.
type varRef struct {
	kind tokenKind // tokLabel or tokClaim
	name string
}

// String is how the variable is written in a pattern.
func (v varRef) String() string {
	if v.kind == tokClaim {
		return claimsPrefix + v.name + "}"
	}
	return labelsPrefix + v.name + "}"
}

// value is the variable's value in req.
func (v varRef) value(req *Request) (string, bool) {
	values := req.Labels
	if v.kind == tokClaim {
		values = req.Claims
	}
	s, ok := values[v.name]
	return s, ok
}

// glob is a compiled pattern. The zero value (empty pattern) matches anything.
type glob struct {
	tokens      []token
	usesAccount bool
	vars        []varRef // the labels and claims the pattern uses, each once, in order
}

// parseGlob compiles pattern. With allowVars false, "${" is rejected.
func parseGlob(pattern string, allowVars bool) (glob, error) {
	var g glob
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			g.tokens = append(g.tokens, token{kind: tokLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '*':
			flush()
			if n := len(g.tokens); n == 0 || g.tokens[n-1].kind != tokStar {
				g.tokens = append(g.tokens, token{kind: tokStar})
			}
		case c == '?':
			flush()
			g.tokens = append(g.tokens, token{kind: tokOne})
		case strings.HasPrefix(pattern[i:], "${"):
			tok, end, err := parseVar(pattern[i:], allowVars)
			if err != nil {
				return glob{}, err
			}
			flush()
			g.addVar(tok)
			i += end - 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return g, nil
}

// addVar appends a variable token and notes which value it needs.
func (g *glob) addVar(t token) {
	g.tokens = append(g.tokens, t)
	ref := varRef{kind: t.kind, name: t.text}
	switch {
	case t.kind == tokAccount:
		g.usesAccount = true
	case !slices.Contains(g.vars, ref):
		g.vars = append(g.vars, ref)
	}
}

// parseVar checks the variable at the start of s ("${...}") and returns its
// token and length.
func parseVar(s string, allowVars bool) (token, int, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return token{}, 0, fmt.Errorf("unterminated variable %q", s)
	}
	v := s[:end+1]
	switch {
	case !allowVars:
		return token{}, 0, fmt.Errorf("variable %s is only allowed in name", v)
	case v == accountVar:
		return token{kind: tokAccount}, end + 1, nil
	case strings.HasPrefix(v, labelsPrefix):
		name := v[len(labelsPrefix):end]
		if !validLabelName(name) {
			return token{}, 0, fmt.Errorf("variable %s: want a label name of letters, digits, '.', '_', '-' and '/'", v)
		}
		return token{kind: tokLabel, text: name}, end + 1, nil
	case strings.HasPrefix(v, claimsPrefix):
		name := v[len(claimsPrefix):end]
		if !validClaimName(name) {
			return token{}, 0, fmt.Errorf("variable %s: want a claim name or JSON Pointer of letters, digits, '.', '_', '-', ':', '~' and '/'", v)
		}
		return token{kind: tokClaim, text: name}, end + 1, nil
	}
	return token{}, 0, fmt.Errorf("unknown variable %s (defined: %s, %sNAME} and %sNAME})", v, accountVar, labelsPrefix, claimsPrefix)
}

// validClaimName reports whether name is a claim name or JSON Pointer
// (RFC 6901) of the characters identity tokens use: ^[A-Za-z0-9._/:~-]+$.
func validClaimName(name string) bool {
	return validLabelName(strings.NewReplacer(":", "", "~", "").Replace(name)) && strings.Trim(name, ":~") != ""
}

// validLabelName reports whether name matches ^[A-Za-z0-9._/-]+$, which
// covers Kubernetes-style keys such as app.kubernetes.io/team.
func validLabelName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._/-", c) >= 0) {
			return false
		}
	}
	return name != ""
}

// usable reports whether req has a usable value for every variable of the
// pattern: an account for ${account} and a safe value for each label and
// claim. A pattern whose variable has no value does not match.
func (g *glob) usable(req *Request) bool {
	_, why := g.badVar(req)
	return (!g.usesAccount || req.Account != "") && why == ""
}

// badVar returns the first label or claim the pattern uses that req lacks
// or whose value cannot be taken literally, and why; why is "" when there
// is none.
func (g *glob) badVar(req *Request) (ref varRef, why string) {
	for _, ref := range g.vars {
		v, ok := ref.value(req)
		switch {
		case !ok:
			return ref, "missing"
		case v == "":
			return ref, "empty"
		}
		if why := UnsafeLiteral(v); why != "" {
			return ref, why
		}
	}
	return varRef{}, ""
}

// match reports whether s matches the pattern, with each variable standing
// for its value in req taken literally (req may be nil for a pattern
// without variables). It does not allocate. It does not check that the
// values exist and are safe: compiledRule.varsUsable does, first.
//
// It is the classic wildcard matcher: on a mismatch, only the most recent
// star needs to absorb one more character, because every other token
// matches a fixed string at this point.
func (g *glob) match(s string, req *Request) bool {
	toks := g.tokens
	switch {
	case len(toks) == 0:
		return true
	case len(toks) == 1 && toks[0].kind == tokLiteral:
		return s == toks[0].text
	}
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			if t.kind == tokStar {
				if ti == len(toks)-1 {
					return true
				}
				starTi, starSi = ti, si
				ti++
				continue
			}
			if n := t.matchAt(s[si:], req); n >= 0 {
				ti, si = ti+1, si+n
				continue
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		ti, si = starTi+1, starSi
	}
}

// matchAt returns how many bytes at the start of s the token matches, or -1.
func (t *token) matchAt(s string, req *Request) int {
	switch t.kind {
	case tokOne:
		if s == "" {
			return -1
		}
		_, n := utf8.DecodeRuneInString(s)
		return n
	case tokAccount:
		return prefixLen(s, req.Account)
	case tokLabel:
		return prefixLen(s, req.Labels[t.text])
	case tokClaim:
		return prefixLen(s, req.Claims[t.text])
	default:
		return prefixLen(s, t.text)
	}
}

func prefixLen(s, prefix string) int {
	if strings.HasPrefix(s, prefix) {
		return len(prefix)
	}
	return -1
}
