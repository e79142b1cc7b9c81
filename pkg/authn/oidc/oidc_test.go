package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/oidc"
	"github.com/tollgate/tollgate/pkg/authn/oidc/oidctest"
	"github.com/tollgate/tollgate/pkg/clocktest"
)

const callback = "https://tollgate.example/ui/oidc/corp/callback"

type fixture struct {
	op    *oidctest.Provider
	clock *clocktest.Clock
	p     *oidc.Provider
}

// newFixture starts a provider and signs in with it as "corp"; edit
// changes the config first.
func newFixture(t *testing.T, edit func(*oidc.ProviderConfig)) *fixture {
	t.Helper()
	f := &fixture{op: oidctest.Start(t), clock: clocktest.New(time.Now())}
	f.op.SetClock(f.clock.Now)
	c := f.op.Config("corp")
	if edit != nil {
		edit(&c)
	}
	p, err := oidc.New(c, callback, oidc.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	return f
}

// begin starts a sign-in and has the browser sign in at the provider:
// the pending sign-in, and the code and state of the callback.
func (f *fixture) begin(t *testing.T) (oidc.Pending, string, string) {
	t.Helper()
	authURL, pending, err := f.p.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	back := f.op.SignIn(t, authURL)
	if got := back.Scheme + "://" + back.Host + back.Path; got != callback {
		t.Fatalf("redirected to %s, want the callback %s", got, callback)
	}
	q := back.Query()
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("callback %s: no code", back)
	}
	return pending, q.Get("code"), q.Get("state")
}

func (f *fixture) signIn(t *testing.T) (authn.Identity, error) {
	t.Helper()
	pending, code, state := f.begin(t)
	return f.p.Finish(context.Background(), pending, state, code)
}

func wantErr(t *testing.T, err, sentinel error) {
	t.Helper()
	var r *oidc.Refusal
	switch {
	case !errors.Is(err, sentinel):
		t.Fatalf("err = %v, want %v", err, sentinel)
	case !errors.As(err, &r) || r.Reason() == "":
		t.Fatalf("err = %v, want a *Refusal with a reason", err)
	}
}

func TestSignIn(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.signIn(t)
	if err != nil {
		t.Fatal(err)
	}
	if id.Kind != authn.KindUser || id.Name != "alice" || id.Source != "oidc:corp" {
		t.Errorf("identity = %+v", id)
	}
	if !slices.Equal(id.Groups(), []string{"dev", "ops"}) || id.Attrs.Email != "alice@example.com" {
		t.Errorf("attributes = %+v", id.Attrs)
	}
	if n := f.op.TokenRequests.Load(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestBeginAuthorizationRequest(t *testing.T) {
	f := newFixture(t, nil)
	authURL, pending, err := f.p.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	want := map[string]string{"response_type": "code", "client_id": "tollgate", "redirect_uri": callback,
		"scope": "openid profile email groups", "state": pending.State, "nonce": pending.Nonce, "code_challenge_method": "S256"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Get("code_challenge") == "" || strings.Contains(authURL, pending.Verifier) {
		t.Errorf("code_challenge = %q: want the S256 of the verifier, never the verifier", q.Get("code_challenge"))
	}
	vals := []string{pending.State, pending.Nonce, pending.Verifier}
	for _, v := range vals {
		if len(v) != 43 { // 256 bits, base64url
			t.Errorf("%q: want 43 characters", v)
		}
	}
	if vals[0] == vals[1] || vals[1] == vals[2] || vals[0] == vals[2] {
		t.Errorf("state, nonce and verifier are not distinct: %q", vals)
	}
	if pending.Provider != "corp" || !pending.Created.Equal(f.clock.Now()) {
		t.Errorf("pending = %s", pending)
	}
	_, again, _ := f.p.Begin(context.Background())
	if again.State == pending.State {
		t.Error("two sign-ins have one state")
	}
}

func TestPendingPrintsNoSecret(t *testing.T) {
	f := newFixture(t, nil)
	_, pending, err := f.p.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(pending), fmt.Sprintf("%+v", pending), fmt.Sprintf("%v", []oidc.Pending{pending})} {
		for _, secret := range []string{pending.State, pending.Nonce, pending.Verifier} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows a secret", s)
			}
		}
	}
}

