package scope

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// validScopes are well-formed scopes and what Parse must make of them.
var validScopes = []struct {
	name string
	in   string
	want Scope
}{
	{"plain", "repository:library/ubuntu:pull",
		Scope{Type: "repository", Name: "library/ubuntu", Actions: []string{"pull"}}},
	{"single component", "repository:ubuntu:pull",
		Scope{Type: "repository", Name: "ubuntu", Actions: []string{"pull"}}},
	{"class", "repository(plugin):vieux/sshfs:pull",
		Scope{Type: "repository", Class: "plugin", Name: "vieux/sshfs", Actions: []string{"pull"}}},
	{"class with capitals", "repository(Plugin2):vieux/sshfs:pull",
		Scope{Type: "repository", Class: "Plugin2", Name: "vieux/sshfs", Actions: []string{"pull"}}},
	{"host and port", "repository:localhost:5000/foo/bar:pull",
		Scope{Type: "repository", Name: "localhost:5000/foo/bar", Actions: []string{"pull"}}},
	{"dotted host", "repository:registry.example.com/team/app:push",
		Scope{Type: "repository", Name: "registry.example.com/team/app", Actions: []string{"push"}}},
	{"host with capitals, dash and port", "repository:My-Registry.Example.com:443/app:pull",
		Scope{Type: "repository", Name: "My-Registry.Example.com:443/app", Actions: []string{"pull"}}},
	{"nested path", "repository:a/b/c/d/e:pull",
		Scope{Type: "repository", Name: "a/b/c/d/e", Actions: []string{"pull"}}},
	{"separators", "repository:my.app__x-y---z_w/f00:pull",
		Scope{Type: "repository", Name: "my.app__x-y---z_w/f00", Actions: []string{"pull"}}},
	{"catalog", "registry:catalog:*",
		Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}},
	{"multiple actions", "repository:alice/app:pull,push",
		Scope{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}},
	{"duplicate actions dropped", "repository:alice/app:push,pull,push,pull",
		Scope{Type: "repository", Name: "alice/app", Actions: []string{"push", "pull"}}},
	{"many duplicate actions dropped", "repository:a:" + strings.Repeat("pull,push,", 20) + "delete",
		Scope{Type: "repository", Name: "a", Actions: []string{"pull", "push", "delete"}}},
	{"unknown actions kept", "repository:alice/app:delete,foo,x_1-y",
		Scope{Type: "repository", Name: "alice/app", Actions: []string{"delete", "foo", "x_1-y"}}},
	{"wildcard beside actions", "repository:alice/app:pull,*",
		Scope{Type: "repository", Name: "alice/app", Actions: []string{"pull", "*"}}},
	{"digit type", "v2:thing:read",
		Scope{Type: "v2", Name: "thing", Actions: []string{"read"}}},
	{"other type, name with capitals", "registry:Catalog:*",
		Scope{Type: "registry", Name: "Catalog", Actions: []string{"*"}}},
	{"other type, name with colon", "registry:a:b:*",
		Scope{Type: "registry", Name: "a:b", Actions: []string{"*"}}},
	{"other type, unicode name", "thing:café/ü:read",
		Scope{Type: "thing", Name: "café/ü", Actions: []string{"read"}}},
	{"repository name of 255 bytes", "repository:" + strings.Repeat("a", 255) + ":pull",
		Scope{Type: "repository", Name: strings.Repeat("a", 255), Actions: []string{"pull"}}},
	{"scope of 1024 bytes", "registry:" + strings.Repeat("n", 1024-len("registry::*")) + ":*",
		Scope{Type: "registry", Name: strings.Repeat("n", 1024-len("registry::*")), Actions: []string{"*"}}},
}

