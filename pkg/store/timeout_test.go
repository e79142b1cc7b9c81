package store_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// hanging is a store whose calls wait for their context to end, as calls
// to a database that does not answer do.
type hanging struct{ store.Store }

func (hanging) APIToken(ctx context.Context, _ string) (store.APIToken, error) {
	<-ctx.Done()
	return store.APIToken{}, ctx.Err()
}

func (hanging) AppendAudit(ctx context.Context, _ []store.AuditEvent) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hanging) Ping(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hanging) Close() error { return nil }

func TestWithTimeoutBoundsEveryCall(t *testing.T) {
	const d = 50 * time.Millisecond
	s := store.WithTimeout(hanging{}, d)
	calls := map[string]func(context.Context) error{
		"APIToken":    func(ctx context.Context) error { _, err := s.APIToken(ctx, "h"); return err },
		"AppendAudit": func(ctx context.Context) error { return s.AppendAudit(ctx, nil) },
		"Ping":        s.Ping,
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := call(context.Background())
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
			if took := time.Since(start); took < d || took > 20*d {
				t.Errorf("returned after %s, want about %s", took, d)
			}
		})
	}
	t.Run("an earlier deadline of the caller wins", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), d/5)
		defer cancel()
		start := time.Now()
		if err := s.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took >= d {
			t.Errorf("returned after %s, want before the store's %s", took, d)
		}
	})
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestWithTimeoutBoundsEveryMethod reads timeout.go: every method of
// store.Store but Close returns call(ctx, b.d, ...) or run(ctx, b.d, ...)
// around the same method of the wrapped store, so that none reaches a
// database that does not answer unbounded (the calls above show the bound
// works; this shows each method has it).
func TestWithTimeoutBoundsEveryMethod(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "timeout.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	bounded := map[string]bool{}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || fn.Body == nil || len(fn.Body.List) != 1 {
			continue
		}
		bounded[fn.Name.Name] = forwardsBounded(fn.Body.List[0], fn.Name.Name)
	}
	methods := reflect.TypeFor[store.Store]()
	for i := range methods.NumMethod() {
		name := methods.Method(i).Name
		if name == "Close" {
			continue
		}
		if !bounded[name] {
			t.Errorf("timeoutStore.%s is not return call/run(ctx, b.d, ...) around b.s.%s", name, name)
		}
	}
}

// forwardsBounded reports whether stmt is `return call(ctx, b.d, f)` or
// `return run(ctx, b.d, f)` where f is b.s.name itself or a function
// literal that returns b.s.name(ctx, ...).
func forwardsBounded(stmt ast.Stmt, name string) bool {
	ret, ok := stmt.(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return false
	}
	call, ok := ret.Results[0].(*ast.CallExpr)
	if !ok || len(call.Args) != 3 || !isIdent(call.Fun, "call") && !isIdent(call.Fun, "run") {
		return false
	}
	if !isIdent(call.Args[0], "ctx") || !isSelector(call.Args[1], "b", "d") {
		return false
	}
	if isWrapped(call.Args[2], name) {
		return true
	}
	lit, ok := call.Args[2].(*ast.FuncLit)
	if !ok || len(lit.Body.List) != 1 {
		return false
	}
	inner, ok := lit.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(inner.Results) != 1 {
		return false
	}
	fwd, ok := inner.Results[0].(*ast.CallExpr)
	return ok && isWrapped(fwd.Fun, name) && len(fwd.Args) > 0 && isIdent(fwd.Args[0], "ctx")
}

// isWrapped reports whether e is b.s.name.
func isWrapped(e ast.Expr, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == name && isSelector(sel.X, "b", "s")
}

// isSelector reports whether e is x.sel.
func isSelector(e ast.Expr, x, sel string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && s.Sel.Name == sel && isIdent(s.X, x)
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