func TestCallbackRefused(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(p *oidc.Pending, state, code *string)
	}{
		{"wrong state", func(_ *oidc.Pending, state, _ *string) { *state += "x" }},
		{"no state", func(_ *oidc.Pending, state, _ *string) { *state = "" }},
		{"no pending sign-in", func(p *oidc.Pending, state, _ *string) { *p, *state = oidc.Pending{Provider: "corp"}, "" }},
		{"pending of another provider", func(p *oidc.Pending, _, _ *string) { p.Provider = "other" }},
		{"no code", func(_ *oidc.Pending, _, code *string) { *code = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			pending, code, state := f.begin(t)
			tt.spoil(&pending, &state, &code)
			_, err := f.p.Finish(context.Background(), pending, state, code)
			wantErr(t, err, authn.ErrBadCredentials)
			if n := f.op.TokenRequests.Load(); n != 0 {
				t.Errorf("%d token requests: the code was sent for a callback that is not of the sign-in", n)
			}
		})
	}
}

func TestReplayedCodeRefused(t *testing.T) {
	f := newFixture(t, nil)
	pending, code, state := f.begin(t)
	if _, err := f.p.Finish(context.Background(), pending, state, code); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.Finish(context.Background(), pending, state, code)
	wantErr(t, err, authn.ErrBadCredentials)
	if !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("err = %v, want the provider's invalid_grant", err)
	}
}

func TestInvalidCodeRefused(t *testing.T) {
	f := newFixture(t, nil)
	pending, _, state := f.begin(t)
	_, err := f.p.Finish(context.Background(), pending, state, "made-up")
	wantErr(t, err, authn.ErrBadCredentials)
}

func TestPKCEVerifierMismatchRefused(t *testing.T) {
	f := newFixture(t, nil)
	pending, code, state := f.begin(t)
	_, other, err := f.p.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pending.Verifier = other.Verifier
	_, err = f.p.Finish(context.Background(), pending, state, code)
	wantErr(t, err, authn.ErrBadCredentials)
	if n := f.op.TokenRequests.Load(); n != 1 {
		t.Errorf("%d token requests, want 1: the provider decides", n)
	}
}

func TestExpiredPendingRefused(t *testing.T) {
	f := newFixture(t, nil)
	pending, code, state := f.begin(t)
	f.clock.Advance(oidc.MaxPendingAge + time.Second)
	_, err := f.p.Finish(context.Background(), pending, state, code)
	wantErr(t, err, authn.ErrBadCredentials)
	if n := f.op.TokenRequests.Load(); n != 0 {
		t.Errorf("%d token requests for an expired sign-in, want 0", n)
	}
}

// A user may spend nearly MaxPendingAge at the provider.
func TestPendingJustInTime(t *testing.T) {
	f := newFixture(t, nil)
	authURL, pending, err := f.p.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(oidc.MaxPendingAge - time.Second)
	q := f.op.SignIn(t, authURL).Query()
	if _, err := f.p.Finish(context.Background(), pending, q.Get("state"), q.Get("code")); err != nil {
		t.Fatal(err)
	}
}

func TestBadIDTokenRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(jwt.MapClaims)
	}{
		{"nonce of another sign-in", func(c jwt.MapClaims) { c["nonce"] = "another-sign-in" }},
		{"no nonce", func(c jwt.MapClaims) { delete(c, "nonce") }},
		{"another audience", func(c jwt.MapClaims) { c["aud"] = "someone-else" }},
		{"another issuer", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }},
		{"expired", func(c jwt.MapClaims) { c["exp"] = c["iat"].(int64) - 60 }},
		{"several audiences, no azp", func(c jwt.MapClaims) { c["aud"] = []string{"tollgate", "someone-else"} }},
		{"issued to another party", func(c jwt.MapClaims) { c["azp"] = "someone-else" }},
		{"groups not a list of strings", func(c jwt.MapClaims) { c["groups"] = []any{"dev", 7} }},
		{"no username", func(c jwt.MapClaims) { delete(c, "preferred_username") }},
		{"username not a string", func(c jwt.MapClaims) { c["preferred_username"] = 42 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.op.EditClaims(tt.edit)
			_, err := f.signIn(t)
			wantErr(t, err, authn.ErrBadCredentials)
		})
	}
}

func TestIDTokenSignedWithUnknownKeyRefused(t *testing.T) {
	f := newFixture(t, nil)
	f.op.SignWithUnknownKey(true)
	_, err := f.signIn(t)
	wantErr(t, err, authn.ErrBadCredentials)
	if errors.Is(err, authn.ErrUnavailable) {
		t.Errorf("err = %v: a bad signature is not unavailability", err)
	}
}

