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
// store.Store but Close is forwarded after ctx, cancel := b.bound(ctx), so
// that none reaches a database that does not answer unbounded (the calls
// above show the bound works; this shows each method has it).
func TestWithTimeoutBoundsEveryMethod(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "timeout.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	bounded := map[string]bool{}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || fn.Body == nil || len(fn.Body.List) == 0 {
			continue
		}
		bounded[fn.Name.Name] = startsWithBound(fn.Body.List[0])
	}
	methods := reflect.TypeFor[store.Store]()
	for i := range methods.NumMethod() {
		name := methods.Method(i).Name
		if name == "Close" {
			continue
		}
		if !bounded[name] {
			t.Errorf("timeoutStore.%s does not start with ctx, cancel := b.bound(ctx)", name)
		}
	}
}

// startsWithBound reports whether stmt is `ctx, cancel := b.bound(ctx)`.
func startsWithBound(stmt ast.Stmt) bool {
	as, ok := stmt.(*ast.AssignStmt)
	if !ok || len(as.Lhs) != 2 || len(as.Rhs) != 1 {
		return false
	}
	call, ok := as.Rhs[0].(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "bound" || len(call.Args) != 1 {
		return false
	}
	ctx, ok := as.Lhs[0].(*ast.Ident)
	arg, argOK := call.Args[0].(*ast.Ident)
	return ok && argOK && ctx.Name == "ctx" && arg.Name == "ctx"
}
