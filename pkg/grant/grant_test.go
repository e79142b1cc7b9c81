package grant_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/audit/audittest"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/token"
)

// exampleRules are the ACL of configs/tollgate.yaml.
func exampleRules(tb testing.TB) []authz.Rule {
	tb.Helper()
	cfg, err := config.Load("../../configs/tollgate.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.ACL
}

// users are password users (accounts.Users) who can be removed or get a
// new password (epoch).
type users struct {
	mu     sync.Mutex
	epochs map[string]string
	err    error
}

func (u *users) Exists(_ context.Context, name string) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.epochs[name]
	return ok, u.err
}

func (u *users) Epoch(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.epochs[name]
}

func (u *users) remove(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.epochs, name)
}

func (u *users) setEpoch(name, epoch string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.epochs[name] = epoch
}

type fixture struct {
	svc      *grant.Service
	key      *keys.Key
	users    *users
	accounts *accounts.Service
	store    store.Store
}

func newFixture(t testing.TB, services ...string) *fixture {
	t.Helper()
	key, err := keys.Generate(keys.Options{Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	acl, err := authz.Compile(exampleRules(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &users{epochs: map[string]string{"admin": "e1", "alice": "e1", "bob": "e1"}}
	for _, name := range []string{"admin", "alice", "bob"} {
		if err := st.CreateAccount(context.Background(), store.Account{ID: "acct-" + name, Name: name,
			Type: store.AccountUser, State: store.AccountEnabled}); err != nil {
			t.Fatal(err)
		}
	}
	accts := &accounts.Service{Store: st, Users: u}
	return &fixture{
		key:      key,
		users:    u,
		accounts: accts,
		store:    st,
		svc: &grant.Service{
			Authz:    acl,
			Minter:   &token.Minter{Issuer: "tollgate", TTL: 5 * time.Minute, Signer: key},
			Refresh:  &refresh.Tokens{Store: st, TTL: time.Hour},
			Accounts: accts,
			Services: services,
		},
	}
}

func mustParse(t *testing.T, scopes ...string) []scope.Scope {
	t.Helper()
	s, err := scope.ParseAll(scopes)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) claims(t *testing.T, raw string) token.Claims {
	t.Helper()
	var c token.Claims
	if _, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return f.key.VerificationKey(), nil },
		jwt.WithValidMethods([]string{"ES256"})); err != nil {
		t.Fatalf("parse token: %v", err)
	}
	return c
}

var (
	alice = authn.Identity{Name: "alice", Source: "htpasswd", AccountID: "acct-alice", Epoch: "e1"}
	admin = authn.Identity{Name: "admin", Source: "htpasswd", AccountID: "acct-admin", Epoch: "e1"}
	anon  = authn.Identity{}
)

func TestIssueIntersectsWithACL(t *testing.T) {
	tests := []struct {
		name   string
		id     authn.Identity
		scopes []string
		want   []token.Access
	}{
		{"own repository", alice, []string{"repository:alice/app:pull,push,delete"},
			[]token.Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}}},
		{"shared is pull only", alice, []string{"repository:shared/x:push,pull"},
			[]token.Access{{Type: "repository", Name: "shared/x", Actions: []string{"pull"}}}},
		{"other user's repository denied", alice, []string{"repository:bob/x:pull"}, []token.Access{}},
		{"anonymous public pull", anon, []string{"repository:public/x:pull,push"},
			[]token.Access{{Type: "repository", Name: "public/x", Actions: []string{"pull"}}}},
		{"anonymous denied elsewhere", anon, []string{"repository:shared/x:pull"}, []token.Access{}},
		{"signed-in users do not get anonymous rules", alice, []string{"repository:public/x:pull"}, []token.Access{}},
		{"admin everything", admin, []string{"repository:bob/x:delete", "registry:catalog:*"},
			[]token.Access{{Type: "repository", Name: "bob/x", Actions: []string{"delete"}}, {Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
		{"login check", alice, nil, []token.Access{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "registry.local")
			res, err := f.svc.Issue(context.Background(), grant.Request{
				Identity: tt.id, Service: "registry.local", Scopes: mustParse(t, tt.scopes...),
			})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			c := f.claims(t, res.Token.Raw)
			if !reflect.DeepEqual(c.Access, tt.want) {
				t.Errorf("access = %+v, want %+v", c.Access, tt.want)
			}
			if len(res.Granted) != len(tt.want) {
				t.Errorf("Granted = %v, want %d scopes", res.Granted, len(tt.want))
			}
			if c.Subject != tt.id.Name {
				t.Errorf("sub = %q, want %q", c.Subject, tt.id.Name)
			}
			if !reflect.DeepEqual([]string(c.Audience), []string{"registry.local"}) {
				t.Errorf("aud = %v", c.Audience)
			}
			if res.RefreshToken != "" {
				t.Error("refresh token issued without Offline")
			}
		})
	}
}

func TestIssueService(t *testing.T) {
	tests := []struct {
		name     string
		services []string
		service  string
		wantErr  error
	}{
		{"listed", []string{"registry.local", "mirror.local"}, "mirror.local", nil},
		{"unknown", []string{"registry.local"}, "evil.example", grant.ErrUnknownService},
		{"missing", []string{"registry.local"}, "", grant.ErrUnknownService},
		{"case matters", []string{"registry.local"}, "Registry.Local", grant.ErrUnknownService},
		{"any when none configured", nil, "whatever.example", nil},
		{"empty when none configured", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.services...)
			res, err := f.svc.Issue(context.Background(), grant.Request{
				Identity: alice, Service: tt.service, Scopes: mustParse(t, "repository:alice/app:pull"),
			})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Issue error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if res.Token.Raw != "" {
					t.Error("a token was minted for a refused service")
				}
				return
			}
			if aud := f.claims(t, res.Token.Raw).Audience; tt.service != "" && !reflect.DeepEqual([]string(aud), []string{tt.service}) {
				t.Errorf("aud = %v, want [%s]", aud, tt.service)
			}
		})
	}
}

