package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/audit/audittest"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/authntest"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/gateway"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/token"
)

func ptr(s string) *string { return &s }

// counting counts the authentications that reach the users.
type counting struct {
	inner authn.Authenticator
	n     atomic.Int64
}

func (c *counting) Authenticate(ctx context.Context, user string, secret authn.Secret) (authn.Identity, error) {
	c.n.Add(1)
	return c.inner.Authenticate(ctx, user, secret)
}

// tokens are Tollgate registry tokens known by their raw value.
type tokens map[string]token.Claims

func (t tokens) RegistryClaims(_ context.Context, raw string) (token.Claims, error) {
	c, ok := t[raw]
	if !ok {
		return token.Claims{}, authn.ErrBadCredentials
	}
	return c, nil
}

// budget refuses once spent failures reach limit.
type budget struct {
	failed, limit int
}

func (b *budget) Admit(string, authn.Secret) (bool, time.Duration) {
	return b.failed < b.limit, 30 * time.Second
}

func (b *budget) Failed(string, authn.Secret) { b.failed++ }

type fixture struct {
	gw    *gateway.Gateway
	users *counting
	audit *audittest.Recorder
}

func newFixture(t *testing.T, cache *gateway.Cache) *fixture {
	t.Helper()
	acl, err := authz.Compile([]authz.Rule{
		{Account: ptr(""), Type: "repository", Name: "public/*", Actions: []string{"pull"}},
		{Account: ptr("*"), Group: "ops", Type: "repository", Name: "ops/*", Actions: []string{"pull", "push"}},
		{Account: ptr("*"), Type: "repository", Name: "${account}/*", Actions: []string{"pull", "push", "delete"}},
		{Account: ptr("*"), Type: "repository", Name: "public/*", Actions: []string{"pull"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{audit: &audittest.Recorder{}}
	f.users = &counting{inner: authntest.Static{Source: "test", Users: map[string]authntest.User{
		"alice": {Password: "alice-pw", Groups: []string{"ops"}},
		"bob":   {Password: "bob-pw"},
	}}}
	pushAlice := token.Claims{Access: []token.Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}}}
	pushAlice.Subject, pushAlice.Audience = "alice", []string{"registry.local"}
	otherService := pushAlice
	otherService.Audience = []string{"elsewhere"}
	toks := tokens{"eyJ.alice.push": pushAlice, "eyJ.alice.elsewhere": otherService}
	f.gw = &gateway.Gateway{Users: f.users, Tokens: toks, Core: &grant.Service{Authz: acl, Audit: f.audit},
		Service: "registry.local", Cache: cache}
	return f
}

func (f *fixture) ask(t *testing.T, method, uri, user, password string) gateway.Decision {
	t.Helper()
	req := gateway.Request{Method: method, URI: uri, Username: user, Password: authn.Secret(password),
		Credential: "Basic " + user + ":" + password, ClientIP: netip.MustParseAddr("192.0.2.7")}
	if user == "" && password != "" {
		req.Bearer, req.Credential = true, "Bearer "+password
	}
	if user == "" && password == "" {
		req.Credential = ""
	}
	d, err := f.gw.Decide(context.Background(), req)
	if err != nil {
		t.Fatalf("Decide(%s %s): %v", method, uri, err)
	}
	return d
}

func TestDecisions(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name, method, uri, user, password string
		want                              int
	}{
		{"version check without credentials", "GET", "/v2/", "", "", 401},
		{"anonymous pull the ACL allows", "GET", "/v2/public/base/manifests/latest", "", "", 200},
		{"anonymous pull it does not", "GET", "/v2/alice/app/manifests/latest", "", "", 401},
		{"version check with a password", "GET", "/v2/", "alice", "alice-pw", 200},
		{"version check with a wrong password", "GET", "/v2/", "alice", "nope", 401},
		{"own push", "PUT", "/v2/alice/app/manifests/v1", "alice", "alice-pw", 200},
		{"own delete", "DELETE", "/v2/alice/app/manifests/" + dgst, "alice", "alice-pw", 200},
		{"group push", "PATCH", "/v2/ops/tools/blobs/uploads/abc", "alice", "alice-pw", 200},
		{"someone else's push", "PUT", "/v2/bob/app/manifests/v1", "alice", "alice-pw", 403},
		{"not in the group", "PUT", "/v2/ops/tools/manifests/v1", "bob", "bob-pw", 403},
		{"catalog not granted", "GET", "/v2/_catalog", "alice", "alice-pw", 403},
		{"mount from a pullable repository", "POST", "/v2/alice/app/blobs/uploads/?mount=" + dgst + "&from=public/base", "alice", "alice-pw", 200},
		{"mount from a repository not pullable", "POST", "/v2/alice/app/blobs/uploads/?mount=" + dgst + "&from=bob/secret", "alice", "alice-pw", 403},
		{"not a registry request", "GET", "/admin", "alice", "alice-pw", 403},
		{"mount and from twice", "POST", "/v2/alice/app/blobs/uploads/?mount=" + dgst + "&from=public/base&from=bob/secret", "alice", "alice-pw", 403},
		{"unknown user", "GET", "/v2/", "mallory", "x", 401},
		{"Tollgate token covering the push", "PUT", "/v2/alice/app/manifests/v2", "", "eyJ.alice.push", 200},
		{"Tollgate token not covering a delete", "DELETE", "/v2/alice/app/manifests/" + dgst, "", "eyJ.alice.push", 403},
		{"Tollgate token of another repository", "GET", "/v2/alice/other/manifests/v1", "", "eyJ.alice.push", 403},
		{"Tollgate token version check", "GET", "/v2/", "", "eyJ.alice.push", 200},
		{"invalid Bearer token", "GET", "/v2/", "", "eyJ.forged.x", 401},
		{"Tollgate token of another service", "PUT", "/v2/alice/app/manifests/v2", "", "eyJ.alice.elsewhere", 401},
		{"Bearer, neither an API token nor a JWT", "GET", "/v2/", "", "hunter2", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := f.ask(t, tt.method, tt.uri, tt.user, tt.password)
			if d.Status != tt.want {
				t.Errorf("status %d (%s), want %d", d.Status, d.Message, tt.want)
			}
			if d.Status == http.StatusOK && tt.user != "" && d.Subject != tt.user {
				t.Errorf("subject %q, want %q", d.Subject, tt.user)
			}
		})
	}
}

