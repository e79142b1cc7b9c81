package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

// users are password users with epochs; names can come and go.
type users struct {
	mu     sync.Mutex
	epochs map[string]string
}

func (u *users) Exists(_ context.Context, name string) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.epochs[name]
	return ok, nil
}

func (u *users) Epoch(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.epochs[name]
}

func (u *users) set(name, epoch string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if epoch == "" {
		delete(u.epochs, name)
		return
	}
	u.epochs[name] = epoch
}

// auditLog keeps the events written.
type auditLog struct {
	mu     sync.Mutex
	events []store.AuditEvent
}

func (a *auditLog) Write(_ context.Context, ev store.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, ev)
	return nil
}

func (a *auditLog) kinds() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var k []string
	for _, e := range a.events {
		k = append(k, e.Kind)
	}
	return strings.Join(k, " ")
}

type fixture struct {
	svc   *accounts.Service
	store store.Store
	users *users
	audit *auditLog
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &users{epochs: map[string]string{"alice": "e1", "bob": "e1", "root": "e1"}}
	a := &auditLog{}
	return &fixture{svc: &accounts.Service{Store: st, Users: u, Admins: []string{"root"}, Audit: a}, store: st, users: u, audit: a}
}

func (f *fixture) login(t *testing.T, name string) authn.Identity {
	t.Helper()
	id, err := f.svc.Admit(context.Background(), authn.Identity{Name: name, Source: "htpasswd", Epoch: f.users.Epoch(name)})
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return id
}

// TestAdmitPasswordLogin: a password login gets its account (created the
// first time, the same one afterwards) and the admin flag.
func TestAdmitPasswordLogin(t *testing.T) {
	f := newFixture(t)
	alice := f.login(t, "alice")
	if alice.AccountID == "" || alice.Admin {
		t.Fatalf("alice = %+v, want an account and no admin", alice)
	}
	if again := f.login(t, "alice"); again.AccountID != alice.AccountID {
		t.Errorf("second login got account %s, first %s", again.AccountID, alice.AccountID)
	}
	if root := f.login(t, "root"); !root.Admin || !root.ActsAsAdmin() {
		t.Errorf("root = %+v, want an admin (users.admins)", root)
	}
	if _, err := f.svc.Update(context.Background(), "bob", accounts.Profile{Type: ptr(store.AccountAdmin)}, "t"); err != nil {
		t.Fatal(err)
	}
	if bob := f.login(t, "bob"); !bob.Admin {
		t.Errorf("bob of type admin = %+v, want an admin", bob)
	}
	anon, err := f.svc.Admit(context.Background(), authn.Identity{})
	if err != nil || anon != (authn.Identity{}) {
		t.Errorf("anonymous = %+v, %v", anon, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestAdmitStoredCredential: an identity a stored credential vouched for
// is admitted only while its account is the one it was issued to, the
// name is a user, the account is enabled and, for a refresh token, the
// password is the one it was issued under.
func TestAdmitStoredCredential(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		change  func(t *testing.T, f *fixture)
		wantErr error
	}{
		{"as issued", func(*testing.T, *fixture) {}, nil},
		{"disabled", func(t *testing.T, f *fixture) {
			if _, err := f.svc.SetEnabled(ctx, "alice", false, "t"); err != nil {
				t.Fatal(err)
			}
		}, authn.ErrDisabled},
		{"new password", func(_ *testing.T, f *fixture) { f.users.set("alice", "e2") }, authn.ErrBadCredentials},
		{"no longer a user", func(_ *testing.T, f *fixture) { f.users.set("alice", "") }, authn.ErrBadCredentials},
		{"removed and added again", func(t *testing.T, f *fixture) {
			if _, _, err := f.svc.Remove(ctx, "alice", "t", "t"); err != nil {
				t.Fatal(err)
			}
			f.login(t, "alice")
		}, authn.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			stored := f.login(t, "alice") // what a refresh token records
			stored.Source = "refresh_token"
			tt.change(t, f)
			got, err := f.svc.Admit(ctx, stored)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Admit = %+v, %v; want %v", got, err, tt.wantErr)
			}
		})
	}
}