// malformedScopes must each fail to parse.
var malformedScopes = []struct {
	name string
	in   string
}{
	{"empty", ""},
	{"type only", "repository"},
	{"no actions part", "repository:foo"},
	{"trailing colon, no actions", "repository:foo:"},
	{"trailing colon after actions", "repository:foo:pull:"},
	{"empty type", ":foo:pull"},
	{"empty name", "repository::pull"},
	{"empty name, other type", "registry::*"},
	{"uppercase type", "Repository:foo:pull"},
	{"dash in type", "repo-sitory:foo:pull"},
	{"empty class", "repository():foo:pull"},
	{"dash in class", "repository(plug-in):foo:pull"},
	{"unclosed class", "repository(plugin:foo:pull"},
	{"text after class", "repository(plugin)x:foo:pull"},
	{"two classes", "repository(a)(b):foo:pull"},
	{"uppercase repository name", "repository:Foo:pull"},
	{"uppercase path component", "repository:library/Ubuntu:pull"},
	{"leading slash", "repository:/foo:pull"},
	{"trailing slash", "repository:foo/:pull"},
	{"double slash", "repository:foo//bar:pull"},
	{"leading separator", "repository:-foo:pull"},
	{"trailing separator", "repository:foo_:pull"},
	{"two dots", "repository:foo..bar:pull"},
	{"three underscores", "repository:foo___bar:pull"},
	{"dot and dash", "repository:foo.-bar:pull"},
	{"host without path", "repository:localhost:5000:pull"},
	{"port not numeric", "repository:host:port/foo:pull"},
	{"empty port", "repository:host:/foo:pull"},
	{"two ports", "repository:host:1:2/foo:pull"},
	{"bad host", "repository:-host:5000/foo:pull"},
	{"underscore in host", "repository:my_host:5000/foo:pull"},
	{"repository name too long", "repository:" + strings.Repeat("a", 256) + ":pull"},
	{"repository name with host too long", "repository:example.com/" + strings.Repeat("a", 244) + ":pull"},
	{"uppercase action", "repository:foo:PULL"},
	{"action starting with digit", "repository:foo:1pull"},
	{"action with punctuation", "repository:foo:pull!"},
	{"double wildcard", "repository:foo:**"},
	{"space in action", "repository:foo:pu ll"},
	{"empty action between", "repository:foo:pull,,push"},
	{"trailing comma", "repository:foo:pull,"},
	{"leading comma", "repository:foo:,pull"},
	{"only comma", "repository:foo:,"},
	{"too long", "registry:" + strings.Repeat("n", 1025-len("registry::*")) + ":*"},
	{"space in name", "registry:cat alog:*"},
	{"space in repository name", "repository:foo bar:pull"},
	{"tab in name", "registry:cat\talog:*"},
	{"newline in name", "registry:catalog\n:*"},
	{"NUL in name", "registry:cat\x00alog:*"},
	{"DEL in name", "registry:cat\x7falog:*"},
	{"no-break space in name", "registry:cat\u00a0alog:*"},
	{"invalid UTF-8 in name", "registry:cat\xffalog:*"},
	{"leading space", " repository:foo:pull"},
	{"two scopes", "repository:a:pull repository:b:pull"},
}

func equal(a, b Scope) bool {
	return a.Type == b.Type && a.Class == b.Class && a.Name == b.Name &&
		slices.Equal(a.Actions, b.Actions)
}

func TestParse(t *testing.T) {
	for _, tc := range validScopes {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !equal(got, tc.want) {
				t.Errorf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range malformedScopes {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %#v, %v; want ErrMalformed", tc.in, got, err)
			}
			if !equal(got, Scope{}) {
				t.Errorf("Parse(%q) returned %#v beside the error", tc.in, got)
			}
			if !strings.Contains(err.Error(), quote(tc.in)) {
				t.Errorf("error %q does not name the scope", err)
			}
		})
	}
}

func TestErrorTruncatesScope(t *testing.T) {
	long := "repository:" + strings.Repeat("A", 5000) + ":pull"
	_, err := Parse(long)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Parse: %v, want ErrMalformed", err)
	}
	msg := err.Error()
	if len(msg) > 200 {
		t.Errorf("error is %d bytes long: %q", len(msg), msg)
	}
	if !strings.Contains(msg, `"repository:AAAA`) {
		t.Errorf("error %q does not name the scope", msg)
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, in := range []string{
		"repository:library/ubuntu:pull",
		"repository:alice/app:pull,push",
		"repository(plugin):vieux/sshfs:pull",
		"repository:localhost:5000/foo/bar:pull,push,delete",
		"registry:catalog:*",
		"registry:a:b:*",
	} {
		t.Run(in, func(t *testing.T) {
			sc, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", in, err)
			}
			if got := sc.String(); got != in {
				t.Errorf("Parse(%q).String() = %q", in, got)
			}
		})
	}
}

