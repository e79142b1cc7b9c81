package verify_test

import (
	"go/parser"
	"go/token"
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
