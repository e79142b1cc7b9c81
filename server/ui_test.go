package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/ratelimit"
	"github.com/tollgate/tollgate/pkg/session"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/server"
)

// uiEnv serves the web UI over the env's store, users and accounts.
type uiEnv struct{ *env }

func newUIEnv(t *testing.T, limits server.Limits) *uiEnv {
	t.Helper()
	e := newEnv(t)
	tokens := &apitoken.Tokens{Store: e.store, Accounts: e.accounts,
		Limits: apitoken.Limits{DefaultTTLDays: 30, MaxTTLDays: 365, MaxPerUser: 10}}
	ui := &server.UI{
		Sessions:  &session.Manager{Store: e.store, Idle: 30 * time.Minute, Absolute: 12 * time.Hour},
		Passwords: e.accounts.Authenticator(e.auth), Accounts: e.accounts, APITokens: tokens,
		ACL: authz.NewHolder(exampleACL(t)), Audit: e.store, Registry: "registry.local",
	}
	e.serve(t, server.New(server.Options{Grant: e.grantService(exampleACL(t)), Authn: e.accounts.Authenticator(e.auth),
		Logger: debugLogger(e.logs), Realm: issuer, Limits: limits, UI: ui}))
	return &uiEnv{env: e}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t   *testing.T
	c   *http.Client
	url string
}

func (e *uiEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: e.srv.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.url+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field in the page (%d):\n%s", p.status, p.body)
	}
	return m[1]
}

// signIn signs user in through the form and returns the landing status.
func (b *browser) signIn(user, password string) page {
	b.t.Helper()
	form := b.do(http.MethodGet, "/ui/signin", nil)
	return b.do(http.MethodPost, "/ui/signin", url.Values{"csrf": {form.csrf(b.t)}, "username": {user}, "password": {password}})
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.url + "/ui/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestUISignInSessionAndCSRF(t *testing.T) {
	e := newUIEnv(t, server.Limits{})
	b := e.browser(t)
	if p := b.do(http.MethodGet, "/", nil); p.status != http.StatusFound || p.header.Get("Location") != "/ui/" {
		t.Errorf("GET / = %d %q, want 302 /ui/", p.status, p.header.Get("Location"))
	}
	form := b.do(http.MethodGet, "/ui/signin", nil)
	if csp := form.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	// A sign-in form not sent by the page is refused.
	if p := b.do(http.MethodPost, "/ui/signin", url.Values{"csrf": {"forged"}, "username": {"alice"}, "password": {passwords["alice"]}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in with a forged csrf: %d, want 403", p.status)
	}
	p := b.signIn("alice", passwords["alice"])
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/tokens" {
		t.Fatalf("sign-in: %d %q", p.status, p.header.Get("Location"))
	}
	set := p.header.Get("Set-Cookie")
	if !strings.Contains(set, "tg_session=tgs_") || !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Lax") {
		t.Errorf("session cookie %q, want HttpOnly and SameSite=Lax", set)
	}
	first := b.cookie("tg_session").Value
	// Rotated on sign-in: a new session, the old one ended.
	b.signIn("alice", passwords["alice"])
	if second := b.cookie("tg_session").Value; second == first {
		t.Error("signing in again kept the session ID")
	}
	old := e.browser(t)
	old.c.Jar.SetCookies(mustURL(t, e.srv.URL+"/ui/"), []*http.Cookie{{Name: "tg_session", Value: first}})
	if p := old.do(http.MethodGet, "/ui/tokens", nil); p.status != http.StatusSeeOther {
		t.Errorf("the session before sign-in again: %d, want 303 to sign-in", p.status)
	}
	// Every state change needs the session's csrf.
	tokens := b.do(http.MethodGet, "/ui/tokens", nil)
	for name, csrf := range map[string]string{"none": "", "wrong": "x" + tokens.csrf(t)} {
		if p := b.do(http.MethodPost, "/ui/tokens", url.Values{"csrf": {csrf}, "role": {"write"}}); p.status != http.StatusForbidden ||
			strings.Contains(p.body, "tg_") {
			t.Errorf("create with %s csrf: %d, want 403 and no token", name, p.status)
		}
	}
	created := b.do(http.MethodPost, "/ui/tokens", url.Values{"csrf": {tokens.csrf(t)}, "role": {"write"}, "description": {"ci"}})
	if created.status != http.StatusOK || !regexp.MustCompile(`tg_[A-Za-z0-9]{40,}`).MatchString(created.body) ||
		!strings.Contains(created.body, "docker login registry.local -u token") {
		t.Errorf("create: %d, want the token shown once with the login lines", created.status)
	}
}

// The Secure flag is relaxed only for plain HTTP on loopback.
func TestUICookieSecure(t *testing.T) {
	e := newUIEnv(t, server.Limits{})
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/ui/signin", nil)
	req.Host = "tollgate.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("cookie for tollgate.example.com = %q, want Secure", c)
	}
}

