package grant_test

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/audit/audittest"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/clocktest"
	"github.com/tollgate/tollgate/pkg/grant"
)

// reuseFixture is the example ACL's grant service with token reuse on, a
// fake clock and an audit recorder.
func reuseFixture(t *testing.T, window time.Duration, size int) (*grant.Service, *clocktest.Clock, *audittest.Recorder) {
	t.Helper()
	f := newFixture(t, "registry.local")
	clock := clocktest.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	rec := &audittest.Recorder{}
	f.svc.Minter.Now = clock.Now
	f.svc.Reuse = grant.NewReuse(window, size)
	f.svc.Audit = rec
	return f.svc, clock, rec
}

func issue(t *testing.T, svc *grant.Service, id authn.Identity, scopes ...string) grant.Result {
	t.Helper()
	res, err := svc.Issue(context.Background(), grant.Request{GrantType: grant.TypeGet, Identity: id,
		Service: "registry.local", Scopes: mustParse(t, scopes...)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// An identical grant within the window gets the token already minted, its
// expires_in counted down; after the window, a new one.
func TestReuseWithinTheWindow(t *testing.T) {
	svc, clock, rec := reuseFixture(t, 30*time.Second, 10)
	first := issue(t, svc, alice, "repository:alice/app:pull")
	if first.Reused || first.ExpiresIn != 5*time.Minute {
		t.Fatalf("first: reused %v, expires in %s, want a fresh 5m token", first.Reused, first.ExpiresIn)
	}
	clock.Advance(12*time.Second + 400*time.Millisecond)
	again := issue(t, svc, alice, "repository:alice/app:pull")
	if !again.Reused || again.Token.Raw != first.Token.Raw {
		t.Fatalf("within the window: reused %v, same token %v", again.Reused, again.Token.Raw == first.Token.Raw)
	}
	if want := 4*time.Minute + 47*time.Second; again.ExpiresIn != want {
		t.Errorf("expires in %s, want %s (counted down, whole seconds)", again.ExpiresIn, want)
	}
	if ev := rec.Events(); len(ev) != 2 || ev[1].Detail != "rules=repository:alice/app:1 reused" {
		t.Errorf("audit = %+v, want the reuse audited", ev)
	}
	clock.Advance(18 * time.Second) // 30.4s after minting
	if late := issue(t, svc, alice, "repository:alice/app:pull"); late.Reused || late.Token.Raw == first.Token.Raw {
		t.Errorf("after the window the token was reused")
	}
}

// Anything the token says, the password it was proved with, or the
// signing key, differing makes another grant.
func TestReuseOnlyForIdenticalGrants(t *testing.T) {
	svc, _, _ := reuseFixture(t, time.Minute, 100)
	base := issue(t, svc, alice, "repository:alice/app:pull").Token.Raw
	readToken := alice
	readToken.Role, readToken.Kind, readToken.TokenID = "read", authn.KindAPIToken, "0123456789abcdef"
	revoked := alice
	revoked.NotBefore = time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)
	newPassword := alice
	newPassword.Epoch = "e2"
	grouped := alice
	grouped.Attrs = &authn.Attributes{Groups: []string{"ops"}}
	for name, id := range map[string]authn.Identity{
		"another user": admin, "an API token": readToken, "after revoke-tokens": revoked,
		"another password": newPassword, "other groups": grouped,
	} {
		if got := issue(t, svc, id, "repository:alice/app:pull"); got.Reused && got.Token.Raw == base {
			t.Errorf("%s got alice's token", name)
		}
	}
	if got := issue(t, svc, alice, "repository:alice/app:pull,push"); got.Token.Raw == base {
		t.Errorf("other access got the same token")
	}
	svc.Reuse.Clear()
	if got := issue(t, svc, alice, "repository:alice/app:pull"); got.Reused {
		t.Errorf("reused after Clear")
	}
}

// The cache keeps at most size tokens, evicting the least recently used.
func TestReuseIsBounded(t *testing.T) {
	svc, _, _ := reuseFixture(t, time.Minute, 2)
	a := issue(t, svc, alice, "repository:alice/a:pull").Token.Raw
	issue(t, svc, alice, "repository:alice/b:pull")
	issue(t, svc, alice, "repository:alice/a:pull") // a is now the most recent
	issue(t, svc, alice, "repository:alice/c:pull") // evicts b
	if n := svc.Reuse.Len(); n != 2 {
		t.Errorf("%d tokens kept, want 2", n)
	}
	if got := issue(t, svc, alice, "repository:alice/a:pull"); !got.Reused || got.Token.Raw != a {
		t.Errorf("the most recently used token was evicted")
	}
	if got := issue(t, svc, alice, "repository:alice/b:pull"); got.Reused {
		t.Errorf("the least recently used token was kept")
	}
}

func TestReuseOff(t *testing.T) {
	if grant.NewReuse(0, 100) != nil {
		t.Error("a zero window made a cache")
	}
	var off *grant.Reuse
	off.Clear() // safe on nil
}
