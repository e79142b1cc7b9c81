package apitoken_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/clocktest"
	"github.com/tollgate/tollgate/pkg/store"
)

const day = 24 * time.Hour

// fixture is a Tokens over fakes.
type fixture struct {
	tokens *apitoken.Tokens
	store  *fakeStore
	clock  *clocktest.Clock
}

func newFixture() *fixture {
	f := &fixture{store: newFakeStore(), clock: newClock()}
	f.tokens = &apitoken.Tokens{
		Store:  f.store,
		Limits: apitoken.Limits{DefaultTTLDays: 30, MaxTTLDays: 365, MaxTTLDaysByRole: map[string]int{"admin": 30, "write": 90}},
		Now:    f.clock.Now,
	}
	return f
}

// owner is the authenticated identity of a user with an account; "admin"
// is an administrator.
func owner(name string) authn.Identity {
	return authn.Identity{Name: name, Source: "htpasswd", AccountID: "acct-" + name, Admin: name == "admin"}
}

// create mints a token or fails the test.
func (f *fixture) create(t *testing.T, name, role string, ttlDays int) (string, store.APIToken) {
	t.Helper()
	raw, rec, err := f.tokens.Create(context.Background(), owner(name), role, ttlDays, "test")
	if err != nil {
		t.Fatalf("Create(%s, %q, %d): %v", name, role, ttlDays, err)
	}
	return raw, rec
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name     string
		owner    string
		role     string
		ttlDays  int
		desc     string
		wantErr  error
		wantRole string
		wantTTL  int
	}{
		{name: "default role and ttl", owner: "alice", wantRole: "read", wantTTL: 30},
		{name: "write", owner: "alice", role: "write", ttlDays: 7, wantRole: "write", wantTTL: 7},
		{name: "global maximum", owner: "alice", role: "read", ttlDays: 365, wantRole: "read", wantTTL: 365},
		{name: "over the global maximum", owner: "alice", role: "read", ttlDays: 366, wantErr: apitoken.ErrTTL},
		{name: "over the role maximum", owner: "alice", role: "write", ttlDays: 91, wantErr: apitoken.ErrTTL},
		{name: "negative ttl", owner: "alice", ttlDays: -1, wantErr: apitoken.ErrTTL},
		{name: "admin by an admin", owner: "admin", role: "admin", wantRole: "admin", wantTTL: 30},
		{name: "admin over its maximum", owner: "admin", role: "admin", ttlDays: 31, wantErr: apitoken.ErrTTL},
		{name: "admin by a non-admin", owner: "alice", role: "admin", wantErr: apitoken.ErrRoleNotAllowed},
		{name: "unknown role", owner: "alice", role: "owner", wantErr: apitoken.ErrInvalidRole},
		{name: "role in upper case", owner: "alice", role: "READ", wantErr: apitoken.ErrInvalidRole},
		{name: "long description", owner: "alice", desc: strings.Repeat("x", apitoken.MaxDescription+1), wantErr: apitoken.ErrDescription},
		{name: "description at the limit", owner: "alice", desc: strings.Repeat("x", apitoken.MaxDescription), wantRole: "read", wantTTL: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			raw, rec, err := f.tokens.Create(context.Background(), owner(tt.owner), tt.role, tt.ttlDays, tt.desc)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Create error = %v, want %v", err, tt.wantErr)
				}
				if raw != "" || len(f.store.tokens) != 0 {
					t.Error("a refused Create returned or stored a token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !apitoken.LooksLike(raw) {
				t.Error("Create returned something that is not a token")
			}
			stored := f.store.get(apitoken.Hash(raw))
			if stored != rec {
				t.Errorf("stored %+v, returned %+v", stored, rec)
			}
			now := f.clock.Now()
			want := store.APIToken{Hash: apitoken.Hash(raw), Owner: tt.owner, AccountID: "acct-" + tt.owner, Role: tt.wantRole, Description: tt.desc,
				CreatedAt: now, ExpiresAt: now.Add(time.Duration(tt.wantTTL) * day)}
			if rec != want {
				t.Errorf("record = %+v, want %+v", rec, want)
			}
		})
	}
}

