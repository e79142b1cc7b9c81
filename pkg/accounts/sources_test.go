package accounts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/store"
)

// TestAccountSourceRecorded: an account remembers what made it: the
// backend of the identity of a first login (Admit and Confirm alike), the
// user file (Create, Start, Apply), or none (an administrator's change).
func TestAccountSourceRecorded(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		make func(f *fixture) error
		want string
	}{
		{"password login", func(f *fixture) error {
			_, err := f.svc.Admit(ctx, authn.Identity{Kind: authn.KindUser, Name: "dave", Source: "ldap"})
			return err
		}, "ldap"},
		{"OIDC sign-in", func(f *fixture) error {
			_, err := f.svc.Admit(ctx, authn.Identity{Kind: authn.KindUser, Name: "dave", Source: "oidc:corp"})
			return err
		}, "oidc:corp"},
		{"confirmed for a new credential", func(f *fixture) error {
			_, err := f.svc.Confirm(ctx, authn.Identity{Kind: authn.KindUser, Name: "dave", Source: "oidc:corp"})
			return err
		}, "oidc:corp"},
		{"tollgate users add", func(f *fixture) error {
			_, err := f.svc.Create(ctx, "dave", "", store.AccountUser, "(cli)")
			return err
		}, accounts.FileSource},
		{"start", func(f *fixture) error {
			f.svc.Start(ctx, []string{"dave"}, time.Now())
			return nil
		}, accounts.FileSource},
		{"added to the file", func(f *fixture) error {
			f.svc.Apply(ctx, accounts.FileChange{Added: []string{"dave"}, Since: time.Now()}, time.Millisecond)
			return nil
		}, accounts.FileSource},
		{"disabled before any login", func(f *fixture) error {
			_, err := f.svc.SetEnabled(ctx, "dave", false, "root")
			return err
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if err := tt.make(f); err != nil {
				t.Fatal(err)
			}
			if got, err := f.store.Account(ctx, "dave"); err != nil || got.Source != tt.want {
				t.Errorf("account = %+v, %v; want source %q", got, err, tt.want)
			}
		})
	}
	if accounts.FileSource != htpasswd.Source {
		t.Errorf("FileSource = %q, the htpasswd backend's identities say %q", accounts.FileSource, htpasswd.Source)
	}
}

// TestAccountSourceKept: logins through another backend, a re-read after
// the cache, the user file listing the name, and profile changes all leave
// the source of an existing account as it was.
func TestAccountSourceKept(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first, err := f.svc.Admit(ctx, authn.Identity{Kind: authn.KindUser, Name: "alice", Source: "oidc:corp"})
	if err != nil {
		t.Fatal(err)
	}
	f.login(t, "alice") // a password login (htpasswd)
	if _, err := f.svc.Confirm(ctx, authn.Identity{Kind: authn.KindUser, Name: "alice", Source: "ldap"}); err != nil {
		t.Fatal(err)
	}
	f.svc.Start(ctx, []string{"alice"}, time.Now())
	if _, err := f.svc.Update(ctx, "alice", accounts.Profile{Email: ptr("alice@example.com")}, "root"); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.Account(ctx, "alice")
	if err != nil || got.ID != first.AccountID || got.Source != "oidc:corp" {
		t.Errorf("account = %+v, %v; want %s, still of source oidc:corp", got, err, first.AccountID)
	}
}

// anyOf is several user backends: a name is a user when one says so (what
// cmd/tollgate's directory does).
type anyOf []accounts.Users

func (a anyOf) Exists(ctx context.Context, name string) (bool, error) {
	for _, u := range a {
		if ok, err := u.Exists(ctx, name); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

func (a anyOf) Epoch(name string) string {
	for _, u := range a {
		if e := u.Epoch(name); e != "" {
			return e
		}
	}
	return ""
}

// TestSourceUsersExists: a name is a user while its account was made by a
// source listed; an account of another source, or none, is not; a store
// that does not answer is an error, never "no user".
func TestSourceUsersExists(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for name, source := range map[string]string{"carol": "oidc:corp", "dave": "oidc:gone", "alice": "htpasswd", "erin": ""} {
		if _, err := f.svc.Ensure(ctx, name, source); err != nil {
			t.Fatal(err)
		}
	}
	u := accounts.SourceUsers{Store: f.store, Sources: []string{"oidc:corp", "oidc:other"}}
	for name, want := range map[string]bool{"carol": true, "dave": false, "alice": false, "erin": false, "nobody": false} {
		if got, err := u.Exists(ctx, name); err != nil || got != want {
			t.Errorf("Exists(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if got, err := (accounts.SourceUsers{Store: f.store}).Exists(ctx, "carol"); err != nil || got {
		t.Errorf("no sources: Exists(carol) = %v, %v; want false", got, err)
	}
	if attrs, err := u.Profile(ctx, "carol"); attrs != nil || err != nil {
		t.Errorf("Profile = %+v, %v; want nil: the groups are known at sign-in only", attrs, err)
	}
	if e := u.Epoch("carol"); e != "" {
		t.Errorf("Epoch = %q, want none", e)
	}
	f.store.Close()
	if got, err := u.Exists(ctx, "carol"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("store closed: Exists = %v, %v; want the store's error", got, err)
	}
}

// TestSourceUsersKeepCredentials: beside the user file, the accounts an
// OIDC provider made are users while it is configured: their stored
// credentials are admitted and a start with the file keeps them; without
// the provider, the credentials are refused and a start ends the account.
func TestSourceUsersKeepCredentials(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sources := &accounts.SourceUsers{Store: f.store, Sources: []string{"oidc:corp"}}
	f.svc.Users = anyOf{f.users, sources}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.svc.Now = func() time.Time { return base }
	signedIn, err := f.svc.Admit(ctx, authn.Identity{Kind: authn.KindUser, Name: "carol", Source: "oidc:corp"})
	if err != nil {
		t.Fatal(err)
	}
	token := authn.Identity{Kind: authn.KindAPIToken, Name: "carol", Source: "apitoken", AccountID: signedIn.AccountID}
	if _, err := f.svc.Admit(ctx, token); err != nil {
		t.Errorf("API token of an OIDC user: %v", err)
	}
	refresh := authn.Identity{Kind: authn.KindUser, Name: "carol", Source: "refresh_token", AccountID: signedIn.AccountID}
	if _, err := f.svc.Admit(ctx, refresh); err != nil {
		t.Errorf("refresh token of an OIDC user: %v", err)
	}
	f.svc.Start(ctx, []string{"alice", "bob", "root"}, base.Add(time.Hour))
	if got, err := f.store.Account(ctx, "carol"); err != nil || got.ID != signedIn.AccountID {
		t.Fatalf("after a start with the file: %+v, %v; want carol's account kept", got, err)
	}

	sources.Sources = nil // the provider is removed from the configuration
	for _, id := range []authn.Identity{token, refresh} {
		if _, err := f.svc.Admit(ctx, id); !errors.Is(err, authn.ErrBadCredentials) {
			t.Errorf("%s of a provider removed: err = %v, want ErrBadCredentials", id.Source, err)
		}
	}
	f.svc.Start(ctx, []string{"alice", "bob", "root"}, base.Add(time.Hour))
	if _, err := f.store.Account(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a start without the provider: err = %v, want carol's account ended", err)
	}
}