func TestIssueOffline(t *testing.T) {
	tests := []struct {
		name        string
		id          authn.Identity
		offline     bool
		wantRefresh bool
	}{
		{"authenticated offline", alice, true, true},
		{"authenticated online", alice, false, false},
		{"anonymous offline", anon, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "registry.local")
			ctx := context.Background()
			res, err := f.svc.Issue(ctx, grant.Request{Identity: tt.id, Service: "registry.local", Offline: tt.offline, ClientID: "docker"})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.RefreshToken != ""; got != tt.wantRefresh {
				t.Fatalf("refresh token issued = %v, want %v", got, tt.wantRefresh)
			}
			if !tt.wantRefresh {
				return
			}
			id, err := f.svc.Redeem(ctx, res.RefreshToken, "registry.local")
			if err != nil {
				t.Fatalf("Redeem: %v", err)
			}
			if id.Name != tt.id.Name || id.Anonymous() {
				t.Errorf("redeemed identity %+v, want %s", id, tt.id.Name)
			}
		})
	}
}

func TestRedeem(t *testing.T) {
	errDB := errors.New("directory down")
	tests := []struct {
		name    string
		raw     func(issued string) string
		service string
		before  func(f *fixture)
		wantErr error
	}{
		{name: "valid", raw: same, service: "registry.local"},
		{name: "other service", raw: same, service: "mirror.local", wantErr: refresh.ErrInvalid},
		{name: "no service", raw: same, service: "", wantErr: refresh.ErrInvalid},
		{name: "subject removed", raw: same, service: "registry.local", before: func(f *fixture) { f.users.remove("alice") }, wantErr: refresh.ErrInvalid},
		{name: "lookup fails", raw: same, service: "registry.local", before: func(f *fixture) { f.users.err = errDB }, wantErr: errDB},
		{name: "new password", raw: same, service: "registry.local", before: func(f *fixture) { f.users.setEpoch("alice", "e2") }, wantErr: refresh.ErrInvalid},
		{name: "account removed and the name added again", raw: same, service: "registry.local", before: func(f *fixture) {
			ctx := context.Background()
			if _, _, err := f.accounts.Remove(ctx, "alice", "test", "test"); err != nil {
				panic(err)
			}
			if _, err := f.accounts.Ensure(ctx, "alice", "htpasswd"); err != nil {
				panic(err)
			}
		}, wantErr: refresh.ErrInvalid},
		{name: "account disabled", raw: same, service: "registry.local", before: func(f *fixture) {
			if _, err := f.accounts.SetEnabled(context.Background(), "alice", false, "test"); err != nil {
				panic(err)
			}
		}, wantErr: authn.ErrDisabled},
		{name: "unknown token", raw: func(string) string { return refresh.Prefix + "AAAA" }, service: "registry.local", wantErr: refresh.ErrInvalid},
		{name: "garbage", raw: func(string) string { return "not-a-token" }, service: "registry.local", wantErr: refresh.ErrInvalid},
		{name: "empty", raw: func(string) string { return "" }, service: "registry.local", wantErr: refresh.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "registry.local", "mirror.local")
			ctx := context.Background()
			res, err := f.svc.Issue(ctx, grant.Request{Identity: alice, Service: "registry.local", Offline: true, ClientID: "docker"})
			if err != nil {
				t.Fatal(err)
			}
			if tt.before != nil {
				tt.before(f)
			}
			id, err := f.svc.Redeem(ctx, tt.raw(res.RefreshToken), tt.service)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Redeem: %v", err)
				}
				if id.Name != "alice" || id.Source != "refresh_token" {
					t.Errorf("identity = %+v, want alice from refresh_token", id)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Redeem error = %v, want %v", err, tt.wantErr)
			}
			if errors.Is(err, grant.ErrRefreshInvalid) != errors.Is(tt.wantErr, refresh.ErrInvalid) {
				t.Errorf("error %v: ErrRefreshInvalid match differs from refresh.ErrInvalid", err)
			}
			if id != (authn.Identity{}) {
				t.Errorf("identity %+v returned with an error", id)
			}
		})
	}
}