// TestCreateDefaultCappedByRole: a default above a role's maximum gives
// that maximum rather than an error the caller did not ask for.
func TestCreateDefaultCappedByRole(t *testing.T) {
	f := newFixture()
	f.tokens.Limits = apitoken.Limits{DefaultTTLDays: 60, MaxTTLDays: 365, MaxTTLDaysByRole: map[string]int{"admin": 7}}
	_, rec := f.create(t, "admin", "admin", 0)
	if got := rec.ExpiresAt.Sub(rec.CreatedAt); got != 7*day {
		t.Errorf("admin token lives %v, want 7 days", got)
	}
	_, rec = f.create(t, "admin", "write", 0)
	if got := rec.ExpiresAt.Sub(rec.CreatedAt); got != 60*day {
		t.Errorf("write token lives %v, want 60 days", got)
	}
}

func TestCreateZeroLimitsUseDefaults(t *testing.T) {
	f := newFixture()
	f.tokens.Limits = apitoken.Limits{}
	_, rec := f.create(t, "alice", "", 0)
	if got := rec.ExpiresAt.Sub(rec.CreatedAt); got != apitoken.DefaultTTLDays*day {
		t.Errorf("lives %v, want %d days", got, apitoken.DefaultTTLDays)
	}
	if _, _, err := f.tokens.Create(context.Background(), owner("alice"), "", apitoken.DefaultMaxTTL+1, ""); !errors.Is(err, apitoken.ErrTTL) {
		t.Errorf("ttl over DefaultMaxTTL: %v, want ErrTTL", err)
	}
}

func TestCreateStoreFailure(t *testing.T) {
	f := newFixture()
	f.store.setFail(errBoom)
	if _, _, err := f.tokens.Create(context.Background(), owner("alice"), "", 0, ""); !errors.Is(err, errBoom) {
		t.Errorf("Create = %v, want the store's error", err)
	}
}

func TestAuthenticate(t *testing.T) {
	type setup struct {
		f     *fixture
		token string // alice's write token, 10 days
	}
	tests := []struct {
		name     string
		prepare  func(t *testing.T, s setup)
		username string
		secret   func(s setup) string
		wantErr  error // nil: success as alice with role write
	}{
		{name: "username token", username: "token"},
		{name: "username of the owner", username: "alice"},
		{name: "another user's name", username: "bob", wantErr: authn.ErrBadCredentials},
		{name: "empty username", username: "", wantErr: authn.ErrBadCredentials},
		{name: "username Token", username: "Token", wantErr: authn.ErrBadCredentials},
		{name: "a password falls through", username: "alice", secret: func(setup) string { return "alice-Secret-41d2b8" }, wantErr: authn.ErrNoSuchUser},
		{name: "a typo falls through (offline)", username: "token", secret: func(s setup) string { return s.token[:10] + flip(s.token[10]) + s.token[11:] }, wantErr: authn.ErrNoSuchUser},
		{name: "unknown token stops the chain", username: "token", secret: func(setup) string { return apitoken.Generate() }, wantErr: authn.ErrBadCredentials},
		{
			name: "expired", username: "token", wantErr: authn.ErrBadCredentials,
			prepare: func(_ *testing.T, s setup) { s.f.clock.Advance(10 * day) },
		},
		{
			name: "just before expiry", username: "token",
			prepare: func(_ *testing.T, s setup) { s.f.clock.Advance(10*day - time.Second) },
		},
		{
			name: "revoked", username: "token", wantErr: authn.ErrBadCredentials,
			prepare: func(t *testing.T, s setup) {
				if _, err := s.f.tokens.Revoke(context.Background(), owner("alice"), apitoken.HashPrefix(apitoken.Hash(s.token))); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "store failure", username: "token", wantErr: errBoom,
			prepare: func(_ *testing.T, s setup) { s.f.store.setFail(errBoom) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			raw, _ := f.create(t, "alice", "write", 10)
			s := setup{f: f, token: raw}
			if tt.prepare != nil {
				tt.prepare(t, s)
			}
			secret := raw
			if tt.secret != nil {
				secret = tt.secret(s)
			}
			id, err := f.tokens.Authenticate(context.Background(), tt.username, authn.Secret(secret))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Authenticate error = %v, want %v", err, tt.wantErr)
				}
				if id != (authn.Identity{}) {
					t.Errorf("identity %+v returned with an error", id)
				}
				for _, other := range []error{authn.ErrBadCredentials, authn.ErrNoSuchUser} {
					if other != tt.wantErr && errors.Is(err, other) {
						t.Errorf("error %v is also %v", err, other)
					}
				}
				if strings.Contains(err.Error(), raw) {
					t.Error("the error message contains the token")
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			want := authn.Identity{Kind: authn.KindAPIToken, Name: "alice", Source: "apitoken", Role: "write", AccountID: "acct-alice",
				TokenID: apitoken.HashPrefix(apitoken.Hash(raw))}
			if id != want {
				t.Errorf("identity = %+v, want %+v", id, want)
			}
		})
	}
}

// TestAuthenticateIsNotCached: every call reads the store, so a revocation
// elsewhere (another replica) applies to the very next request.
func TestAuthenticateIsNotCached(t *testing.T) {
	f := newFixture()
	raw, rec := f.create(t, "alice", "read", 0)
	ctx := context.Background()
	for range 3 {
		if _, err := f.tokens.Authenticate(ctx, "token", authn.Secret(raw)); err != nil {
			t.Fatal(err)
		}
	}
	if f.store.reads != 3 {
		t.Errorf("%d store reads for 3 authentications, want 3", f.store.reads)
	}
	// Revoke behind Tokens' back, as another replica would.
	if _, err := f.store.RevokeAPIToken(ctx, rec.Hash[:16], "", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokens.Authenticate(ctx, "token", authn.Secret(raw)); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("after revocation: %v, want ErrBadCredentials", err)
	}
}

// TestChainFallsThrough: in front of a password backend, tokens stop the
// chain and passwords reach the backend.
func TestChainFallsThrough(t *testing.T) {
	f := newFixture()
	raw, _ := f.create(t, "alice", "read", 0)
	passwords := passwordBackend{"alice": "alice-pw"}
	chain := authn.Chain{f.tokens, passwords}
	ctx := context.Background()

	id, err := chain.Authenticate(ctx, "alice", "alice-pw")
	if err != nil || id.Source != "password" || id.Role != "" {
		t.Errorf("password through the chain: %+v, %v", id, err)
	}
	id, err = chain.Authenticate(ctx, "token", authn.Secret(raw))
	if err != nil || id.Source != "apitoken" || id.Role != "read" {
		t.Errorf("token through the chain: %+v, %v", id, err)
	}
	if _, err := chain.Authenticate(ctx, "alice", authn.Secret(apitoken.Generate())); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("unknown token through the chain: %v, want ErrBadCredentials", err)
	}
}