// TestAdmitPasswordThroughTheCache: a change made elsewhere reaches a
// password login within CacheTTL; one made here at once; a store that does
// not answer is replaced by the last account read.
func TestAdmitPasswordThroughTheCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.svc.Now, f.svc.CacheTTL = func() time.Time { return now }, time.Second
	f.login(t, "alice")
	// Another replica disables alice: this one sees it after CacheTTL.
	acct, err := f.store.Account(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	disabled := store.AccountDisabled
	if _, err := f.store.UpdateAccount(ctx, acct.ID, store.AccountChange{State: &disabled, At: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Admit(ctx, authn.Identity{Name: "alice"}); err != nil {
		t.Errorf("within the cache time: %v", err)
	}
	if _, err := f.svc.Confirm(ctx, authn.Identity{Name: "alice", AccountID: acct.ID}); !errors.Is(err, authn.ErrDisabled) {
		t.Errorf("Confirm within the cache time: err = %v, want ErrDisabled (it reads the store)", err)
	}
	now = now.Add(time.Second)
	if _, err := f.svc.Admit(ctx, authn.Identity{Name: "alice"}); !errors.Is(err, authn.ErrDisabled) {
		t.Errorf("after the cache time: err = %v, want ErrDisabled", err)
	}
	// Here: at once.
	if _, err := f.svc.SetEnabled(ctx, "alice", true, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Admit(ctx, authn.Identity{Name: "alice"}); err != nil {
		t.Errorf("enabled here: %v", err)
	}
	// The store goes away: the last account read stands in.
	now = now.Add(time.Hour)
	f.store.Close()
	id, err := f.svc.Admit(ctx, authn.Identity{Name: "alice"})
	if err != nil || id.AccountID == "" {
		t.Errorf("store away, alice known: %+v, %v; want her last account", id, err)
	}
	id, err = f.svc.Admit(ctx, authn.Identity{Name: "root"})
	if err != nil || id.AccountID != "" || !id.Admin {
		t.Errorf("store away, root never read: %+v, %v; want no account, admin from users.admins", id, err)
	}
	if _, err := f.svc.Admit(ctx, authn.Identity{Name: "alice", AccountID: "x"}); err == nil {
		t.Error("a stored credential admitted while the store is away")
	}
}

// TestRevokeTokens ends what a user holds, by kind, and audits it; with
// the engine kind, access tokens issued up to now are refused.
func TestRevokeTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := f.login(t, "alice")
	now := time.Date(2026, 1, 1, 0, 0, 0, 400, time.UTC)
	f.svc.Now = func() time.Time { return now }
	if err := f.store.CreateAPIToken(ctx, store.APIToken{Hash: "h", Owner: "alice", AccountID: alice.AccountID, Role: "read",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.RevokeTokens(ctx, "alice", store.KindAPIToken, "root")
	if err != nil || r != (store.Revoked{APITokens: 1}) {
		t.Fatalf("RevokeTokens(api) = %+v, %v", r, err)
	}
	if _, err := f.svc.AdmitToken(ctx, alice, now); err != nil {
		t.Errorf("access token after an API-token-only revocation: %v", err)
	}
	if _, err := f.svc.RevokeTokens(ctx, "alice", store.KindEngineRefresh, "root"); err != nil {
		t.Fatal(err)
	}
	for _, issued := range []time.Time{now.Truncate(time.Second), now.Add(-time.Hour)} {
		if _, err := f.svc.AdmitToken(ctx, alice, issued); !errors.Is(err, authn.ErrBadCredentials) {
			t.Errorf("token issued %v, before the revocation: err = %v", issued, err)
		}
	}
	if _, err := f.svc.AdmitToken(ctx, alice, now.Truncate(time.Second).Add(time.Second)); err != nil {
		t.Errorf("token issued after the revocation: %v", err)
	}
	if _, err := f.svc.RevokeTokens(ctx, "nobody", store.AllKinds, "root"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("unknown user: err = %v, want ErrNotFound", err)
	}
	if got := f.audit.kinds(); got != "user.tokens_revoked user.tokens_revoked" {
		t.Errorf("audit = %q", got)
	}
	if ev := f.audit.events[0]; ev.Subject != "root" || !strings.Contains(ev.Detail, "user=alice") || !strings.Contains(ev.Detail, "api_tokens=1") {
		t.Errorf("audit event %+v", ev)
	}
}

// TestCreateEndsAnEarlierAccount: adding a name whose account was left
// behind ends that account and everything bound to it.
func TestCreateEndsAnEarlierAccount(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old := f.login(t, "alice")
	if err := f.store.CreateRefreshToken(ctx, store.RefreshToken{Hash: "r", Subject: "alice", AccountID: old.AccountID,
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	acct, err := f.svc.Create(ctx, "alice", "alice@example.com", store.AccountService, "(cli)")
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID == old.AccountID || acct.Type != store.AccountService || acct.Email != "alice@example.com" {
		t.Errorf("new account %+v, old id %s", acct, old.AccountID)
	}
	if r, _ := f.store.RefreshToken(ctx, "r"); r.RevokedAt.IsZero() {
		t.Error("the earlier account's refresh token survived")
	}
	if got := f.audit.kinds(); got != "user.removed user.added" {
		t.Errorf("audit = %q", got)
	}
	for _, bad := range []struct{ email, typ string }{{"no-at-sign", "user"}, {"a@b", "root"}, {"a b@c", "user"}} {
		if _, err := f.svc.Create(ctx, "carol", bad.email, bad.typ, "t"); err == nil {
			t.Errorf("Create(%q, %q) accepted", bad.email, bad.typ)
		}
	}
}

// TestPasswordChangedKeepsTheNewEpoch: only what the old password made ends.
func TestPasswordChangedKeepsTheNewEpoch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := f.login(t, "alice")
	for _, tok := range []store.RefreshToken{{Hash: "old", Epoch: "e1"}, {Hash: "new", Epoch: "e2"}} {
		tok.Subject, tok.AccountID, tok.ExpiresAt = "alice", alice.AccountID, time.Now().Add(time.Hour)
		if err := f.store.CreateRefreshToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	f.users.set("alice", "e2")
	r, err := f.svc.PasswordChanged(ctx, "alice", accounts.FileActor, false)
	if err != nil || r.RefreshTokens != 1 {
		t.Fatalf("PasswordChanged = %+v, %v; want the e1 token ended", r, err)
	}
	if again, _ := f.svc.PasswordChanged(ctx, "alice", accounts.FileActor, false); again.Total() != 0 {
		t.Errorf("a second replica ended %+v more", again)
	}
	if got := f.audit.kinds(); got != "user.password_changed" {
		t.Errorf("audit = %q, want one event (nothing ended the second time)", got)
	}
}

// TestStartEndsAccountsOfUsersGone: at start, users get accounts and an
// account whose user left the file (older than the file) is ended; one
// younger than the file (a stale copy) is kept; an empty file ends nothing.
func TestStartEndsAccountsOfUsersGone(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.svc.Now = func() time.Time { return base }
	f.login(t, "alice")
	f.login(t, "bob") // created at base
	f.svc.Now = func() time.Time { return base.Add(2 * time.Hour) }
	f.login(t, "root") // created after the file below was written
	f.svc.Start(ctx, nil, base.Add(time.Hour))
	if all, _ := f.store.ListAccounts(ctx); len(all) != 3 {
		t.Fatalf("an empty user list ended accounts: %d left", len(all))
	}
	f.users.set("bob", "") // gone from the file, hence from the backends
	f.svc.Start(ctx, []string{"alice", "dave"}, base.Add(time.Hour))
	var names []string
	all, _ := f.store.ListAccounts(ctx)
	for _, a := range all {
		names = append(names, a.Name)
	}
	if strings.Join(names, " ") != "alice dave root" {
		t.Errorf("accounts after start = %v, want alice dave root (bob ended, root younger than the file)", names)
	}
}

// TestStartKeepsUsersOfOtherBackends: a user missing from the file but
// known to another backend (a directory), or when the backends cannot
// answer, keeps the account.
func TestStartKeepsUsersOfOtherBackends(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.svc.Now = func() time.Time { return base }
	f.login(t, "alice")
	f.login(t, "bob") // bob is a directory user: in f.users, not in the file
	f.svc.Start(ctx, []string{"alice"}, base.Add(time.Hour))
	if _, err := f.store.Account(ctx, "bob"); err != nil {
		t.Errorf("bob, a user of another backend, lost his account at start: %v", err)
	}
}

// TestApplyFollowsTheFile: added users get accounts, a new password ends
// the old refresh tokens, and a removal ends the account only if the user
// is still gone after the confirmation delay.
func TestApplyFollowsTheFile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice, bob := f.login(t, "alice"), f.login(t, "bob")
	for _, id := range []authn.Identity{alice, bob} {
		if err := f.store.CreateAPIToken(ctx, store.APIToken{Hash: "h-" + id.Name, Owner: id.Name, AccountID: id.AccountID,
			Role: "read", ExpiresAt: time.Now().Add(time.Hour)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	f.users.set("carol", "e1")
	f.users.set("alice", "")
	f.users.set("bob", "")
	go func() { // bob comes back within the confirmation delay (a file rewritten in place)
		time.Sleep(20 * time.Millisecond)
		f.users.set("bob", "e1")
	}()
	f.svc.Apply(ctx, accounts.FileChange{Added: []string{"carol"}, Removed: []string{"alice", "bob"}, Since: time.Now()},
		200*time.Millisecond)
	if _, err := f.store.Account(ctx, "carol"); err != nil {
		t.Errorf("carol has no account: %v", err)
	}
	if _, err := f.store.Account(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alice's account: err = %v, want it ended", err)
	}
	if tok, _ := f.store.APIToken(ctx, "h-alice"); tok.RevokedAt.IsZero() {
		t.Error("alice's API token survived her removal")
	}
	if tok, _ := f.store.APIToken(ctx, "h-bob"); !tok.RevokedAt.IsZero() {
		t.Error("bob, back within the delay, lost his API token")
	}
	if got := f.audit.kinds(); got != "user.removed" {
		t.Errorf("audit = %q, want one user.removed", got)
	}
}

func TestParseKinds(t *testing.T) {
	for in, want := range map[string]store.CredentialKinds{
		"":                   store.AllKinds,
		"api":                store.KindAPIToken,
		"refresh,engine":     store.KindRefresh | store.KindEngineRefresh,
		"api,refresh,engine": store.AllKinds,
	} {
		var names []string
		if in != "" {
			names = strings.Split(in, ",")
		}
		got, err := accounts.ParseKinds(names)
		if err != nil || got != want {
			t.Errorf("ParseKinds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := accounts.ParseKinds([]string{"passwords"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
	if got := accounts.KindNames(store.AllKinds); got != "refresh,engine,api" {
		t.Errorf("KindNames = %q", got)
	}
}

// TestApplyWaitsForTheFileToSettle: a file rewritten slowly in place is
// read half-written several times; a user missing from those reads is
// judged once the file has stopped changing, and kept if back by then.
func TestApplyWaitsForTheFileToSettle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.login(t, "alice")
	var version atomic.Uint64
	f.svc.FileVersion = version.Load
	f.users.set("alice", "")
	go func() { // the rewrite goes on for 300 ms, then alice is back
		for range 6 {
			time.Sleep(50 * time.Millisecond)
			version.Add(1)
		}
		f.users.set("alice", "e1")
		version.Add(1)
	}()
	f.svc.Apply(ctx, accounts.FileChange{Removed: []string{"alice"}, Since: time.Now()}, 100*time.Millisecond)
	if _, err := f.store.Account(ctx, "alice"); err != nil {
		t.Errorf("alice, back once the file settled, lost her account: %v", err)
	}
}

// Start gives every user of the file an account, in batches, keeping the
// accounts that exist as they are.
func TestStartCreatesEveryAccount(t *testing.T) {
	f := newFixture(t)
	alice := f.login(t, "alice") // an account before the start
	names := make([]string, 2500)
	for i := range names {
		names[i] = fmt.Sprintf("user-%04d", i)
	}
	names = append(names, "alice")
	f.svc.Start(context.Background(), names, time.Now())
	all, err := f.store.ListAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(names) {
		t.Fatalf("%d accounts after Start over %d users", len(all), len(names))
	}
	if got, _ := f.store.Account(context.Background(), "alice"); got.ID != alice.AccountID {
		t.Errorf("alice's account was replaced: %s, want %s", got.ID, alice.AccountID)
	}
}

// directoryUsers are users whose backend also tells their profile: bob is
// no longer in the admin group.
type directoryUsers struct{ *users }

func (directoryUsers) Profile(context.Context, string) (*authn.Attributes, error) {
	return &authn.Attributes{Groups: []string{"dev"}, Type: store.AccountUser}, nil
}

// An administrator the directory demoted loses admin through a stored
// credential too, not only at the next password login.
func TestStoredCredentialFollowsTheDirectorysType(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.svc.Users = directoryUsers{f.users}
	f.svc.Admins = nil
	bob := f.login(t, "bob")
	if _, err := f.svc.Update(ctx, "bob", accounts.Profile{Type: ptrString(store.AccountAdmin)}, "test"); err != nil {
		t.Fatal(err)
	}
	id, err := f.svc.AdmitToken(ctx, authn.Identity{Kind: authn.KindAPIToken, Name: "bob", AccountID: bob.AccountID, Role: "admin"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id.Admin || id.ActsAsAdmin() {
		t.Error("a demoted administrator's API token still acts as admin")
	}
	if acct, _ := f.store.Account(ctx, "bob"); acct.Type != store.AccountUser {
		t.Errorf("bob's account type = %q, want user (the directory's)", acct.Type)
	}
	if g := id.Groups(); len(g) != 1 || g[0] != "dev" {
		t.Errorf("groups = %v, want the directory's", g)
	}
}

func ptrString(s string) *string { return &s }