func same(s string) string { return s }

func TestRedeemThenIssueUsesCurrentACL(t *testing.T) {
	f := newFixture(t, "registry.local")
	ctx := context.Background()
	res, err := f.svc.Issue(ctx, grant.Request{Identity: alice, Service: "registry.local", Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.svc.Redeem(ctx, res.RefreshToken, "registry.local")
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Issue(ctx, grant.Request{Identity: id, Service: "registry.local",
		Scopes: mustParse(t, "repository:bob/x:push,pull repository:alice/y:push")})
	if err != nil {
		t.Fatal(err)
	}
	want := []token.Access{{Type: "repository", Name: "alice/y", Actions: []string{"push"}}}
	if got := f.claims(t, again.Token.Raw).Access; !reflect.DeepEqual(got, want) {
		t.Errorf("access = %+v, want %+v", got, want)
	}
}

func TestCheckAccount(t *testing.T) {
	tests := []struct {
		name    string
		id      authn.Identity
		login   string // the Basic user name
		account string
		wantErr error
	}{
		{"no account parameter", alice, "alice", "", nil},
		{"matching account", alice, "alice", "alice", nil},
		{"other account", alice, "alice", "bob", grant.ErrAccountMismatch},
		{"case differs", alice, "alice", "Alice", grant.ErrAccountMismatch},
		{"API token login names the login: docker login -u token", alice, "token", "token", nil},
		{"API token login naming the owner", alice, "token", "alice", nil},
		{"API token login naming someone else", alice, "token", "bob", grant.ErrAccountMismatch},
		{"anonymous with account", anon, "", "bob", nil},
		{"anonymous without account", anon, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := grant.CheckAccount(tt.id, tt.login, tt.account)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("CheckAccount(%q, %q, %q) = %v, want %v", tt.id.Name, tt.login, tt.account, err, tt.wantErr)
			}
		})
	}
}

// failingSigner makes minting fail.
type failingSigner struct{ err error }

func (s failingSigner) Sign(jwt.Claims) (string, error) { return "", s.err }

func TestIssueMintErrorPropagates(t *testing.T) {
	f := newFixture(t)
	errSign := errors.New("signer offline")
	f.svc.Minter = &token.Minter{Issuer: "tollgate", TTL: time.Minute, Signer: failingSigner{errSign}}
	_, err := f.svc.Issue(context.Background(), grant.Request{Identity: alice, Offline: true})
	if !errors.Is(err, errSign) {
		t.Fatalf("Issue error = %v, want %v", err, errSign)
	}
}

