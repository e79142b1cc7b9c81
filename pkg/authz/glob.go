package authz

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// accountVar is the only variable a name pattern may use.
const accountVar = "${account}"

type tokenKind uint8

const (
	tokLiteral tokenKind = iota // text matched as is
	tokStar                     // any run of characters, including '/'
	tokOne                      // exactly one character
	tokAccount                  // the requesting account name, matched literally
)

type token struct {
	kind tokenKind
	text string // tokLiteral only
}

// glob is a compiled pattern. The zero value (empty pattern) matches anything.
type glob struct {
	tokens      []token
	usesAccount bool
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
			end, err := parseVar(pattern[i:], allowVars)
			if err != nil {
				return glob{}, err
			}
			flush()
			g.tokens = append(g.tokens, token{kind: tokAccount})
			g.usesAccount = true
			i += end - 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return g, nil
}

// parseVar checks the variable at the start of s ("${...}") and returns its length.
func parseVar(s string, allowVars bool) (int, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0, fmt.Errorf("unterminated variable %q", s)
	}
	if !allowVars {
		return 0, fmt.Errorf("variable %s is only allowed in name", s[:end+1])
	}
	if s[:end+1] != accountVar {
		return 0, fmt.Errorf("unknown variable %s (only %s is defined)", s[:end+1], accountVar)
	}
	return end + 1, nil
}

// match reports whether s matches the pattern, with ${account} standing for
// account taken literally. It does not allocate.
//
// It is the classic wildcard matcher: on a mismatch, only the most recent
// star needs to absorb one more character, because every other token
// matches a fixed string at this point.
func (g *glob) match(s, account string) bool {
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
			if n := t.matchAt(s[si:], account); n >= 0 {
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
func (t *token) matchAt(s, account string) int {
	switch t.kind {
	case tokOne:
		if s == "" {
			return -1
		}
		_, n := utf8.DecodeRuneInString(s)
		return n
	case tokAccount:
		return prefixLen(s, account)
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
