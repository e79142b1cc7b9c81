package accounts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
)

// TestReviewAddedNameDoesNotInheritAnOrphanAccount (found in review): an
// account left for a name no longer in the file (migration 0005 makes one
// for every name on a stored credential; a file restored with an old
// modification time keeps Start from ending it) must not be handed to a
// new user of the name added later: the reload ends it first, since it is
// older than the content that lacked the name.
func TestReviewAddedNameDoesNotInheritAnOrphanAccount(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fileWritten := base.Add(time.Hour) // dave left the file before the upgrade
	upgrade := base.Add(2 * time.Hour)
	f.svc.Now = func() time.Time { return upgrade }
	// What the migration leaves: an account for dave, his API token and a
	// refresh token without an epoch, all bound to it.
	orphan := store.Account{ID: "0b6f9c1e-8a57-4a43-9d55-2f1d1c5e2a10", Name: "dave", Type: store.AccountUser,
		State: store.AccountEnabled, CreatedAt: upgrade, UpdatedAt: upgrade}
	if err := f.store.CreateAccount(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateAPIToken(ctx, store.APIToken{Hash: "h-dave", Owner: "dave", AccountID: orphan.ID, Role: "write",
		CreatedAt: base, ExpiresAt: upgrade.Add(300 * 24 * time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateRefreshToken(ctx, store.RefreshToken{Hash: "r-dave", Subject: "dave", AccountID: orphan.ID,
		CreatedAt: base, ExpiresAt: upgrade.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.svc.Start(ctx, []string{"alice", "bob", "root"}, fileWritten)

	// Later, a new dave is added to the file with his own password; the
	// content without him was read after the orphan was made.
	f.users.set("dave", "e9")
	f.svc.Apply(ctx, accounts.FileChange{Added: []string{"dave"}, Since: upgrade.Add(time.Second)}, 0)
	if acct, err := f.store.Account(ctx, "dave"); err != nil || acct.ID == orphan.ID {
		t.Errorf("the new dave's account = %+v, %v; want a new one", acct, err)
	}

	apiToken := authn.Identity{Name: "dave", Source: "apitoken", Role: "write", AccountID: orphan.ID}
	if _, err := f.svc.Admit(ctx, apiToken); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("the earlier dave's API token, after a new dave was added: err = %v, want ErrBadCredentials", err)
	}
	refresh := authn.Identity{Name: "dave", Source: "refresh_token", AccountID: orphan.ID} // Epoch "": issued before accounts
	if _, err := f.svc.Admit(ctx, refresh); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("the earlier dave's Docker identity token, after a new dave was added: err = %v, want ErrBadCredentials", err)
	}
}

// TestReviewLegacyRefreshTokenEndsWithPasswordChange (found in review): a
// refresh token stored before epochs existed takes its user's epoch at the
// first start of this version, so a password change ends it from then on
// (one made before that start cannot be told from the first password).
func TestReviewLegacyRefreshTokenEndsWithPasswordChange(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := f.login(t, "alice") // epoch e1
	if err := f.store.CreateRefreshToken(ctx, store.RefreshToken{Hash: "legacy", Subject: "alice", AccountID: alice.AccountID,
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.svc.Start(ctx, []string{"admin", "alice", "bob", "root"}, time.Now())
	rec, err := f.store.RefreshToken(ctx, "legacy")
	if err != nil || rec.Epoch != "e1" {
		t.Fatalf("the legacy token after the start: %+v, %v; want epoch e1", rec, err)
	}
	stored := authn.Identity{Name: "alice", Source: "refresh_token", AccountID: rec.AccountID, Epoch: rec.Epoch}
	if _, err := f.svc.Admit(ctx, stored); err != nil {
		t.Fatalf("the legacy token before the change: %v", err)
	}
	f.users.set("alice", "e2")
	if _, err := f.svc.Admit(ctx, stored); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("a pre-upgrade refresh token after alice's password changed: err = %v, want ErrBadCredentials", err)
	}
}

// pausingStore pauses after each Account read until released: the gap
// between the read and the write of a read-modify-write.
type pausingStore struct {
	store.Store
	read    chan struct{}
	release chan struct{}
}

func (p *pausingStore) Account(ctx context.Context, name string) (store.Account, error) {
	a, err := p.Store.Account(ctx, name)
	p.read <- struct{}{}
	<-p.release
	return a, err
}

// TestReviewConcurrentDisableAndRevokeTokens (found in review): a disable
// landing between RevokeTokens' read of the account and its write stays:
// the write changes TokensNotBefore only.
func TestReviewConcurrentDisableAndRevokeTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.login(t, "alice")
	p := &pausingStore{Store: f.store, read: make(chan struct{}), release: make(chan struct{})}
	revoker := &accounts.Service{Store: p, Users: f.users, Admins: []string{"root"}, Audit: f.audit}
	done := make(chan error)
	go func() {
		_, err := revoker.RevokeTokens(ctx, "alice", store.AllKinds, "admin-1")
		done <- err
	}()
	<-p.read // the revocation has read alice's account
	if _, err := f.svc.SetEnabled(ctx, "alice", false, "admin-2"); err != nil {
		t.Fatal(err)
	}
	close(p.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	acct, err := f.store.Account(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if acct.Enabled() {
		t.Errorf("alice was disabled while her tokens were being revoked; afterwards her account is %q, want disabled", acct.State)
	}
}
