package verify_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestVerifyImportsNothingOfTollgate keeps the package importable by other
// people's services: standard library and golang-jwt only.
func TestVerifyImportsNothingOfTollgate(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") && path != "github.com/golang-jwt/jwt/v5" {
				t.Errorf("%s imports %s: only the standard library and golang-jwt/jwt/v5 are allowed", f, path)
			}
		}
	}
}

// TestModuleRequiresOnlyGolangJWT keeps the module's own dependency graph
// as small as its imports: a service that requires this module gets
// golang-jwt and nothing of the server's graph. The go directive stays at
// 1.22, the oldest Go this module supports.
func TestModuleRequiresOnlyGolangJWT(t *testing.T) {
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var requires []string
	inBlock := false
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(strings.SplitN(line, "//", 2)[0])
		switch {
		case len(fields) == 0:
		case inBlock && fields[0] == ")":
			inBlock = false
		case inBlock:
			requires = append(requires, fields[0])
		case fields[0] == "require" && len(fields) > 1 && fields[1] == "(":
			inBlock = true
		case fields[0] == "require" && len(fields) > 1:
			requires = append(requires, fields[1])
		case fields[0] == "go" && len(fields) > 1 && fields[1] != "1.22":
			t.Errorf("go.mod says go %s; want 1.22, the oldest Go this module supports", fields[1])
		case fields[0] == "replace" || fields[0] == "toolchain":
			t.Errorf("go.mod has %q: a library module's replace and toolchain lines only confuse its importers", line)
		}
	}
	if len(requires) != 1 || requires[0] != "github.com/golang-jwt/jwt/v5" {
		t.Errorf("go.mod requires %q; want only github.com/golang-jwt/jwt/v5", requires)
	}
}
