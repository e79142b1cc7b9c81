package interop_test

// The web UI in a real browser: headless Chromium signs in with a password
// and with an OpenID Provider, makes an API token that the real registry
// takes from a real client, revokes it, asks the ACL, and administers
// users, tokens and keys; a screenshot of every page is taken on the way
// (deploy/screenshots/ui with TOLLGATE_UPDATE_SCREENSHOTS=1).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	ggcrauthn "github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/oidc"
	"github.com/tollgate/tollgate/pkg/authn/oidc/oidctest"
)

// The UI's cookies and the OpenID Provider of the environment.
const (
	sessionCookie   = "tg_session"
	preSigninCookie = "tg_presignin"
	pendingCookie   = "tg_oidc"
	corp            = "corp"
)

// uiEnv is a Tollgate with the web UI on, signing with a key ring whose CA
// the registry trusts, an OpenID Provider "corp" for its sign-in, the
// registry, and headless Chromium trusting the provider's certificate.
type uiEnv struct {
	*e2eEnv
	idp     *oidctest.Provider
	browser context.Context
	shots   screens
}

// newUIEnv finds Chromium, starts the provider (whose user is dora, of
// group ops), then Tollgate on e2etest's users and ACL with writeUIConfig's
// additions, then the registry trusting the ring's CA (`tollgate keys ca`),
// then Chromium.
func newUIEnv(t *testing.T) *uiEnv {
	t.Helper()
	chromium := findChromium(t) // skips (fails in CI) before anything starts
	shots := screenshotDir(t)   // before OnlyEnv clears TOLLGATE_UPDATE_SCREENSHOTS
	e2etest.OnlyEnv(t, nil)
	captureRegistryLogs(t)
	idp := oidctest.Start(t)
	idp.SetUser("dora", "dora@example.org", []string{"ops"})
	dir := t.TempDir()
	e2etest.WriteHtpasswd(t, filepath.Join(dir, "htpasswd"), e2etest.Users)
	e2etest.LoadConfig(t, dir)
	configPath := filepath.Join(dir, "tollgate.yaml")
	base, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	secrets := writeUISecrets(t, dir, idp.Config(corp))
	env := startTollgateWith(t, configPath, func(addr string) {
		writeUIConfig(t, configPath, string(base), "http://"+localhostAddr(t, addr), idp.Config(corp), secrets)
	})
	env.WaitServing(t) // the first start creates the ring in the store
	bundle, err := runCLI(t, "", "keys", "ca", "--config", configPath)
	if err != nil || !strings.Contains(bundle, "BEGIN CERTIFICATE") {
		t.Fatalf("tollgate keys ca: %v\n%s", err, bundle)
	}
	env.certPath = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(env.certPath, []byte(bundle), 0o644); err != nil {
		t.Fatal(err)
	}
	env.registryHost = startRegistry(t, env.Realm, env.certPath)
	env.waitReady(t)
	return &uiEnv{e2eEnv: env, idp: idp, browser: startBrowser(t, chromium, idp.CAFile), shots: shots}
}

// localhostAddr is 127.0.0.1:PORT as localhost:PORT, how the browser and
// the clients address Tollgate.
func localhostAddr(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("localhost", port)
}

// uiSecrets are the files of the secrets writeUIConfig names.
type uiSecrets struct {
	ring, client string // keys.ring.secret_file; ui.oidc[0].client_secret_file
}