func TestIssueAndDeniedAreAudited(t *testing.T) {
	f := newFixture(t)
	rec := &audittest.Recorder{}
	f.svc.Audit = rec
	req := grant.Request{
		Identity: alice,
		Service:  "registry.local",
		Scopes:   mustParse(t, "repository:alice/app:pull,push repository:bob/x:push"),
		ClientIP: netip.MustParseAddr("192.0.2.7"),
		ClientID: "docker",
	}
	if _, err := f.svc.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	f.svc.Denied(grant.Request{Identity: authn.Identity{Name: "bob"}, Service: "registry.local"}, "account is disabled")
	f.svc.FailedLogin(grant.Request{Identity: authn.Identity{Name: "mallory"}, Service: "registry.local",
		ClientIP: netip.MustParseAddr("192.0.2.9")})
	want := []store.AuditEvent{
		{Kind: audit.TokenIssued, Subject: "alice", ClientIP: "192.0.2.7", ClientID: "docker", Service: "registry.local",
			Requested: "repository:alice/app:pull,push repository:bob/x:push", Granted: "repository:alice/app:pull,push",
			Detail: "rules=repository:alice/app:1 repository:bob/x:-1"},
		{Kind: audit.TokenDenied, Subject: "bob", Service: "registry.local", Detail: "account is disabled"},
	}
	if !reflect.DeepEqual(rec.Events(), want) {
		t.Errorf("audit events:\n got %+v\nwant %+v", rec.Events(), want)
	}
	// A failed login is handed over for aggregation: who tried, from where.
	if wantFailed := []store.AuditEvent{{Subject: "mallory", ClientIP: "192.0.2.9"}}; !reflect.DeepEqual(rec.FailedLogins(), wantFailed) {
		t.Errorf("failed logins:\n got %+v\nwant %+v", rec.FailedLogins(), wantFailed)
	}
}

func TestIssueAuditNamesDecidingRules(t *testing.T) {
	readOnly := authn.Identity{Name: "alice", Source: "apitoken", Role: "read"}
	tests := []struct {
		name       string
		id         authn.Identity
		scopes     []string
		wantDetail string
		wantRules  []int
	}{
		{"granted and denied", alice, []string{"repository:alice/app:pull,push", "repository:bob/x:pull"},
			"rules=repository:alice/app:1 repository:bob/x:-1", []int{1, -1}},
		{"decided but nothing granted", alice, []string{"repository:shared/x:push"},
			"rules=repository:shared/x:2", []int{2}},
		{"anonymous", anon, []string{"repository:public/x:pull repository:shared/x:pull"},
			"rules=repository:public/x:3 repository:shared/x:-1", []int{3, -1}},
		{"admin, class and host prefix", admin, []string{"repository(plugin):localhost:5000/x:pull", "registry:catalog:*"},
			"rules=repository(plugin):localhost:5000/x:0 registry:catalog:0", []int{0, 0}},
		{"role cap", readOnly, []string{"repository:alice/app:pull,push"},
			"rules=repository:alice/app:1 role=read", []int{1}},
		{"login check", alice, nil, "", nil},
		{"login check with a role", readOnly, nil, "role=read", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rec := &audittest.Recorder{}
			f.svc.Audit = rec
			res, err := f.svc.Issue(context.Background(), grant.Request{
				Identity: tt.id, Service: "registry.local", Scopes: mustParse(t, tt.scopes...),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Events()) != 1 || rec.Events()[0].Kind != audit.TokenIssued {
				t.Fatalf("audit events = %+v, want one %s", rec.Events(), audit.TokenIssued)
			}
			if got := rec.Events()[0].Detail; got != tt.wantDetail {
				t.Errorf("Detail = %q, want %q", got, tt.wantDetail)
			}
			if !reflect.DeepEqual(res.Rules, tt.wantRules) {
				t.Errorf("Result.Rules = %v, want %v", res.Rules, tt.wantRules)
			}
		})
	}
}