// The cache answers a repeated request without authenticating again;
// Clear forgets it at once; failed logins are never cached.
func TestCache(t *testing.T) {
	cache := gateway.NewCache(time.Minute, 100)
	f := newFixture(t, cache)
	const blob = "/v2/alice/app/blobs/uploads/abc"
	for range 5 {
		if d := f.ask(t, "PATCH", blob, "alice", "alice-pw"); d.Status != 200 {
			t.Fatalf("status %d", d.Status)
		}
	}
	if n := f.users.n.Load(); n != 1 {
		t.Errorf("5 identical requests authenticated %d times, want 1", n)
	}
	if got := len(f.audit.Events()); got != 1 {
		t.Errorf("%d audit events, want 1 (a decision, not its reuse)", got)
	}
	cache.Clear() // a revocation, a password change, a reload
	f.ask(t, "PATCH", blob, "alice", "alice-pw")
	if n := f.users.n.Load(); n != 2 {
		t.Errorf("after Clear: %d authentications, want 2", n)
	}
	for range 3 {
		f.ask(t, "PATCH", blob, "alice", "wrong")
	}
	if n := f.users.n.Load(); n != 5 {
		t.Errorf("3 failed logins reached the users %d times, want 3 (never cached)", n-2)
	}
	if got := len(f.audit.FailedLogins()); got != 3 {
		t.Errorf("%d failed logins audited, want 3", got)
	}
	if gateway.NewCache(0, 100) != nil {
		t.Error("cache_ttl 0 made a cache")
	}
}

// A spent budget answers 429 with the wait, before any password check.
func TestBudget(t *testing.T) {
	f := newFixture(t, nil)
	b := &budget{limit: 2}
	ask := func(password string) gateway.Decision {
		d, err := f.gw.Decide(context.Background(), gateway.Request{Method: "GET", URI: "/v2/", Username: "alice",
			Password: authn.Secret(password), Credential: "x" + password, Budget: b})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ask("wrong")
	ask("wrong")
	before := f.users.n.Load()
	d := ask("alice-pw")
	if d.Status != http.StatusTooManyRequests || d.RetryAfter != 30*time.Second {
		t.Errorf("after 2 failures: %+v, want 429 with the wait", d)
	}
	if f.users.n.Load() != before {
		t.Error("the refused request reached the users")
	}
}

// Audit events name the subject, the access and the outcome.
func TestAudit(t *testing.T) {
	f := newFixture(t, nil)
	f.ask(t, "PUT", "/v2/bob/app/manifests/v1", "alice", "alice-pw")
	f.ask(t, "GET", "/v2/alice/app/tags/list", "alice", "alice-pw")
	evs := f.audit.Events()
	want := []store.AuditEvent{
		{Kind: gateway.EventDenied, Subject: "alice", Requested: "repository:bob/app:push"},
		{Kind: gateway.EventAllowed, Subject: "alice", Requested: "repository:alice/app:pull", Granted: "repository:alice/app:pull"},
	}
	if len(evs) != len(want) {
		t.Fatalf("events %+v", evs)
	}
	for i, w := range want {
		e := evs[i]
		if e.Kind != w.Kind || e.Subject != w.Subject || e.Requested != w.Requested || e.Granted != w.Granted ||
			e.ClientIP != "192.0.2.7" || e.Service != "registry.local" {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
}

// A backend that is away is an error (503), never a refusal.
func TestUnavailable(t *testing.T) {
	f := newFixture(t, nil)
	f.gw.Users = authnFunc(func(context.Context, string, authn.Secret) (authn.Identity, error) {
		return authn.Identity{}, authn.ErrUnavailable
	})
	_, err := f.gw.Decide(context.Background(), gateway.Request{Method: "GET", URI: "/v2/", Username: "a", Password: "b"})
	if !errors.Is(err, authn.ErrUnavailable) {
		t.Errorf("Decide = %v, want ErrUnavailable", err)
	}
}

type authnFunc func(context.Context, string, authn.Secret) (authn.Identity, error)

func (f authnFunc) Authenticate(ctx context.Context, u string, s authn.Secret) (authn.Identity, error) {
	return f(ctx, u, s)
}

// An upload POST with a form body is denied: the registry reads mount and
// from from the body too, which the proxy's question does not show.
func TestUploadFormBody(t *testing.T) {
	f := newFixture(t, nil)
	for ct, want := range map[string]int{"": 200, "application/octet-stream": 200,
		"application/x-www-form-urlencoded": 403, "multipart/form-data; boundary=x": 403} {
		d, err := f.gw.Decide(context.Background(), gateway.Request{Method: "POST", URI: "/v2/alice/app/blobs/uploads/",
			Username: "alice", Password: "alice-pw", Credential: "b" + ct, ContentType: ct})
		if err != nil || d.Status != want {
			t.Errorf("Content-Type %q: %d %v, want %d", ct, d.Status, err, want)
		}
	}
}