func TestUIAdminAndDisable(t *testing.T) {
	e := newUIEnv(t, server.Limits{})
	alice, admin := e.browser(t), e.browser(t)
	alice.signIn("alice", passwords["alice"])
	admin.signIn("admin", passwords["admin"])
	if p := alice.do(http.MethodGet, "/ui/admin/users", nil); p.status != http.StatusForbidden {
		t.Errorf("alice on the admin page: %d, want 403", p.status)
	}
	users := admin.do(http.MethodGet, "/ui/admin/users", nil)
	if users.status != http.StatusOK || !strings.Contains(users.body, "alice") {
		t.Fatalf("admin users page: %d", users.status)
	}
	p := admin.do(http.MethodPost, "/ui/admin/users/alice/disable", url.Values{"csrf": {users.csrf(t)}})
	if p.status != http.StatusOK {
		t.Fatalf("disable alice: %d %s", p.status, p.body)
	}
	if p := alice.do(http.MethodGet, "/ui/tokens", nil); p.status != http.StatusSeeOther {
		t.Errorf("alice's session after the disable: %d, want 303 to sign-in", p.status)
	}
	if p := e.browser(t).signIn("alice", passwords["alice"]); p.status == http.StatusSeeOther {
		t.Error("a disabled user signed in")
	}
	admin.do(http.MethodPost, "/ui/admin/users/alice/enable", url.Values{"csrf": {users.csrf(t)}})
	if p := e.browser(t).signIn("alice", passwords["alice"]); p.status != http.StatusSeeOther {
		t.Errorf("alice after enable: %d", p.status)
	}
	for _, path := range []string{"/ui/admin/tokens", "/ui/admin/audit", "/ui/admin/keys", "/ui/admin/acl", "/ui/access?repository=alice/app"} {
		if p := admin.do(http.MethodGet, path, nil); p.status != http.StatusOK {
			t.Errorf("%s: %d", path, p.status)
		}
	}
}

// Wrong passwords in the form spend the failed-login budget.
func TestUISignInBudget(t *testing.T) {
	e := newUIEnv(t, server.Limits{PerUser: ratelimit.Budget{PerMinute: 1, Burst: 2}, PerIP: ratelimit.Budget{PerMinute: 1, Burst: 100},
		MaxTracked: 100})
	b := e.browser(t)
	for range 2 {
		if p := b.signIn("alice", "wrong"); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d, want 401", p.status)
		}
	}
	if p := b.signIn("alice", passwords["alice"]); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Errorf("after two failures: %d (Retry-After %q), want 429", p.status, p.header.Get("Retry-After"))
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// /ui/static/ serves its two files, never a listing.
func TestUIStatic(t *testing.T) {
	e := newUIEnv(t, server.Limits{})
	b := e.browser(t)
	for path, want := range map[string]int{"/ui/static/ui.css": 200, "/ui/static/ui.js": 200, "/ui/static/": 404, "/ui/static/x.html": 404} {
		if p := b.do(http.MethodGet, path, nil); p.status != want {
			t.Errorf("GET %s: %d, want %d", path, p.status, want)
		}
	}
	if p := b.do(http.MethodGet, "/ui/static/../ui.go", nil); p.status == http.StatusOK {
		t.Error("GET /ui/static/../ui.go served something")
	}
	if p := b.do(http.MethodGet, "/ui/static/ui.css", nil); !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") {
		t.Errorf("ui.css Content-Type %q", p.header.Get("Content-Type"))
	}
}

// A session ends with the user's revoke-tokens, wherever it was made (the
// CLI, the JSON API), not only with the UI's own.
func TestUISessionEndsWithRevokeTokens(t *testing.T) {
	e := newUIEnv(t, server.Limits{})
	b := e.browser(t)
	b.signIn("alice", passwords["alice"])
	time.Sleep(10 * time.Millisecond) // the revocation comes after the sign-in
	if _, err := e.accounts.RevokeTokens(context.Background(), "alice", store.AllKinds, "test"); err != nil {
		t.Fatal(err)
	}
	if p := b.do(http.MethodGet, "/ui/tokens", nil); p.status != http.StatusSeeOther {
		t.Errorf("alice's session after revoke-tokens: %d, want 303 to sign-in", p.status)
	}
}

// With an https public URL every cookie is Secure, loopback or not (a
// TLS-terminating proxy on the same host).
func TestUISecureCookiesFromTheConfiguration(t *testing.T) {
	e := newEnv(t)
	ui := &server.UI{Sessions: &session.Manager{Store: e.store, Idle: time.Hour, Absolute: time.Hour},
		Passwords: e.accounts.Authenticator(e.auth), Accounts: e.accounts, SecureCookies: true}
	e.serve(t, server.New(server.Options{Grant: e.grantService(exampleACL(t)), Authn: e.auth, Logger: debugLogger(e.logs),
		Realm: issuer, UI: ui}))
	resp, err := http.Get(e.srv.URL + "/ui/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("cookie %q, want Secure", c)
	}
}

// A new password ends the sessions signed in with the old one.
func TestUISessionEndsWithANewPassword(t *testing.T) {
	e := newUIEnv(t, server.Limits{})
	e.accounts.Sessions = e.store
	b := e.browser(t)
	b.signIn("alice", passwords["alice"])
	if p := b.do(http.MethodGet, "/ui/tokens", nil); p.status != http.StatusOK {
		t.Fatalf("alice signed in: %d", p.status)
	}
	if _, err := e.accounts.PasswordChangedTo(context.Background(), "alice", "new-epoch", "test", true); err != nil {
		t.Fatal(err)
	}
	if p := b.do(http.MethodGet, "/ui/tokens", nil); p.status != http.StatusSeeOther {
		t.Errorf("alice's session after a new password: %d, want 303 to sign-in", p.status)
	}
}
