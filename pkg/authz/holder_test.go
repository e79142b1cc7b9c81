package authz_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/scope"
)

// The Holder stands where the grant service wants an authorizer.
var _ grant.Authorizer = (*authz.Holder)(nil)

func compile(t *testing.T, account, name string) *authz.ACL {
	t.Helper()
	acl, err := authz.Compile([]authz.Rule{{Account: &account, Type: "repository", Name: name, Actions: []string{"pull"}}})
	if err != nil {
		t.Fatal(err)
	}
	return acl
}

func TestHolderSwapsTheACL(t *testing.T) {
	before, after := compile(t, "alice", "old/*"), compile(t, "alice", "new/*")
	h := authz.NewHolder(before)
	req := authz.Request{Account: "alice"}
	asked := []scope.Scope{{Type: "repository", Name: "new/app", Actions: []string{"pull"}}}
	rules := make([]int, 1)
	if got := h.AuthorizeRules(req, asked, rules); len(got) != 0 || rules[0] != -1 {
		t.Fatalf("before the swap: granted %v by rule %d, want nothing (no rule)", got, rules[0])
	}
	h.Store(after)
	if h.Load() != after {
		t.Error("Load does not return the stored ACL")
	}
	got := h.AuthorizeRules(req, asked, rules)
	if len(got) != 1 || !slices.Equal(got[0].Actions, []string{"pull"}) || rules[0] != 0 {
		t.Errorf("after the swap: granted %v by rule %d, want pull by rule 0", got, rules[0])
	}
}

func TestHolderRefusesNil(t *testing.T) {
	h := authz.NewHolder(compile(t, "a", "*"))
	defer func() {
		if recover() == nil {
			t.Error("Store(nil) did not panic")
		}
	}()
	h.Store(nil)
}

// Requests and swaps race freely (go test -race): every request sees one
// whole ACL, the old or the new.
func TestHolderConcurrentSwap(t *testing.T) {
	a, b := compile(t, "alice", "a/*"), compile(t, "alice", "b/*")
	h := authz.NewHolder(a)
	asked := []scope.Scope{
		{Type: "repository", Name: "a/x", Actions: []string{"pull"}},
		{Type: "repository", Name: "b/x", Actions: []string{"pull"}},
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				if got := h.AuthorizeRules(authz.Request{Account: "alice"}, asked, nil); len(got) != 1 {
					t.Errorf("granted %v, want exactly one scope: one ACL per request", got)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 500 {
			h.Store([]*authz.ACL{a, b}[i%2])
		}
	})
	wg.Wait()
}