// writeUISecrets writes a new key ring's secret and the client secret of
// pc into dir, as an operator keeps them.
func writeUISecrets(t testing.TB, dir string, pc oidc.ProviderConfig) uiSecrets {
	t.Helper()
	ring := make([]byte, 32)
	if _, err := rand.Read(ring); err != nil {
		t.Fatal(err)
	}
	s := uiSecrets{ring: filepath.Join(dir, "ring.secret"), client: filepath.Join(dir, pc.Name+".secret")}
	for file, secret := range map[string]string{s.ring: hex.EncodeToString(ring), s.client: string(pc.ClientSecret) + "\n"} {
		if err := os.WriteFile(file, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// writeUIConfig writes e2etest's configuration yaml to path with the UI
// on: server.public_url, the provider pc (its secret in a file), admin in
// users.admins, a key ring (with its CA, rotated only by hand, a new key
// signing at once), and a failed-login budget of 2 per user refilled at 1
// a minute. It checks that the result loads and validates as `tollgate
// serve` will load it.
func writeUIConfig(t testing.TB, path, yaml, publicURL string, pc oidc.ProviderConfig, secrets uiSecrets) {
	t.Helper()
	if !strings.HasPrefix(yaml, "server:\n") || strings.Count(yaml, "\nusers:\n") != 1 || strings.Count(yaml, "\nkeys:\n") != 1 {
		t.Fatalf("%s: no single server, users and keys section to extend:\n%s", path, yaml)
	}
	yaml = fmt.Sprintf("server:\n  public_url: %q\n", publicURL) + strings.TrimPrefix(yaml, "server:\n")
	yaml = strings.Replace(yaml, "\nusers:\n", "\nusers:\n  admins: [admin]\n", 1)
	yaml = strings.Replace(yaml, "\nkeys:\n", fmt.Sprintf("\nkeys:\n  ring: {enabled: true, secret_file: %q, ca: true, rotate_every: 0s, prepublish: 0s, sync_every: 1s}\n",
		secrets.ring), 1)
	yaml += "limits:\n  failures_per_minute: 1\n  failure_burst: 2\n"
	tests := filepath.Join(filepath.Dir(path), "acl-tests.yaml")
	if err := os.WriteFile(tests, []byte(`- {account: alice, scope: "repository:alice/app:push", expect: [push]}
- {account: "", scope: "repository:public/x:pull", expect: [pull]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml += fmt.Sprintf(`ui:
  enabled: true
  acl_tests: %q
  oidc:
    - name: %s
      issuer: %q
      client_id: %q
      client_secret_file: %q
      ca_file: %q
`, tests, pc.Name, pc.Issuer, pc.ClientID, secrets.client, pc.CAFile)
	cfg := writeConfig(t, path, yaml)
	if !cfg.UI.Enabled || len(cfg.UI.OIDC) != 1 || cfg.Server.PublicURL != publicURL || !cfg.Keys.Ring.Enabled || cfg.Limits.FailureBurst != 2 {
		t.Fatalf("ui %+v, public_url %q, ring %+v, failure_burst %d from\n%s", cfg.UI, cfg.Server.PublicURL, cfg.Keys.Ring, cfg.Limits.FailureBurst, yaml)
	}
}

// signIn fills and sends the sign-in form and returns the status of the
// page it leads to.
func (p *person) signIn(t testing.TB, user, password string) int {
	t.Helper()
	if status := p.open(t, "/ui/signin"); status != http.StatusOK {
		t.Fatalf("%s: GET /ui/signin: %d", p.name, status)
	}
	p.fill(t, "#username", user)
	p.fill(t, "#password", password)
	return p.submit(t, `form[action="/ui/signin"] button[type=submit]`)
}

// mustSignIn signs in with the password of e2etest.Users and checks that
// the user lands on My tokens.
func (p *person) mustSignIn(t testing.TB, user string) {
	t.Helper()
	if status := p.signIn(t, user, e2etest.Users[user]); status != http.StatusOK {
		t.Fatalf("%s: sign in as %s: status %d, error %q", p.name, user, status, p.text(t, ".error"))
	}
	p.wantPage(t, "/ui/tokens", "My tokens")
	if who := p.text(t, ".who"); who != user {
		t.Fatalf("%s: signed in as %q, want %s", p.name, who, user)
	}
}

// wantText checks the text of the first element sel matches.
func (p *person) wantText(t testing.TB, sel, want string) {
	t.Helper()
	if got := p.text(t, sel); got != want {
		t.Errorf("%s at %s: %s says %q, want %q", p.name, p.path(t), sel, got, want)
	}
}

// wantCount checks how many elements sel matches.
func (p *person) wantCount(t testing.TB, sel string, want int) {
	t.Helper()
	if got := p.count(t, sel); got != want {
		t.Errorf("%s at %s: %d elements match %s, want %d", p.name, p.path(t), got, sel, want)
	}
}

// wantDialogs checks the messages of the dialogs accepted since the last
// check.
func (p *person) wantDialogs(t testing.TB, want ...string) {
	t.Helper()
	if got := p.takeDialogs(); !slices.Equal(got, want) {
		t.Errorf("%s was asked %q, want %q", p.name, got, want)
	}
}

// wantUICookie checks a cookie's attributes: HttpOnly, SameSite=Lax, not
// Secure (plain HTTP on loopback), path /ui/.
func wantUICookie(t testing.TB, c *network.Cookie, name string) {
	t.Helper()
	switch {
	case c == nil:
		t.Fatalf("the browser holds no %s cookie", name)
	case !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Secure || c.Path != "/ui/":
		t.Errorf("cookie %s: HttpOnly %v, SameSite %q, Secure %v, Path %q; want HttpOnly, Lax, not Secure on plain-HTTP loopback, /ui/",
			name, c.HTTPOnly, c.SameSite, c.Secure, c.Path)
	}
}

// postForm POSTs form to base+path as a script outside the browser would,
// with the session cookie sess (none if nil); it returns the status and
// the page.
func postForm(t testing.TB, client *http.Client, base, path string, form url.Values, sess *network.Cookie) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sess != nil {
		req.AddCookie(&http.Cookie{Name: sess.Name, Value: sess.Value})
	}
	status, _, body := e2etest.Fetch(t, client, req)
	return status, string(body)
}

// TestEndToEndUI: the web UI in headless Chromium against `tollgate
// serve`, the real registry and go-containerregistry. The subtests share
// one environment and run in order, each stopping the test if it fails:
// alice signs in, makes a token that pushes and stops pushing once revoked,
// asks what she may do, and cannot post without the form's CSRF token; an
// administrator disables and enables her; bob spends his failed-login
// budget; dora signs in with the OpenID Provider, whose wrong-state and
// replayed callbacks are refused; then the administrator's pages.
func TestEndToEndUI(t *testing.T) {
	begin := time.Now()
	env := newUIEnv(t)
	t.Logf("environment up in %v; screenshots in %s", time.Since(begin).Round(time.Millisecond), env.shots.dir)
	ctx := t.Context()
	base := env.Base()
	alice := newPerson(t, env.browser, "alice", base)
	admin := newPerson(t, env.browser, "admin", base)
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("alice signs in with her password and lands on My tokens", func(t *testing.T) {
		if status := alice.open(t, "/"); status != http.StatusOK {
			t.Fatalf("GET / in the browser: %d", status)
		}
		alice.wantPage(t, "/ui/signin", "Sign in")
		alice.wantCount(t, `a[href="/ui/oidc/corp/start"]`, 1)
		alice.wantText(t, `a[href="/ui/oidc/corp/start"]`, "Sign in with corp")
		wantUICookie(t, alice.cookie(t, "/ui/signin", preSigninCookie), preSigninCookie)
		env.shots.shoot(t, alice, "signin", desktopWidth)
		alice.mustSignIn(t, "alice")
		wantUICookie(t, alice.cookie(t, "/ui/tokens", sessionCookie), sessionCookie)
		alice.wantText(t, "#list + p", "No tokens yet.")
	})

	step("a write token made in the page pushes through the registry until revoked in the page", func(t *testing.T) {
		alice.choose(t, "#role", "write")
		alice.fill(t, "#description", "CI of alice/ui")
		if status := alice.submit(t, `form[action="/ui/tokens"] button[type=submit]`); status != http.StatusOK {
			t.Fatalf("create a token: status %d, error %q", status, alice.text(t, ".error"))
		}
		alice.wantText(t, "#new-token", "Your new write token")
		secret := alice.text(t, "#token-value")
		if !apitoken.LooksLike(secret) {
			t.Fatalf("#token-value %q is not an API token", secret)
		}
		lines := alice.text(t, "#login-lines")
		for _, want := range []string{
			"echo '" + secret + "' | docker login registry.local -u token --password-stdin",
			"crane auth login registry.local -u token -p '" + secret + "'",
			"echo '" + secret + "' | oras login registry.local -u token --password-stdin",
		} {
			if !strings.Contains(lines, want) {
				t.Errorf("#login-lines %q lacks %q", lines, want)
			}
		}
		prefix := apitoken.HashPrefix(apitoken.Hash(secret))
		revoke := fmt.Sprintf(`form[action="/ui/tokens/revoke"]:has(input[name=prefix][value=%q]) button`, prefix)
		alice.wantCount(t, revoke, 1)
		shootTokenPage(t, env, alice)

		asToken := &ggcrauthn.Basic{Username: apiTokenUser, Password: secret}
		pushed := env.mustPush(t, ctx, "alice/ui:v1", asToken)
		if got, err := env.pull(ctx, "alice/ui:v1", basic("alice")); err != nil || got != pushed {
			t.Fatalf("pull alice/ui:v1 = %s, %v; pushed %s with the page's token", got, err, pushed)
		}

		if status := alice.submit(t, revoke); status != http.StatusOK {
			t.Fatalf("revoke: status %d, error %q", status, alice.text(t, ".error"))
		}
		alice.wantDialogs(t, "Revoke this token? Whatever uses it stops working.")
		alice.wantText(t, ".notice", "Token "+prefix+" revoked.")
		alice.wantCount(t, revoke, 0)
		alice.wantText(t, "tbody tr td:nth-child(7)", "revoked")
		_, err := env.push(ctx, "alice/ui:v2", asToken)
		wantTransportError(t, err, http.StatusUnauthorized, transport.UnauthorizedErrorCode, http.MethodGet, env.Host, "/oauth2/token")
	})

	step("What can I do? names alice's actions on alice/app and the rule that decides", func(t *testing.T) {
		alice.open(t, "/ui/access")
		alice.wantPage(t, "/ui/access", "What can I do?")
		alice.fill(t, "#repository", "alice/app")
		if status := alice.submit(t, `form[action="/ui/access"] button[type=submit]`); status != http.StatusOK {
			t.Fatalf("check alice/app: status %d", status)
		}
		alice.wantPage(t, "/ui/access?repository=alice%2Fapp", "What can I do?")
		alice.wantText(t, "#granted", "pull, push")
		alice.wantText(t, "#rule", "rule 1: account=* type=repository name=${account}/* actions=pull,push")
		env.shots.shoot(t, alice, "access", desktopWidth)

		alice.fill(t, "#repository", "bob/app")
		alice.submit(t, `form[action="/ui/access"] button[type=submit]`)
		alice.wantText(t, "#granted", "You may do nothing here.")
		alice.wantText(t, "#rule", "no rule matched (default deny)")
	})

	step("a POST without the session's CSRF token is refused", func(t *testing.T) {
		sess := alice.cookie(t, "/ui/tokens", sessionCookie)
		wantUICookie(t, sess, sessionCookie)
		alice.open(t, "/ui/tokens")
		csrf := alice.value(t, `form[action="/ui/tokens"] input[name=csrf]`)
		live := `form[action="/ui/tokens/revoke"]`
		alice.wantCount(t, live, 0)
		for _, c := range []struct {
			name       string
			form       url.Values
			sess       *network.Cookie
			status     int
			wantInPage string
		}{
			{"no csrf field", url.Values{"role": {"read"}}, sess, http.StatusForbidden, "CSRF token missing or wrong"},
			{"a wrong csrf", url.Values{"role": {"read"}, "csrf": {"x" + csrf}}, sess, http.StatusForbidden, "CSRF token missing or wrong"},
			{"the right csrf, no session", url.Values{"role": {"read"}, "csrf": {csrf}}, nil, http.StatusUnauthorized, "Your session has ended"},
			{"the right csrf", url.Values{"role": {"read"}, "csrf": {csrf}}, sess, http.StatusOK, `id="token-value"`},
		} {
			status, page := postForm(t, env.HTTP, base, "/ui/tokens", c.form, c.sess)
			if status != c.status || !strings.Contains(page, c.wantInPage) {
				t.Errorf("POST /ui/tokens with %s: %d, page holds %q: %v; want %d and it", c.name, status, c.wantInPage,
					strings.Contains(page, c.wantInPage), c.status)
			}
		}
		alice.open(t, "/ui/tokens")
		alice.wantCount(t, live, 1) // the accepted POST's token, no other

		// The sign-in form's double-submit token: without its cookie, the
		// field alone is refused (before any password is checked).
		status, page := postForm(t, env.HTTP, base, "/ui/signin",
			url.Values{"username": {"alice"}, "password": {e2etest.Users["alice"]}, "csrf": {csrf}}, nil)
		if status != http.StatusForbidden || !strings.Contains(page, "CSRF token missing or wrong") {
			t.Errorf("POST /ui/signin without the %s cookie: %d; want 403, CSRF", preSigninCookie, status)
		}
	})

	step("an administrator disables alice: her session ends and her password stops working until enabled", func(t *testing.T) {
		admin.mustSignIn(t, "admin")
		admin.open(t, "/ui/admin/users")
		admin.wantPage(t, "/ui/admin/users", "Users")
		if status := admin.submit(t, `form[action="/ui/admin/users/alice/disable"] button`); status != http.StatusOK {
			t.Fatalf("disable alice: status %d, error %q", status, admin.text(t, ".error"))
		}
		admin.wantDialogs(t, "Disable alice?")
		admin.wantText(t, ".notice", "User alice: disable done.")
		admin.wantCount(t, `form[action="/ui/admin/users/alice/enable"]`, 1)

		if status := alice.load(t, "reload", chromedp.Reload()); status != http.StatusOK {
			t.Errorf("alice reloads: status %d", status)
		}
		alice.wantPage(t, "/ui/signin", "Sign in")
		status, body := env.GetToken(t, "alice", e2etest.Users["alice"], "repository:alice/app:pull")
		if status != http.StatusUnauthorized || body["token"] != nil {
			t.Errorf("token for disabled alice: %d %v, want 401 and no token", status, body)
		}
		if status := alice.signIn(t, "alice", e2etest.Users["alice"]); status != http.StatusUnauthorized {
			t.Errorf("disabled alice signs in: status %d, want 401", status)
		}
		t.Logf("the sign-in page to disabled alice: %q", alice.text(t, ".error"))

		if status := admin.submit(t, `form[action="/ui/admin/users/alice/enable"] button`); status != http.StatusOK {
			t.Fatalf("enable alice: status %d, error %q", status, admin.text(t, ".error"))
		}
		admin.wantDialogs(t) // enabling asks nothing
		admin.wantText(t, ".notice", "User alice: enable done.")
		env.MustGetToken(t, "alice", "repository:alice/app:pull")
		alice.mustSignIn(t, "alice")
	})

	step("wrong passwords in the sign-in form spend bob's budget: the third try gets 429, even with the right password", func(t *testing.T) {
		bob := newPerson(t, env.browser, "bob", base)
		defer bob.wantCleanConsole(t)
		for try := 1; try <= 2; try++ {
			if status := bob.signIn(t, "bob", "not-"+e2etest.Users["bob"]); status != http.StatusUnauthorized {
				t.Fatalf("wrong password, try %d: status %d, want 401", try, status)
			}
			bob.wantText(t, ".error", "invalid username or password")
			if got := bob.value(t, "#username"); got != "bob" {
				t.Errorf("the form forgot the user name: %q", got)
			}
		}
		if status := bob.signIn(t, "bob", e2etest.Users["bob"]); status != http.StatusTooManyRequests {
			t.Fatalf("right password after two wrong ones: status %d, want 429", status)
		}
		bob.wantText(t, ".error", "Too many failed sign-ins; wait a little and try again.")
		if status, body := env.GetToken(t, "bob", e2etest.Users["bob"], "repository:bob/app:pull"); status != http.StatusTooManyRequests {
			t.Errorf("bob at the token endpoint: %d %v, want 429 (one budget for both)", status, body)
		}
	})

	step("dora signs in with corp; a callback of another state and a replayed code are refused", func(t *testing.T) {
		dora := newPerson(t, env.browser, "dora", base)
		defer dora.wantCleanConsole(t)
		start := `a[href="/ui/oidc/corp/start"]`
		dora.open(t, "/ui/signin")
		if status := dora.load(t, "sign in with corp", chromedp.Click(chromedp.CSS(start))); status != http.StatusOK {
			t.Fatalf("sign in with corp: status %d, error %q", status, dora.text(t, ".error"))
		}
		dora.wantPage(t, "/ui/tokens", "My tokens")
		dora.wantText(t, ".who", "dora")
		wantUICookie(t, dora.cookie(t, "/ui/tokens", sessionCookie), sessionCookie)
		if a, tr := env.idp.Authorizations.Load(), env.idp.TokenRequests.Load(); a != 1 || tr != 1 {
			t.Errorf("the provider saw %d authorizations and %d token requests, want 1 and 1", a, tr)
		}

		// The user leaves the provider's page: the sign-in stays pending,
		// and a callback with another state is refused before the
		// provider is asked anything.
		held := dora.holdRequests(t, env.idp.URL+"/authorize*")
		dora.open(t, "/ui/signin")
		dora.step(t, "click Sign in with corp", chromedp.Click(chromedp.CSS(start)))
		r := held.next(t)
		if !strings.HasPrefix(r.url, env.idp.URL+"/authorize?") {
			t.Fatalf("held %s, want the provider's authorization endpoint", r.url)
		}
		if dora.cookie(t, "/ui/oidc/corp/callback", pendingCookie) == nil {
			t.Fatalf("no %s cookie for the callback while the sign-in is pending", pendingCookie)
		}
		held.abort(t, r)
		held.stop(t)
		tokenRequests := env.idp.TokenRequests.Load()
		if status := dora.open(t, "/ui/oidc/corp/callback?state=wrong&code=x"); status != http.StatusUnauthorized {
			t.Errorf("callback with a wrong state: status %d, want 401", status)
		}
		dora.wantText(t, "h1", "Sign in")
		dora.wantText(t, ".error", "Sign-in refused: the callback is of another sign-in (state)")
		if n := env.idp.TokenRequests.Load(); n != tokenRequests {
			t.Errorf("a callback with a wrong state reached the provider's token endpoint (%d requests, want %d)", n, tokenRequests)
		}
		if dora.cookie(t, "/ui/oidc/corp/callback", pendingCookie) != nil {
			t.Errorf("the %s cookie outlived the callback", pendingCookie)
		}

		// A sign-in through to the end, holding the callback to read its
		// URL; then the same callback again, with the same pending
		// sign-in restored: the provider refuses the code it gave once.
		held = dora.holdRequests(t, env.idp.URL+"/authorize*", "*/ui/oidc/corp/callback*")
		dora.open(t, "/ui/signin")
		dora.step(t, "click Sign in with corp", chromedp.Click(chromedp.CSS(start)))
		r = held.next(t)
		pending := dora.cookie(t, "/ui/oidc/corp/callback", pendingCookie)
		if pending == nil {
			t.Fatalf("no %s cookie while the sign-in is pending", pendingCookie)
		}
		held.resume(t, r)
		callback := held.next(t)
		if u, err := url.Parse(callback.url); err != nil || u.Path != "/ui/oidc/corp/callback" || u.Query().Get("code") == "" || u.Query().Get("state") == "" {
			t.Fatalf("held %s, want the callback with a code and a state", callback.url)
		}
		held.resume(t, callback)
		dora.waitPath(t, "/ui/tokens")
		held.stop(t)
		dora.wantText(t, ".who", "dora")
		tokenRequests = env.idp.TokenRequests.Load()
		dora.setCookie(t, pending)
		if status := dora.load(t, "replay the callback", chromedp.Navigate(callback.url)); status != http.StatusUnauthorized {
			t.Errorf("replayed callback: status %d, want 401", status)
		}
		dora.wantText(t, "h1", "Sign in")
		dora.wantText(t, ".error", `Sign-in refused: the provider refused the code ("invalid_grant")`)
		if n := env.idp.TokenRequests.Load(); n != tokenRequests+1 {
			t.Errorf("the provider's token endpoint saw %d requests after the replay, want %d", n, tokenRequests+1)
		}
	})

	step("the administrator's pages: users, all tokens, audit, keys (rotated here), ACL", func(t *testing.T) {
		admin.open(t, "/ui/admin/users")
		admin.wantPage(t, "/ui/admin/users", "Users")
		for _, user := range []string{"admin", "alice", "bob", "dora"} {
			admin.wantCount(t, fmt.Sprintf(`form[action="/ui/admin/users/%s/revoke"]`, user), 1)
		}
		env.shots.shoot(t, admin, "admin-users", desktopWidth)

		admin.open(t, "/ui/admin/tokens?owner=alice")
		admin.wantPage(t, "/ui/admin/tokens?owner=alice", "All API tokens")
		admin.wantCount(t, "tbody tr", 2)                               // the revoked write token and the live read one
		admin.wantCount(t, `form[action="/ui/admin/tokens/revoke"]`, 1) // only the live one can be revoked
		admin.open(t, "/ui/admin/tokens")
		env.shots.shoot(t, admin, "admin-tokens", desktopWidth)

		admin.open(t, "/ui/admin/audit?subject=alice")
		admin.wantPage(t, "/ui/admin/audit?subject=alice", "Audit log")
		kinds := eval[[]string](t, admin, `[...document.querySelectorAll("tbody tr td:nth-child(2)")].map(td => td.textContent)`)
		for _, want := range []string{"ui.signin", "apitoken.created", "apitoken.revoked", "token.denied"} {
			if !slices.Contains(kinds, want) {
				t.Errorf("alice's audit events %q lack %s", kinds, want)
			}
		}
		for _, kind := range []string{"user.disabled", "user.enabled"} { // the administrator is their subject
			admin.open(t, "/ui/admin/audit?subject=admin&kind="+kind)
			if details := eval[[]string](t, admin, `[...document.querySelectorAll("td.detail")].map(td => td.textContent)`); len(details) != 1 || !strings.HasPrefix(details[0], "user=alice ") {
				t.Errorf("admin's %s events: details %q, want one of user=alice", kind, details)
			}
		}
		admin.open(t, "/ui/admin/audit")
		env.shots.shoot(t, admin, "admin-audit", desktopWidth)

		admin.open(t, "/ui/admin/keys")
		admin.wantPage(t, "/ui/admin/keys", "Signing keys")
		admin.wantCount(t, "tbody tr", 1)
		admin.step(t, "tick the confirmation", chromedp.Click(chromedp.ID("confirm")))
		if status := admin.submit(t, `form[action="/ui/admin/keys/rotate"] button`); status != http.StatusOK {
			t.Fatalf("rotate: status %d, error %q", status, admin.text(t, ".error"))
		}
		admin.wantText(t, ".notice", "A new key is published; it signs after keys.ring.prepublish.")
		admin.wantCount(t, "tbody tr", 2)
		env.shots.shoot(t, admin, "admin-keys", desktopWidth)
		env.mustPush(t, ctx, "alice/ui:rotated", basic("alice")) // the registry trusts the new key's certificate (the ring's CA)

		admin.open(t, "/ui/admin/acl")
		admin.wantPage(t, "/ui/admin/acl", "Access control list")
		admin.wantCount(t, "tbody tr", 4)
		if report := admin.text(t, "#acl-report"); !strings.Contains(report, "2 passed, 0 failed") {
			t.Errorf("the ACL page's test report = %q, want 2 passed", report)
		}
		env.shots.shoot(t, admin, "admin-acl", desktopWidth)
	})

	step("an administrator's page to someone else is the error page", func(t *testing.T) {
		if status := alice.open(t, "/ui/admin/users"); status != http.StatusForbidden {
			t.Errorf("alice opens /ui/admin/users: status %d, want 403", status)
		}
		alice.wantPage(t, "/ui/admin/users", "Administrators only")
		alice.wantText(t, ".error", "This page is for administrators.")
		env.shots.shoot(t, alice, "error", desktopWidth)
	})

	alice.wantCleanConsole(t)
	admin.wantCleanConsole(t)
	t.Logf("done in %v", time.Since(begin).Round(time.Millisecond))
}

// shootTokenPage takes the tokens page, a new token shown, on the desktop,
// on a phone (where nothing may be wider than the screen) and in dark mode
// (whose colours must apply).
func shootTokenPage(t *testing.T, env *uiEnv, p *person) {
	t.Helper()
	env.shots.shoot(t, p, "tokens", desktopWidth)

	restore := p.phone(t)
	if w := eval[[2]int](t, p, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] || w[1] != 390 {
		t.Errorf("on a phone the tokens page is %d px wide for a %d px screen (want 390): something overflows", w[0], w[1])
	}
	env.shots.shoot(t, p, "tokens-phone", 390)
	restore()

	restore = p.darkMode(t)
	if bg := eval[string](t, p, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(18, 18, 20)" {
		t.Errorf("in dark mode the page's background is %s, want the dark theme's rgb(18, 18, 20)", bg)
	}
	env.shots.shoot(t, p, "tokens-dark", desktopWidth)
	restore()
}