func TestString(t *testing.T) {
	sc := Scope{Type: "repository", Class: "plugin", Name: "a/b", Actions: []string{"pull", "push"}}
	if got, want := sc.String(), "repository(plugin):a/b:pull,push"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// scopes returns n distinct scope strings.
func scopes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("repository:app%d:pull", i)
	}
	return out
}

func TestParseAll(t *testing.T) {
	pull := func(name string, actions ...string) Scope {
		return Scope{Type: "repository", Name: name, Actions: actions}
	}
	var maxScopes []Scope
	for i := range MaxScopes {
		maxScopes = append(maxScopes, pull(fmt.Sprintf("app%d", i), "pull"))
	}
	tests := []struct {
		name   string
		params []string
		want   []Scope
	}{
		{"nil", nil, nil},
		{"blank params", []string{"", "   "}, nil},
		{"one", []string{"repository:a:pull"}, []Scope{pull("a", "pull")}},
		{"two params", []string{"repository:a:pull", "registry:catalog:*"},
			[]Scope{pull("a", "pull"), {Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
		{"two in one param", []string{"repository:a:pull repository:b:push"},
			[]Scope{pull("a", "pull"), pull("b", "push")}},
		{"many spaces", []string{"  repository:a:pull    repository:b:push  "},
			[]Scope{pull("a", "pull"), pull("b", "push")}},
		{"params and spaces", []string{"repository:a:pull repository:b:push", "", "repository:c:pull"},
			[]Scope{pull("a", "pull"), pull("b", "push"), pull("c", "pull")}},
		{"merge", []string{"repository:a:pull", "repository:b:pull repository:a:push,pull,delete"},
			[]Scope{pull("a", "pull", "push", "delete"), pull("b", "pull")}},
		{"merge duplicates", []string{"repository:a:pull repository:a:pull"},
			[]Scope{pull("a", "pull")}},
		{"no merge across classes", []string{"repository:a:pull repository(plugin):a:push"},
			[]Scope{pull("a", "pull"), {Type: "repository", Class: "plugin", Name: "a", Actions: []string{"push"}}}},
		{"no merge across types", []string{"registry:a:* repository:a:pull"},
			[]Scope{{Type: "registry", Name: "a", Actions: []string{"*"}}, pull("a", "pull")}},
		{"merge many actions", slices.Repeat([]string{"repository:a:" + strings.Repeat("a,b,c,d,e,f,g,h,", 5) + "i"}, 3),
			[]Scope{pull("a", "a", "b", "c", "d", "e", "f", "g", "h", "i")}},
		{"max scopes", scopes(MaxScopes), maxScopes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAll(tc.params)
			if err != nil {
				t.Fatalf("ParseAll(%q): %v", tc.params, err)
			}
			if tc.want == nil && got != nil {
				t.Fatalf("ParseAll(%q) = %#v, want nil", tc.params, got)
			}
			if !slices.EqualFunc(got, tc.want, equal) {
				t.Errorf("ParseAll(%q) =\n%#v\nwant\n%#v", tc.params, got, tc.want)
			}
		})
	}
}

func TestParseAllMalformed(t *testing.T) {
	tests := []struct {
		name   string
		params []string
	}{
		{"too many scopes", scopes(MaxScopes + 1)},
		{"too many in one param", []string{strings.Join(scopes(MaxScopes+1), " ")}},
		{"too many duplicates", slices.Repeat([]string{"repository:a:pull"}, MaxScopes+1)},
		{"one bad among good", []string{"repository:a:pull", "repository:b:push repository:C:pull"}},
		{"tab separator", []string{"repository:a:pull\trepository:b:pull"}},
		{"newline separator", []string{"repository:a:pull\nrepository:b:pull"}},
		{"tab only", []string{"\t"}},
		{"too long", []string{"registry:" + strings.Repeat("n", 2000) + ":*"}},
		{"empty action", []string{"repository:a:pull,"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAll(tc.params)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseAll(%q) = %#v, %v; want ErrMalformed", tc.params, got, err)
			}
			if got != nil {
				t.Errorf("ParseAll(%q) returned %#v beside the error", tc.params, got)
			}
		})
	}
}

func TestHas(t *testing.T) {
	tests := []struct {
		actions []string
		action  string
		want    bool
	}{
		{[]string{"pull", "push"}, "push", true},
		{[]string{"pull"}, "push", false},
		{nil, "pull", false},
		{[]string{"*"}, "delete", true},
		{[]string{"*"}, "*", true},
		{[]string{"pull", "push"}, "*", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%s", tc.actions, tc.action), func(t *testing.T) {
			sc := Scope{Type: "repository", Name: "a", Actions: tc.actions}
			if got := sc.Has(tc.action); got != tc.want {
				t.Errorf("%v.Has(%q) = %v, want %v", tc.actions, tc.action, got, tc.want)
			}
		})
	}
}