func TestAudienceWithAZP(t *testing.T) {
	f := newFixture(t, nil)
	f.op.EditClaims(func(c jwt.MapClaims) { c["aud"], c["azp"] = []string{"tollgate", "api"}, "tollgate" })
	if _, err := f.signIn(t); err != nil {
		t.Fatal(err)
	}
}

func TestGroups(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(jwt.MapClaims)
		claim string
		want  []string
	}{
		{"a list", nil, "", []string{"dev", "ops"}},
		{"one string", func(c jwt.MapClaims) { c["groups"] = "dev" }, "", []string{"dev"}},
		{"none", func(c jwt.MapClaims) { delete(c, "groups") }, "", nil},
		{"another claim", func(c jwt.MapClaims) { c["roles"] = []string{"admins"} }, "roles", []string{"admins"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *oidc.ProviderConfig) { c.GroupsClaim = tt.claim })
			f.op.EditClaims(tt.edit)
			id, err := f.signIn(t)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(id.Groups(), tt.want) {
				t.Errorf("groups = %q, want %q", id.Groups(), tt.want)
			}
		})
	}
}

func TestUsernameClaimEmail(t *testing.T) {
	f := newFixture(t, func(c *oidc.ProviderConfig) { c.UsernameClaim = "email" })
	f.op.SetUser("bob", "bob@example.com", []string{"qa"})
	id, err := f.signIn(t)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "bob@example.com" || !slices.Equal(id.Groups(), []string{"qa"}) {
		t.Errorf("identity = %+v, groups %q", id, id.Groups())
	}

	// An address the provider does not vouch for names no one.
	for _, v := range []any{false, nil, "false"} {
		f.op.EditClaims(func(c jwt.MapClaims) { c["email_verified"] = v })
		_, err = f.signIn(t)
		wantErr(t, err, authn.ErrBadCredentials)
	}
}

func TestUnverifiedEmailNotKept(t *testing.T) {
	f := newFixture(t, nil)
	for _, v := range []any{false, "false"} {
		f.op.EditClaims(func(c jwt.MapClaims) { c["email_verified"] = v })
		id, err := f.signIn(t)
		if err != nil {
			t.Fatal(err)
		}
		if id.Name != "alice" || id.Attrs.Email != "" {
			t.Errorf("email_verified %#v: identity = %+v, email %q: want alice, no email", v, id, id.Attrs.Email)
		}
	}
}

func TestUnsafeUsernameRefused(t *testing.T) {
	for _, name := range []string{"", "team/alice", "ci:github:acme", "alice smith", "alice\n", "al\x00ice", "al\u2028ice",
		"a*", "..", strings.Repeat("a", 257)} {
		t.Run(fmt.Sprintf("%.20q", name), func(t *testing.T) {
			f := newFixture(t, nil)
			f.op.SetUser(name, "x@example.com", nil)
			_, err := f.signIn(t)
			wantErr(t, err, authn.ErrBadCredentials)
		})
	}
	f := newFixture(t, nil)
	f.op.SetUser(strings.Repeat("a", 256), "", nil)
	if _, err := f.signIn(t); err != nil {
		t.Errorf("a 256-byte name: %v", err)
	}
}

func TestProviderDownAtStart(t *testing.T) {
	f := &fixture{op: oidctest.Start(t), clock: clocktest.New(time.Now())}
	f.op.SetClock(f.clock.Now)
	f.op.SetDown(true)
	p, err := oidc.New(f.op.Config("corp"), callback, oidc.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatalf("New with the provider down: %v", err)
	}
	f.p = p
	if n := f.op.Discoveries.Load(); n != 0 {
		t.Errorf("New made %d discovery requests, want none", n)
	}
	_, _, err = p.Begin(context.Background())
	wantErr(t, err, authn.ErrUnavailable)
	pending := oidc.Pending{Provider: "corp", State: "s", Nonce: "n", Verifier: "v", Created: f.clock.Now()}
	_, err = p.Finish(context.Background(), pending, "s", "code")
	wantErr(t, err, authn.ErrUnavailable)
	if n := f.op.Discoveries.Load(); n != 1 {
		t.Errorf("%d discovery requests within the retry interval, want 1", n)
	}

	f.op.SetDown(false)
	f.clock.Advance(time.Second)
	if _, _, err := p.Begin(context.Background()); !errors.Is(err, authn.ErrUnavailable) {
		t.Errorf("Begin a second after the failure: %v, want the failure again", err)
	}
	f.clock.Advance(10 * time.Second)
	id, err := f.signIn(t)
	if err != nil {
		t.Fatalf("once the provider is up: %v", err)
	}
	if id.Name != "alice" || f.op.Discoveries.Load() != 2 {
		t.Errorf("identity %+v after %d discoveries", id, f.op.Discoveries.Load())
	}
}

func TestProviderUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := oidctest.Start(t).Config("corp")
	c.Issuer, c.Timeout = "https://"+addr, 500*time.Millisecond
	p, err := oidc.New(c, callback, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = p.Begin(context.Background())
	wantErr(t, err, authn.ErrUnavailable)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Begin took %s", d)
	}
}

func TestIssuerMismatchUnavailable(t *testing.T) {
	f := newFixture(t, func(c *oidc.ProviderConfig) { c.Issuer += "/" })
	_, _, err := f.p.Begin(context.Background())
	wantErr(t, err, authn.ErrUnavailable)
}

func TestProviderDownAtTokenEndpoint(t *testing.T) {
	f := newFixture(t, nil)
	pending, code, state := f.begin(t)
	f.op.SetDown(true)
	_, err := f.p.Finish(context.Background(), pending, state, code)
	wantErr(t, err, authn.ErrUnavailable)
}

func TestKeysUnavailable(t *testing.T) {
	f := newFixture(t, nil)
	f.op.SetKeysDown(true)
	_, err := f.signIn(t)
	wantErr(t, err, authn.ErrUnavailable)
	if errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("err = %v: keys that cannot be fetched are not a bad token", err)
	}
	f.op.SetKeysDown(false)
	if _, err := f.signIn(t); err != nil {
		t.Fatalf("once the keys are back: %v", err)
	}
}

func TestWrongClientSecretUnavailable(t *testing.T) {
	f := newFixture(t, func(c *oidc.ProviderConfig) { c.ClientSecret = "wrong" })
	_, err := f.signIn(t)
	wantErr(t, err, authn.ErrUnavailable)
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("err = %v shows the secret", err)
	}
}

func TestClientSecretFile(t *testing.T) {
	f := newFixture(t, func(c *oidc.ProviderConfig) {
		c.ClientSecretFile = filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(c.ClientSecretFile, []byte(string(c.ClientSecret)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c.ClientSecret = ""
	})
	if _, err := f.signIn(t); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentSignIns(t *testing.T) {
	f := newFixture(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			authURL, pending, err := f.p.Begin(context.Background())
			if err != nil {
				errs <- err
				return
			}
			q := f.op.SignIn(t, authURL).Query()
			_, err = f.p.Finish(context.Background(), pending, q.Get("state"), q.Get("code"))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := f.op.Discoveries.Load(); n != 1 {
		t.Errorf("%d discoveries, want 1", n)
	}
}

func TestNewRefuses(t *testing.T) {
	op := oidctest.Start(t)
	tests := []struct {
		name     string
		edit     func(*oidc.ProviderConfig)
		redirect string
	}{
		{"bad config", func(c *oidc.ProviderConfig) { c.Issuer = "http://idp.example" }, callback},
		{"redirect over http", nil, "http://tollgate.example/cb"},
		{"relative redirect", nil, "/ui/cb"},
		{"missing secret file", func(c *oidc.ProviderConfig) { c.ClientSecret, c.ClientSecretFile = "", "/nonexistent" }, callback},
		{"missing CA file", func(c *oidc.ProviderConfig) { c.CAFile = "/nonexistent" }, callback},
		{"CA file without PEM", func(c *oidc.ProviderConfig) {
			c.CAFile = filepath.Join(t.TempDir(), "ca.pem")
			_ = os.WriteFile(c.CAFile, []byte("not pem"), 0o600)
		}, callback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := op.Config("corp")
			if tt.edit != nil {
				tt.edit(&c)
			}
			if _, err := oidc.New(c, tt.redirect, oidc.Options{}); err == nil {
				t.Error("New succeeded")
			}
		})
	}
	if _, err := oidc.New(op.Config("corp"), "http://127.0.0.1:5000/ui/cb", oidc.Options{}); err != nil {
		t.Errorf("http redirect on loopback: %v", err)
	}
}