func TestIssueRulesOnlyWhenWanted(t *testing.T) {
	scopes := "repository:alice/app:pull repository:bob/x:pull"
	tests := []struct {
		name      string
		wantRules bool
		want      []int
	}{
		{"no auditor, not asked", false, nil},
		{"asked", true, []int{1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			res, err := f.svc.Issue(context.Background(), grant.Request{
				Identity: alice, Service: "registry.local", Scopes: mustParse(t, scopes), WantRules: tt.wantRules,
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Rules, tt.want) {
				t.Errorf("Result.Rules = %v, want %v", res.Rules, tt.want)
			}
		})
	}
}

func TestIssueAppliesRoleLimit(t *testing.T) {
	f := newFixture(t)
	readOnly := authn.Identity{Name: "alice", Source: "apitoken", Role: "read"}
	res, err := f.svc.Issue(context.Background(), grant.Request{
		Identity: readOnly, Service: "registry.local", Scopes: mustParse(t, "repository:alice/app:pull,push"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.claims(t, res.Token.Raw).Access
	want := []token.Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read-role access = %+v, want %+v", got, want)
	}
}

// BenchmarkIssue measures the whole token path (authorize, role cap, mint,
// audit record) with and without an auditor; signing dominates it.
func BenchmarkIssue(b *testing.B) {
	for _, audited := range []bool{false, true} {
		name := "no-audit"
		if audited {
			name = "audit"
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, "registry.local")
			if audited {
				f.svc.Audit = discard{}
			}
			req := grant.Request{
				Identity: alice, Service: "registry.local", ClientIP: netip.MustParseAddr("192.0.2.7"),
				Scopes: []scope.Scope{
					{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}},
					{Type: "repository", Name: "bob/base", Actions: []string{"pull"}},
				},
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.svc.Issue(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discard is an Auditor that drops events.
type discard struct{}

func (discard) Record(store.AuditEvent)      {}
func (discard) FailedLogin(store.AuditEvent) {}

// A token minted in the very second of a revoke-tokens says iat = the
// revocation's end, so that it is not taken for one issued before it; nbf
// stays the minting time (registries check nbf, not iat).
func TestIssueInTheSecondOfARevocation(t *testing.T) {
	f := newFixture(t, "registry.local")
	ctx := context.Background()
	at := time.Now().Truncate(time.Second).Add(100 * time.Millisecond) // early in a second
	f.accounts.Now = func() time.Time { return at }
	f.svc.Minter.Now = func() time.Time { return at.Add(200 * time.Millisecond) }
	if _, err := f.accounts.RevokeTokens(ctx, "alice", store.AllKinds, "admin"); err != nil {
		t.Fatal(err)
	}
	id, err := f.accounts.Admit(ctx, authn.Identity{Name: "alice", Source: "htpasswd"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Issue(ctx, grant.Request{Identity: id, Service: "registry.local"})
	if err != nil {
		t.Fatal(err)
	}
	c := f.claims(t, res.Token.Raw)
	if want := at.Truncate(time.Second).Add(time.Second); !c.IssuedAt.Equal(want) || !c.NotBefore.Equal(at.Truncate(time.Second)) {
		t.Errorf("iat %v, nbf %v; want iat %v (the revocation's end), nbf the minting second", c.IssuedAt, c.NotBefore, want)
	}
}

// A refresh token bound to an earlier account of the name (one nothing
// revoked, as a row left by a removal another way) is refused: the account
// must be the one the token was issued to, not just one of that name.
func TestRedeemRefusesAnEarlierAccountOfTheName(t *testing.T) {
	f := newFixture(t, "registry.local")
	ctx := context.Background()
	earlier := authn.Identity{Name: "alice", Source: "htpasswd", AccountID: "acct-alice-before", Epoch: "e1"}
	issued, err := f.svc.Refresh.Issue(ctx, earlier, "docker", "registry.local")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Redeem(ctx, issued.Raw, "registry.local"); !errors.Is(err, grant.ErrRefreshInvalid) {
		t.Errorf("Redeem of a token of an earlier alice = %v, want ErrRefreshInvalid", err)
	}
}
