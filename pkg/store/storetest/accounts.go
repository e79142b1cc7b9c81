package storetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

func sampleAccount(name string) store.Account {
	return store.Account{
		ID: "acct-" + name, Name: name, Email: name + "@example.com",
		Type: store.AccountUser, State: store.AccountEnabled,
		CreatedAt: nonUTC, UpdatedAt: nonUTC.Add(time.Second), Source: "htpasswd",
	}
}

func sameAccount(t *testing.T, got, want store.Account) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Email != want.Email || got.Type != want.Type || got.State != want.State ||
		got.Source != want.Source {
		t.Errorf("got %+v, want %+v", got, want)
	}
	sameTime(t, want.Name+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, want.Name+" UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	sameTime(t, want.Name+" TokensNotBefore", got.TokensNotBefore, want.TokensNotBefore)
}

func accountCreateAndGet(t *testing.T, s store.Store) {
	want := sampleAccount("alice")
	want.Email = "ålice@exämple.com"
	mustCreate(t, s.CreateAccount, want)
	got := mustGet(t, s.Account, "alice")
	sameAccount(t, got, want)
	if !got.Enabled() {
		t.Error("enabled account reported disabled")
	}
}

// accountSource: every account reads back with the source it was made
// with, "" included (accounts of no known source), in Account, in
// ListAccounts, from CreateAccounts, and after an update, which never
// changes it.
func accountSource(t *testing.T, s store.Store) {
	ctx := context.Background()
	oidc, none := sampleAccount("alice"), sampleAccount("bob")
	oidc.Source, none.Source = "oidc:corp", ""
	mustCreate(t, s.CreateAccount, oidc, none)
	ldap := sampleAccount("carol")
	ldap.Source = "ldap"
	if n, err := s.CreateAccounts(ctx, []store.Account{ldap}); err != nil || n != 1 {
		t.Fatalf("CreateAccounts = %d, %v; want 1, nil", n, err)
	}
	want := map[string]store.Account{"alice": oidc, "bob": none, "carol": ldap}
	for name, a := range want {
		sameAccount(t, mustGet(t, s.Account, name), a)
	}
	all, err := s.ListAccounts(ctx)
	if err != nil || len(all) != len(want) {
		t.Fatalf("list = %v, %v; want %d accounts", all, err, len(want))
	}
	for _, got := range all {
		sameAccount(t, got, want[got.Name])
	}
	disabled := store.AccountDisabled
	got, err := s.UpdateAccount(ctx, oidc.ID, store.AccountChange{State: &disabled, At: nonUTC.Add(time.Hour)})
	if err != nil || got.Source != "oidc:corp" {
		t.Errorf("after an update: %+v, %v; want source oidc:corp", got, err)
	}
}

func accountConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := sampleAccount("alice")
	mustCreate(t, s.CreateAccount, first)
	sameName := sampleAccount("alice")
	sameName.ID = "another-id"
	if err := s.CreateAccount(ctx, sameName); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same name: err = %v, want ErrConflict", err)
	}
	sameID := sampleAccount("bob")
	sameID.ID = first.ID
	if err := s.CreateAccount(ctx, sameID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same id: err = %v, want ErrConflict", err)
	}
	sameAccount(t, mustGet(t, s.Account, "alice"), first)
	if _, err := s.Account(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob stored after a conflict: %v", err)
	}
}

func accountNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Account(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get: err = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateAccount(ctx, "acct-nobody", store.AccountChange{At: nonUTC}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update: err = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteAccount(ctx, "acct-nobody", nonUTC); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete: err = %v, want ErrNotFound", err)
	}
}

func accountList(t *testing.T, s store.Store) {
	mustCreate(t, s.CreateAccount, sampleAccount("bob"), sampleAccount("Zed"), sampleAccount("alice"), sampleAccount("a-b"))
	got, err := s.ListAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range got {
		names = append(names, a.Name)
	}
	if fmt.Sprint(names) != "[Zed a-b alice bob]" { // byte order
		t.Errorf("list = %v, want [Zed a-b alice bob]", names)
	}
}

func accountUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := sampleAccount("alice")
	mustCreate(t, s.CreateAccount, a)
	email, typ, state := "new@example.com", store.AccountAdmin, store.AccountDisabled
	got, err := s.UpdateAccount(ctx, a.ID, store.AccountChange{Email: &email, Type: &typ, State: &state,
		TokensNotBefore: nonUTC.Add(time.Hour + time.Nanosecond), At: nonUTC.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.Email, want.Type, want.State = email, typ, state
	want.UpdatedAt, want.TokensNotBefore = nonUTC.Add(time.Hour), nonUTC.Add(time.Hour+time.Nanosecond)
	sameAccount(t, got, want)
	sameAccount(t, mustGet(t, s.Account, "alice"), want)
	if got.Enabled() {
		t.Error("disabled account reported enabled")
	}
	// Only the fields set change; TokensNotBefore never moves back.
	enabled := store.AccountEnabled
	got, err = s.UpdateAccount(ctx, a.ID, store.AccountChange{State: &enabled, TokensNotBefore: nonUTC, At: nonUTC.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want.State, want.UpdatedAt = enabled, nonUTC.Add(2*time.Hour)
	sameAccount(t, got, want)
}

// accountConcurrentChanges: a disable and a revoke-tokens (TokensNotBefore)
// racing each other both stay applied, whatever the order.
func accountConcurrentChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := sampleAccount("alice")
	mustCreate(t, s.CreateAccount, a)
	disabled := store.AccountDisabled
	errs := concurrently(16, 1, func(w, _ int) error {
		c := store.AccountChange{State: &disabled, At: nonUTC}
		if w%2 == 1 {
			c = store.AccountChange{TokensNotBefore: nonUTC.Add(time.Duration(w) * time.Second), At: nonUTC}
		}
		_, err := s.UpdateAccount(ctx, a.ID, c)
		return err
	})
	noErrors(t, "concurrent update", errs)
	got := mustGet(t, s.Account, "alice")
	if got.Enabled() || !got.TokensNotBefore.Equal(nonUTC.Add(15*time.Second)) {
		t.Errorf("after the race: state %s, TokensNotBefore %v; want disabled and the latest (+15s)", got.State, got.TokensNotBefore)
	}
}

// accountAdoptEpoch: refresh tokens without an epoch get the one given;
// those with one, and other accounts', keep theirs.
func accountAdoptEpoch(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, tok := range []store.RefreshToken{{Hash: "legacy"}, {Hash: "current", Epoch: "e1"}, {Hash: "bob", AccountID: "acct-bob"}} {
		if tok.AccountID == "" {
			tok.AccountID = "acct-alice"
		}
		tok.Subject, tok.ExpiresAt = "alice", nonUTC.Add(time.Hour)
		if err := s.CreateRefreshToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	e := sampleEngineRefresh("engine-legacy", "f")
	e.Epoch = ""
	if err := s.CreateEngineRefreshToken(ctx, e); err != nil {
		t.Fatal(err)
	}
	n, err := s.AdoptEpochs(ctx, map[string]string{"acct-alice": "e2", "acct-nobody": "e3"})
	if err != nil || n != 2 {
		t.Fatalf("AdoptEpochs = %d, %v; want 2 (the legacy refresh and engine tokens)", n, err)
	}
	for hash, want := range map[string]string{"legacy": "e2", "current": "e1", "bob": ""} {
		if r, _ := s.RefreshToken(ctx, hash); r.Epoch != want {
			t.Errorf("%s: epoch %q, want %q", hash, r.Epoch, want)
		}
	}
	if got := mustGet(t, s.EngineRefreshToken, "engine-legacy").Epoch; got != "e2" {
		t.Errorf("engine token epoch %q, want e2", got)
	}
}

// credentialFixture gives alice and bob one credential of each kind, all
// under epoch e1, and alice a second engine family of epoch e2.
func credentialFixture(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, owner := range []string{"alice", "bob"} {
		mustCreate(t, s.CreateAccount, sampleAccount(owner))
		r := sampleRefresh("r-" + owner)
		r.Subject, r.AccountID = owner, "acct-"+owner
		if err := s.CreateRefreshToken(ctx, r); err != nil {
			t.Fatal(err)
		}
		e := sampleEngineRefresh("e-"+owner, "f-"+owner)
		e.Subject, e.AccountID = owner, "acct-"+owner
		if err := s.CreateEngineRefreshToken(ctx, e); err != nil {
			t.Fatal(err)
		}
		mustCreateAPI(t, s, sampleAPI(hash("a"+fmt.Sprint(len(owner))), owner))
	}
	e2 := sampleEngineRefresh("e-alice-2", "f-alice-2")
	e2.Epoch = "e2"
	if err := s.CreateEngineRefreshToken(ctx, e2); err != nil {
		t.Fatal(err)
	}
	r2 := sampleRefresh("r-alice-2")
	r2.Epoch = "e2"
	if err := s.CreateRefreshToken(ctx, r2); err != nil {
		t.Fatal(err)
	}
}

// revokedState reports which of the fixture's credentials are revoked.
func revokedState(t *testing.T, s store.Store) map[string]bool {
	t.Helper()
	ctx := context.Background()
	out := map[string]bool{}
	for _, h := range []string{"r-alice", "r-alice-2", "r-bob"} {
		r, err := s.RefreshToken(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		out[h] = !r.RevokedAt.IsZero()
	}
	for _, h := range []string{"e-alice", "e-alice-2", "e-bob"} {
		out[h] = !mustGet(t, s.EngineRefreshToken, h).RevokedAt.IsZero()
	}
	out["api-alice"] = !mustGet(t, s.APIToken, hash("a5")).RevokedAt.IsZero()
	out["api-bob"] = !mustGet(t, s.APIToken, hash("a3")).RevokedAt.IsZero()
	return out
}

func wantRevoked(t *testing.T, got map[string]bool, revoked ...string) {
	t.Helper()
	want := map[string]bool{}
	for k := range got {
		want[k] = false
	}
	for _, k := range revoked {
		want[k] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("revoked = %v, want %v", got, want)
	}
}

func accountDelete(t *testing.T, s store.Store) {
	credentialFixture(t, s)
	r, err := s.DeleteAccount(context.Background(), "acct-alice", nonUTC.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r != (store.Revoked{RefreshTokens: 2, EngineRefreshTokens: 2, APITokens: 1}) {
		t.Errorf("revoked %+v, want 2 refresh, 2 engine, 1 API token", r)
	}
	if _, err := s.Account(context.Background(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted account: err = %v, want ErrNotFound", err)
	}
	wantRevoked(t, revokedState(t, s), "r-alice", "r-alice-2", "e-alice", "e-alice-2", "api-alice")
	sameTime(t, "revoked at", mustGet(t, s.APIToken, hash("a5")).RevokedAt, nonUTC.Add(time.Hour))
	// The name is free again, under a new ID.
	again := sampleAccount("alice")
	again.ID = "acct-alice-2"
	mustCreate(t, s.CreateAccount, again)
}

func accountRevokeKinds(t *testing.T, s store.Store) {
	ctx := context.Background()
	credentialFixture(t, s)
	r, err := s.RevokeCredentials(ctx, "acct-alice", store.KindAPIToken|store.KindRefresh, "", nonUTC)
	if err != nil {
		t.Fatal(err)
	}
	if r != (store.Revoked{RefreshTokens: 2, APITokens: 1}) {
		t.Errorf("revoked %+v, want 2 refresh and 1 API token", r)
	}
	wantRevoked(t, revokedState(t, s), "r-alice", "r-alice-2", "api-alice")
	mustGet(t, s.Account, "alice") // the account stays
}

func accountRevokeKeepEpoch(t *testing.T, s store.Store) {
	credentialFixture(t, s)
	r, err := s.RevokeCredentials(context.Background(), "acct-alice", store.KindRefresh|store.KindEngineRefresh, "e2", nonUTC)
	if err != nil {
		t.Fatal(err)
	}
	if r != (store.Revoked{RefreshTokens: 1, EngineRefreshTokens: 1}) {
		t.Errorf("revoked %+v, want the e1 refresh token and the e1 engine family", r)
	}
	wantRevoked(t, revokedState(t, s), "r-alice", "e-alice")
}

func accountRevokeTwice(t *testing.T, s store.Store) {
	ctx := context.Background()
	credentialFixture(t, s)
	if _, err := s.RevokeCredentials(ctx, "acct-bob", store.AllKinds, "", nonUTC); err != nil {
		t.Fatal(err)
	}
	r, err := s.RevokeCredentials(ctx, "acct-bob", store.AllKinds, "", nonUTC.Add(time.Hour))
	if err != nil || r.Total() != 0 {
		t.Errorf("second revocation = %+v, %v; want nothing more", r, err)
	}
	sameTime(t, "first revocation kept", mustGet(t, s.APIToken, hash("a3")).RevokedAt, nonUTC)
	if r, err := s.RevokeCredentials(ctx, "acct-nobody", store.AllKinds, "", nonUTC); err != nil || r.Total() != 0 {
		t.Errorf("unknown account = %+v, %v; want nothing, nil", r, err)
	}
}

// accountConcurrentCreate: 8 replicas creating the same user at once; one
// account results and every loser gets ErrConflict.
func accountConcurrentCreate(t *testing.T, s store.Store) {
	errs := concurrently(8, 1, func(w, _ int) error {
		a := sampleAccount("alice")
		a.ID = fmt.Sprintf("id-%d", w)
		return s.CreateAccount(context.Background(), a)
	})
	if won := winners(t, "create", errs, store.ErrConflict); won != 1 {
		t.Errorf("%d creates won, want 1", won)
	}
	mustGet(t, s.Account, "alice")
}

// LegacyRows are credentials as a store before accounts (migration 0004)
// held them, in SQL both backends run: alice has one of each kind, bob an
// API token.
var LegacyRows = []string{
	`INSERT INTO api_tokens (hash, owner, role, description, created_at, expires_at)
		VALUES ('legacy-api-alice', 'alice', 'write', '', 1, 4000000000000000000)`,
	`INSERT INTO api_tokens (hash, owner, role, description, created_at, expires_at)
		VALUES ('legacy-api-bob', 'bob', 'read', '', 2, 4000000000000000000)`,
	`INSERT INTO refresh_tokens (hash, subject, client_id, service, created_at, expires_at)
		VALUES ('legacy-refresh-alice', 'alice', 'docker', 'registry.local', 1, 4000000000000000000)`,
	`INSERT INTO engine_refresh_tokens (hash, family_id, subject, client_id, created_at, expires_at)
		VALUES ('legacy-engine-alice', 'f1', 'alice', 'anonymous', 1, 4000000000000000000)`,
}

// CheckAdopted checks a store migrated from LegacyRows: alice and bob each
// got an account with its own random UUID, and every credential is bound
// to its subject's account.
func CheckAdopted(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	alice, bob := mustGet(t, s.Account, "alice"), mustGet(t, s.Account, "bob")
	for _, a := range []store.Account{alice, bob} {
		if !uuidShape.MatchString(a.ID) || a.State != store.AccountEnabled || a.Type != store.AccountUser {
			t.Errorf("adopted account %+v: want a version-4 UUID, enabled, user", a)
		}
	}
	if alice.ID == bob.ID {
		t.Errorf("alice and bob share the id %s", alice.ID)
	}
	// Made no later than the first credential (LegacyRows: alice's first at
	// 1 ns, bob's at 2 ns), so older than any user file.
	if !alice.CreatedAt.Equal(time.Unix(0, 1)) || !bob.CreatedAt.Equal(time.Unix(0, 2)) {
		t.Errorf("created at %v and %v, want their first credentials' times", alice.CreatedAt, bob.CreatedAt)
	}
	if got := mustGet(t, s.APIToken, "legacy-api-alice").AccountID; got != alice.ID {
		t.Errorf("alice's API token bound to %q, want %q", got, alice.ID)
	}
	if got := mustGet(t, s.APIToken, "legacy-api-bob").AccountID; got != bob.ID {
		t.Errorf("bob's API token bound to %q, want %q", got, bob.ID)
	}
	if r, err := s.RefreshToken(ctx, "legacy-refresh-alice"); err != nil || r.AccountID != alice.ID {
		t.Errorf("alice's refresh token = %+v, %v; want bound to %s", r, err, alice.ID)
	}
	if got := mustGet(t, s.EngineRefreshToken, "legacy-engine-alice").AccountID; got != alice.ID {
		t.Errorf("alice's engine refresh token bound to %q, want %q", got, alice.ID)
	}
}

// PreSourceRows are accounts as a store before account sources (migration
// 0007) held them, in SQL both backends run.
var PreSourceRows = []string{
	`INSERT INTO accounts (id, name, email, type, state, created_at, updated_at)
		VALUES ('acct-pre-source', 'alice', '', 'user', 'enabled', 1, 1)`,
}

// CheckPreSource checks a store migrated from PreSourceRows: alice's
// account is there, of no known source, and new accounts keep theirs.
func CheckPreSource(t *testing.T, s store.Store) {
	t.Helper()
	if got := mustGet(t, s.Account, "alice"); got.ID != "acct-pre-source" || got.Source != "" || !got.Enabled() {
		t.Errorf("migrated account = %+v, want acct-pre-source, enabled, source \"\"", got)
	}
	want := sampleAccount("bob")
	want.Source = "oidc:corp"
	mustCreate(t, s.CreateAccount, want)
	sameAccount(t, mustGet(t, s.Account, "bob"), want)
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// accountCreateMany: CreateAccounts stores the accounts whose name and ID
// are free, leaves the others as they are, and counts what it stored.
func accountCreateMany(t *testing.T, s store.Store) {
	ctx := context.Background()
	existing := sampleAccount("bob")
	mustCreate(t, s.CreateAccount, existing)
	taken := sampleAccount("bob")
	taken.ID, taken.Email = "acct-bob-again", "other@example.com"
	batch := []store.Account{sampleAccount("alice"), taken, sampleAccount("carol")}
	n, err := s.CreateAccounts(ctx, batch)
	if err != nil || n != 2 {
		t.Fatalf("CreateAccounts = %d, %v; want 2 stored", n, err)
	}
	sameAccount(t, mustGet(t, s.Account, "alice"), batch[0])
	sameAccount(t, mustGet(t, s.Account, "carol"), batch[2])
	sameAccount(t, mustGet(t, s.Account, "bob"), existing) // not overwritten
	if n, err := s.CreateAccounts(ctx, batch); err != nil || n != 0 {
		t.Errorf("again: %d, %v; want 0", n, err)
	}
	if n, err := s.CreateAccounts(ctx, nil); err != nil || n != 0 {
		t.Errorf("none: %d, %v", n, err)
	}
}
