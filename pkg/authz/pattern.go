package authz

// Pattern is a glob of the ACL's syntax without variables: '*' matches any
// run of characters, '/' included, and '?' exactly one. Other packages
// match with it so that one syntax serves every pattern of the
// configuration (a federation rule's claim globs).
type Pattern struct {
	g    glob
	text string
}

// CompilePattern compiles pattern; "" matches anything.
func CompilePattern(pattern string) (Pattern, error) {
	g, err := parseGlob(pattern, false)
	return Pattern{g: g, text: pattern}, err
}

// Match reports whether s matches the pattern.
func (p Pattern) Match(s string) bool { return p.g.match(s, nil) }

// String is the pattern as written.
func (p Pattern) String() string { return p.text }