type passwordBackend map[string]string

func (p passwordBackend) Authenticate(_ context.Context, username string, secret authn.Secret) (authn.Identity, error) {
	want, ok := p[username]
	if !ok {
		return authn.Identity{}, authn.ErrNoSuchUser
	}
	if string(secret) != want {
		return authn.Identity{}, authn.ErrBadCredentials
	}
	return authn.Identity{Name: username, Source: "password"}, nil
}

func TestList(t *testing.T) {
	f := newFixture()
	_, a1 := f.create(t, "alice", "read", 0)
	_, b1 := f.create(t, "bob", "write", 0)
	_, a2 := f.create(t, "alice", "write", 0)
	ctx := context.Background()

	got, err := f.tokens.List(ctx, owner("alice"), store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != a1 || got[1] != a2 {
		t.Errorf("List(alice) = %+v, want her two tokens oldest first", got)
	}
	got, err = f.tokens.ListAll(ctx, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != a1 || got[1] != b1 || got[2] != a2 {
		t.Errorf("ListAll = %+v, want all three", got)
	}
	got, err = f.tokens.List(ctx, authn.Identity{Name: "nobody"}, store.Page{})
	if !errors.Is(err, apitoken.ErrNoAccount) || len(got) != 0 {
		t.Errorf(`List without an account = %+v, %v; want nothing (not everyone's) and ErrNoAccount`, got, err)
	}
	other := owner("alice")
	other.AccountID = "acct-alice-before" // an earlier user of the name
	if got, err := f.tokens.List(ctx, other, store.Page{}); err != nil || len(got) != 0 {
		t.Errorf("List of an earlier alice = %+v, %v; want nothing of the current one", got, err)
	}
}

func TestRevoke(t *testing.T) {
	tests := []struct {
		name    string
		caller  string
		asAdmin bool
		prefix  func(alice string) string // from the hash of alice's token
		wantErr error
	}{
		{name: "own", caller: "alice", prefix: first16},
		{name: "another user's", caller: "bob", prefix: first16, wantErr: apitoken.ErrNotFound},
		{name: "admin revokes anyone's", caller: "admin", asAdmin: true, prefix: first16},
		{name: "admin name without admin rights", caller: "admin", prefix: first16, wantErr: apitoken.ErrNotFound},
		{name: "unknown", caller: "alice", prefix: func(string) string { return "0000000000000000" }, wantErr: apitoken.ErrNotFound},
		{name: "upper case", caller: "alice", prefix: func(h string) string { return strings.ToUpper(h[:16]) }, wantErr: apitoken.ErrInvalidPrefix},
		{name: "too short", caller: "alice", prefix: func(h string) string { return h[:15] }, wantErr: apitoken.ErrInvalidPrefix},
		{name: "too long", caller: "alice", prefix: func(h string) string { return h[:17] }, wantErr: apitoken.ErrInvalidPrefix},
		{name: "whole hash", caller: "alice", prefix: func(h string) string { return h }, wantErr: apitoken.ErrInvalidPrefix},
		{name: "not hex", caller: "alice", prefix: func(string) string { return "zzzzzzzzzzzzzzzz" }, wantErr: apitoken.ErrInvalidPrefix},
		{name: "empty", caller: "alice", prefix: func(string) string { return "" }, wantErr: apitoken.ErrInvalidPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			raw, rec := f.create(t, "alice", "read", 0)
			f.clock.Advance(time.Hour)
			caller := owner(tt.caller)
			caller.Admin = tt.asAdmin
			got, err := f.tokens.Revoke(context.Background(), caller, tt.prefix(rec.Hash))
			_, authErr := f.tokens.Authenticate(context.Background(), "token", authn.Secret(raw))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Revoke error = %v, want %v", err, tt.wantErr)
				}
				if authErr != nil {
					t.Errorf("the token stopped working after a refused revocation: %v", authErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash != rec.Hash || !got.RevokedAt.Equal(f.clock.Now()) {
				t.Errorf("revoked record = %+v", got)
			}
			if !errors.Is(authErr, authn.ErrBadCredentials) {
				t.Errorf("after revocation Authenticate = %v, want ErrBadCredentials", authErr)
			}
		})
	}
}

func first16(h string) string { return h[:16] }

func TestRevokeTwiceKeepsFirstTime(t *testing.T) {
	f := newFixture()
	_, rec := f.create(t, "alice", "read", 0)
	ctx := context.Background()
	first, err := f.tokens.Revoke(ctx, owner("alice"), rec.Hash[:16])
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	second, err := f.tokens.Revoke(ctx, owner("alice"), rec.Hash[:16])
	if err != nil {
		t.Fatalf("second revocation: %v", err)
	}
	if !second.RevokedAt.Equal(first.RevokedAt) {
		t.Errorf("revoked at %v, then %v; want the first time kept", first.RevokedAt, second.RevokedAt)
	}
}

// TestCreateLimitsLiveTokens: a user holds at most MaxPerUser live tokens;
// revoking one makes room.
func TestCreateLimitsLiveTokens(t *testing.T) {
	f := newFixture()
	f.tokens.Limits.MaxPerUser = 2
	f.create(t, "alice", "read", 0)
	_, rec := f.create(t, "alice", "read", 0)
	f.create(t, "bob", "read", 0)
	_, _, err := f.tokens.Create(context.Background(), owner("alice"), "read", 0, "")
	if !errors.Is(err, apitoken.ErrTooMany) {
		t.Fatalf("third token: err = %v, want ErrTooMany", err)
	}
	if _, err := f.tokens.Revoke(context.Background(), owner("alice"), apitoken.HashPrefix(rec.Hash)); err != nil {
		t.Fatal(err)
	}
	f.create(t, "alice", "read", 0)
}

// TestCreateNeedsAnAccount: without an account (the store was away at
// login) nothing can be bound to, so nothing is created.
func TestCreateNeedsAnAccount(t *testing.T) {
	f := newFixture()
	_, _, err := f.tokens.Create(context.Background(), authn.Identity{Name: "alice"}, "read", 0, "")
	if !errors.Is(err, apitoken.ErrNoAccount) {
		t.Fatalf("err = %v, want ErrNoAccount", err)
	}
}

// TestCheck: what was minted from a token lives as long as the token.
func TestCheck(t *testing.T) {
	f := newFixture()
	raw, rec := f.create(t, "alice", "write", 10)
	ctx := context.Background()
	prefix := apitoken.HashPrefix(rec.Hash)
	if err := f.tokens.Check(ctx, prefix); err != nil {
		t.Fatalf("live token: %v", err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("0", 16)} {
		if err := f.tokens.Check(ctx, bad); !errors.Is(err, authn.ErrBadCredentials) {
			t.Errorf("Check(%q) = %v, want ErrBadCredentials", bad, err)
		}
	}
	if got, err := f.tokens.Lookup(ctx, raw); err != nil || got.Hash != rec.Hash {
		t.Errorf("Lookup = %+v, %v", got, err)
	}
	if _, err := f.tokens.Revoke(ctx, owner("alice"), prefix); err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.Check(ctx, prefix); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("revoked token: Check = %v, want ErrBadCredentials", err)
	}
	if _, err := f.tokens.Lookup(ctx, raw); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("revoked token: Lookup err = %v, want ErrBadCredentials", err)
	}
	f.store.setFail(errBoom)
	if err := f.tokens.Check(ctx, prefix); !errors.Is(err, errBoom) {
		t.Errorf("store failure: Check = %v, want it passed on", err)
	}
}

// flip changes a base62 character to another one.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestRevokeAmbiguousAndStoreFailure(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	for _, h := range []string{strings.Repeat("a", 16) + strings.Repeat("0", 48), strings.Repeat("a", 16) + strings.Repeat("1", 48)} {
		if err := f.store.CreateAPIToken(ctx, store.APIToken{Hash: h, Owner: "alice", AccountID: "acct-alice", Role: "read", ExpiresAt: f.clock.Now().Add(day)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.tokens.Revoke(ctx, owner("alice"), strings.Repeat("a", 16)); !errors.Is(err, apitoken.ErrAmbiguousPrefix) {
		t.Errorf("Revoke of a shared prefix = %v, want ErrAmbiguousPrefix", err)
	}
	f.store.setFail(errBoom)
	_, err := f.tokens.Revoke(ctx, owner("alice"), strings.Repeat("a", 16))
	if !errors.Is(err, errBoom) || errors.Is(err, apitoken.ErrNotFound) {
		t.Errorf("Revoke with a failing store = %v, want the store's error", err)
	}
	if _, err := f.tokens.List(ctx, owner("alice"), store.Page{}); !errors.Is(err, errBoom) {
		t.Errorf("List with a failing store = %v, want the store's error", err)
	}
}

// auditLog collects audit events.
type auditLog []store.AuditEvent

func (a *auditLog) Write(_ context.Context, ev store.AuditEvent) error {
	*a = append(*a, ev)
	return nil
}

func TestCreateAndRevokeAreAuditedWithoutTheSecret(t *testing.T) {
	f := newFixture()
	log := &auditLog{}
	f.tokens.Audit = log
	raw, rec := f.create(t, "alice", "write", 7)
	if _, err := f.tokens.Revoke(context.Background(), owner("admin"), apitoken.HashPrefix(rec.Hash)); err != nil {
		t.Fatal(err)
	}
	if len(*log) != 2 {
		t.Fatalf("audit events = %+v, want created and revoked", *log)
	}
	created, revoked := (*log)[0], (*log)[1]
	if created.Kind != "apitoken.created" || created.Subject != "alice" {
		t.Errorf("created event = %+v", created)
	}
	if revoked.Kind != "apitoken.revoked" || revoked.Subject != "admin" || !strings.Contains(revoked.Detail, "owner=alice") {
		t.Errorf("revoked event = %+v", revoked)
	}
	for _, ev := range *log {
		if !strings.Contains(ev.Detail, "hash_prefix="+apitoken.HashPrefix(rec.Hash)) {
			t.Errorf("event %q does not name the token by hash prefix: %q", ev.Kind, ev.Detail)
		}
		if strings.Contains(ev.Detail, raw) || strings.Contains(ev.Detail, rec.Hash) {
			t.Errorf("event %q leaks the token or its full hash: %q", ev.Kind, ev.Detail)
		}
	}
}
