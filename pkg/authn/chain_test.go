package authn_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn"
)

// stub answers every request the same way and counts its calls.
type stub struct {
	name  string
	err   error
	calls int
}

func (s *stub) Authenticate(context.Context, string, authn.Secret) (authn.Identity, error) {
	s.calls++
	if s.err != nil {
		return authn.Identity{}, s.err
	}
	return authn.Identity{Name: "alice", Source: s.name}, nil
}

var errInternal = errors.New("backend down")

func TestChainAuthenticate(t *testing.T) {
	noUser := func(n string) *stub { return &stub{name: n, err: authn.ErrNoSuchUser} }
	badPass := func(n string) *stub { return &stub{name: n, err: authn.ErrBadCredentials} }
	ok := func(n string) *stub { return &stub{name: n} }
	broken := func(n string) *stub { return &stub{name: n, err: errInternal} }

	tests := []struct {
		name       string
		members    []*stub
		wantSource string
		wantErr    error
		wantCalls  []int
	}{
		{"empty chain", nil, "", authn.ErrNoSuchUser, nil},
		{"first succeeds", []*stub{ok("a"), ok("b")}, "a", nil, []int{1, 0}},
		{"falls through on no such user", []*stub{noUser("a"), ok("b")}, "b", nil, []int{1, 1}},
		{"all say no such user", []*stub{noUser("a"), noUser("b")}, "", authn.ErrNoSuchUser, []int{1, 1}},
		{"stops on bad credentials", []*stub{badPass("a"), ok("b")}, "", authn.ErrBadCredentials, []int{1, 0}},
		{"bad credentials after fall through", []*stub{noUser("a"), badPass("b"), ok("c")}, "", authn.ErrBadCredentials, []int{1, 1, 0}},
		{"stops on internal error", []*stub{broken("a"), ok("b")}, "", errInternal, []int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chain authn.Chain
			for _, m := range tt.members {
				chain = append(chain, m)
			}
			id, err := chain.Authenticate(context.Background(), "alice", "pw")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if id.Source != tt.wantSource {
				t.Errorf("source = %q, want %q", id.Source, tt.wantSource)
			}
			for i, m := range tt.members {
				if m.calls != tt.wantCalls[i] {
					t.Errorf("member %d called %d times, want %d", i, m.calls, tt.wantCalls[i])
				}
			}
			if errors.Is(err, authn.ErrNoSuchUser) && errors.Is(err, authn.ErrBadCredentials) {
				t.Errorf("err %v is both sentinels", err)
			}
		})
	}
}

// lookupStub is an authenticator that can also look users up.
type lookupStub struct {
	stub
	found   bool
	err     error
	version uint64
}

func (l *lookupStub) Exists(context.Context, string) (bool, error) { return l.found, l.err }
func (l *lookupStub) Version() uint64                              { return l.version }

func TestChainExists(t *testing.T) {
	tests := []struct {
		name    string
		chain   authn.Chain
		want    bool
		wantErr error
	}{
		{"no member can look up", authn.Chain{&stub{}}, false, authn.ErrLookupUnsupported},
		{"skips members without lookup", authn.Chain{&stub{}, &lookupStub{found: true}}, true, nil},
		{"none knows the user", authn.Chain{&lookupStub{}, &lookupStub{}}, false, nil},
		{"error does not hide a yes", authn.Chain{&lookupStub{err: errInternal}, &lookupStub{found: true}}, true, nil},
		{"error without a yes", authn.Chain{&lookupStub{err: errInternal}, &lookupStub{}}, false, errInternal},
		{"unsupported inner is skipped", authn.Chain{&lookupStub{err: authn.ErrLookupUnsupported}, &lookupStub{}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.chain.Exists(context.Background(), "alice")
			if got != tt.want {
				t.Errorf("Exists = %v, want %v", got, tt.want)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestChainVersion(t *testing.T) {
	a, b := &lookupStub{version: 3}, &lookupStub{version: 4}
	chain := authn.Chain{a, &stub{}, b}
	if got := chain.Version(); got != 7 {
		t.Fatalf("Version = %d, want 7", got)
	}
	b.version++
	if got := chain.Version(); got != 8 {
		t.Fatalf("Version after bump = %d, want 8", got)
	}
}

// A member that answers for another spelling of the name (a directory
// matching ALICE to alice) does not decide for a user an earlier member
// knows: that member has the last word on its user.
func TestChainRespelledName(t *testing.T) {
	tests := []struct {
		name    string
		earlier *lookupStub // says no such user for ALICE; knows alice when found
		wantErr error
	}{
		{"earlier member knows the name", &lookupStub{stub: stub{err: authn.ErrNoSuchUser}, found: true}, authn.ErrBadCredentials},
		{"no earlier member knows it", &lookupStub{stub: stub{err: authn.ErrNoSuchUser}}, nil},
		{"earlier member cannot tell", &lookupStub{stub: stub{err: authn.ErrNoSuchUser}, err: errInternal}, errInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := authn.Chain{tt.earlier, &stub{name: "directory"}}.Authenticate(context.Background(), "ALICE", "pw")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if (err == nil) != (id.Name == "alice") {
				t.Errorf("identity %+v with err %v", id, err)
			}
		})
	}
}