func TestIntersect(t *testing.T) {
	tests := []struct {
		name      string
		requested []string
		allowed   []string
		want      []string
	}{
		{"subset", []string{"pull", "push"}, []string{"pull"}, []string{"pull"}},
		{"request order kept", []string{"push", "delete", "pull"}, []string{"pull", "push"}, []string{"push", "pull"}},
		{"nothing allowed", []string{"pull", "push"}, nil, []string{}},
		{"disjoint", []string{"push"}, []string{"pull"}, []string{}},
		{"wildcard allows all", []string{"pull", "delete"}, []string{"*"}, []string{"pull", "delete"}},
		{"wildcard requested, not allowed", []string{"*"}, []string{"pull", "push"}, []string{}},
		{"wildcard requested and allowed", []string{"*"}, []string{"*"}, []string{"*"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := Scope{Type: "repository", Name: "a/b", Actions: slices.Clone(tc.requested)}
			got := req.Intersect(tc.allowed)
			want := Scope{Type: "repository", Name: "a/b", Actions: tc.want}
			if !equal(got, want) {
				t.Errorf("Intersect(%q) = %#v, want %#v", tc.allowed, got, want)
			}
			if got.Actions == nil {
				t.Errorf("Intersect(%q) actions are nil, want an empty slice", tc.allowed)
			}
			if !slices.Equal(req.Actions, tc.requested) {
				t.Errorf("Intersect changed the request to %q", req.Actions)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range validScopes {
		f.Add(tc.in)
	}
	for _, tc := range malformedScopes {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sc, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q): %v, want ErrMalformed", in, err)
			}
		} else {
			checkCanonical(t, sc)
		}
		all, err := ParseAll([]string{in})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseAll(%q): %v, want ErrMalformed", in, err)
			}
			return
		}
		if len(all) > MaxScopes {
			t.Fatalf("ParseAll(%q) gave %d scopes", in, len(all))
		}
		for i, sc := range all {
			checkCanonical(t, sc)
			for _, other := range all[:i] {
				if other.Type == sc.Type && other.Class == sc.Class && other.Name == sc.Name {
					t.Fatalf("ParseAll(%q) did not merge %q and %q", in, other, sc)
				}
			}
		}
	})
}

// checkCanonical checks that a parsed scope has actions without repeats and
// that its String form parses back to it.
func checkCanonical(t *testing.T, sc Scope) {
	t.Helper()
	if len(sc.Actions) == 0 {
		t.Fatalf("%#v has no actions", sc)
	}
	for i, a := range sc.Actions {
		if slices.Contains(sc.Actions[:i], a) {
			t.Fatalf("%#v repeats action %q", sc, a)
		}
	}
	s := sc.String()
	again, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q) of String() of %#v: %v", s, sc, err)
	}
	if !equal(again, sc) {
		t.Fatalf("Parse(%q) = %#v, want %#v", s, again, sc)
	}
}

func BenchmarkParseAll(b *testing.B) {
	for _, bc := range []struct {
		name   string
		params []string
	}{
		{"one param", []string{"repository:alice/app:pull,push repository:library/base:pull"}},
		{"two params", []string{"repository:alice/app:pull,push", "repository:library/base:pull"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseAll(bc.params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
