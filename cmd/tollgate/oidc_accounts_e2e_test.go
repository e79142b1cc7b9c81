package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/authn/authntest"
	"github.com/tollgate/tollgate/pkg/authn/oidc"
	"github.com/tollgate/tollgate/pkg/authn/oidc/oidctest"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/verify"
)

// oidcACL is the e2e policy with a group rule: the UI session of a user
// of the provider (carol, in group dev) carries dev, her stored
// credentials do not.
const oidcACL = `acl:
  - {account: admin, actions: ["*"]}
  - {account: "*", group: dev, type: repository, name: "dev/*", actions: [pull, push]}
  - {account: "*", type: repository, name: "${account}/*", actions: [pull, push]}
`

// Scopes of the OIDC tests.
const (
	carolPush = "repository:carol/app:pull,push"
	devPush   = "repository:dev/app:pull,push"
)

// oidcEnv is a Tollgate whose UI signs users in with a test OpenID
// Provider (ui.oidc: corp) beside the htpasswd file of the e2e
// environment. Every start is a new app over the same SQLite store, as a
// restart is.
type oidcEnv struct {
	*fedEnv
	prov *oidctest.Provider
	base string // tollgate.yaml as written by tollgateDir, with oidcACL
}

func newOIDCEnv(t *testing.T) *oidcEnv {
	t.Helper()
	clearTollgateEnv(t)
	e := &oidcEnv{fedEnv: &fedEnv{logs: &logtest.Buffer{}}, prov: oidctest.Start(t)}
	e.prov.SetUser("carol", "carol@example.com", []string{"dev"}) // no user of the htpasswd file
	dir, _ := tollgateDir(t)
	e.path = filepath.Join(dir, "tollgate.yaml")
	rewriteConfig(t, e.path, e2eACL, oidcACL)
	b, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	e.base = string(b)
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
		if t.Failed() {
			t.Logf("tollgate log:\n%s", e.logs.String())
		}
	})
	return e
}

// start stops the running app, if any, and starts one of the configuration
// file with the UI on: server.public_url is the new listener's URL, and
// ui.oidc lists the provider as corp when withProvider.
func (e *oidcEnv) start(t *testing.T, withProvider bool) {
	t.Helper()
	if e.stop != nil {
		e.stop()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	ui := "ui:\n  enabled: true\n"
	if withProvider {
		pc := e.prov.Config("corp")
		ui += fmt.Sprintf("  oidc:\n    - {name: corp, issuer: %q, client_id: %q, client_secret: %q, ca_file: %q}\n",
			pc.Issuer, pc.ClientID, string(pc.ClientSecret), pc.CAFile)
	}
	yaml := strings.Replace(e.base, "server:\n", fmt.Sprintf("server:\n  public_url: %q\n", public), 1) + ui
	if err := os.WriteFile(e.path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if e.cfg, err = loadConfig(e.path); err != nil { // loaded and validated as serve does
		t.Fatal(err)
	}
	e.log = newLogger(e.cfg.Log, e.logs)
	if e.app, err = newApp(context.Background(), e.cfg, e.log); err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: e.app.handler}}
	srv.Start()
	a := e.app
	e.stop = sync.OnceFunc(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e.c = tokenClient(t, ln.Addr().String())
}

// browser is a cookie jar's client that follows no redirect: the test
// reads each one.
func (e *oidcEnv) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := e2etest.LoopbackTransport(&e2etest.DialLog{})
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// page sends req with b and returns the status, the Location and the body.
func page(t *testing.T, b *http.Client, req *http.Request) (int, string, string) {
	t.Helper()
	status, header, body := e2etest.Fetch(t, b, req)
	return status, header.Get("Location"), string(body)
}

func getPage(t *testing.T, b *http.Client, u string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return page(t, b, req)
}

// signIn signs the provider's user in at the UI, as a browser does: start,
// the provider, the callback; b then holds the session cookie.
func (e *oidcEnv) signIn(t *testing.T, b *http.Client) {
	t.Helper()
	status, to, _ := getPage(t, b, e.c.base()+"/ui/oidc/corp/start")
	if status != http.StatusFound || !strings.HasPrefix(to, e.prov.URL+"/authorize?") {
		t.Fatalf("GET /ui/oidc/corp/start: %d to %q, want a redirect to the provider", status, to)
	}
	back := e.prov.SignIn(t, to)
	status, to, body := getPage(t, b, back.String())
	if status != http.StatusSeeOther || to != "/ui/tokens" {
		t.Fatalf("GET the callback %s: %d to %q, want 303 to /ui/tokens; %s", back.Path, status, to, body)
	}
}

var (
	csrfInput  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	tokenValue = regexp.MustCompile(`<code id="token-value">(tg_[^<]+)</code>`)
)

// createToken makes an API token of role on the UI's tokens page, as the
// signed-in user of b, and returns it.
func (e *oidcEnv) createToken(t *testing.T, b *http.Client, role string) string {
	t.Helper()
	status, _, body := getPage(t, b, e.c.base()+"/ui/tokens")
	m := csrfInput.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("GET /ui/tokens: %d, csrf field %v; want 200 with one", status, m)
	}
	form := url.Values{"csrf": {m[1]}, "role": {role}, "description": {"oidc e2e"}}
	req, err := http.NewRequest(http.MethodPost, e.c.base()+"/ui/tokens", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, _, body = page(t, b, req)
	tok := tokenValue.FindStringSubmatch(body)
	if status != http.StatusOK || tok == nil {
		t.Fatalf("POST /ui/tokens: %d, want 200 with the new token; %s", status, body)
	}
	return tok[1]
}

// wantAccess fails unless the registry token raw is carol's API token's
// and grants exactly want.
func (e *oidcEnv) wantAccess(t *testing.T, what, raw string, want ...string) {
	t.Helper()
	c := e.registryClaims(t, raw)
	if c.Subject != "carol" || c.Identity == nil || c.Identity.Kind != verify.KindAPIToken {
		t.Errorf("%s: sub %q, identity %+v; want carol's API token", what, c.Subject, c.Identity)
	}
	var got []string
	for _, a := range c.Access {
		got = append(got, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s: grants %q, want %q", what, got, want)
	}
}

// TestOIDCUserAPIToken: a user of the UI's OpenID Connect provider, known
// to no password backend, makes an API token in the UI; it works for the
// ACL's ${account} rule (never its group rules: the groups are known at
// sign-in only), and keeps working after a restart, whose start with the
// htpasswd file keeps the account made by the provider. Once the provider
// leaves ui.oidc (a restart), the name is no user any more: the token is
// refused, the session ends, and the next start ends the account.
func TestOIDCUserAPIToken(t *testing.T) {
	e := newOIDCEnv(t)
	e.start(t, true)
	b := e.browser(t)
	e.signIn(t, b)
	tok := e.createToken(t, b, "write")
	acct, err := e.app.store.Account(t.Context(), "carol")
	if err != nil || acct.Source != "oidc:corp" {
		t.Fatalf("carol's account = %+v, %v; want one of source oidc:corp", acct, err)
	}
	e.wantAccess(t, "carol's API token", wantLogin(t, "carol's API token", e.get(t, "token", tok, scopeQuery(carolPush), "")),
		carolPush)
	e.wantAccess(t, "carol's API token for dev/app", wantLogin(t, "carol's API token for dev/app",
		e.get(t, "token", tok, scopeQuery(devPush), "")))
	if status, _, _ := getPage(t, b, e.c.base()+"/ui/tokens"); status != http.StatusOK {
		t.Errorf("GET /ui/tokens again: %d, want 200 (carol's session lives)", status)
	}

	e.touchUsers(t)
	e.start(t, true) // a restart: Start over the htpasswd file, newer than carol's account and without her
	after, err := e.app.store.Account(t.Context(), "carol")
	if err != nil || after.ID != acct.ID || after.Source != "oidc:corp" {
		t.Fatalf("carol's account after a restart = %+v, %v; want %s kept", after, err, acct.ID)
	}
	e.wantAccess(t, "carol's API token after a restart",
		wantLogin(t, "carol's API token after a restart", e.get(t, "token", tok, scopeQuery(carolPush), "")), carolPush)

	e.touchUsers(t)
	e.start(t, false) // corp removed from ui.oidc
	wantUnauthorized(t, "carol's API token, her provider removed", e.get(t, "token", tok, scopeQuery(carolPush), ""))
	if status, to, _ := getPage(t, b, e.c.base()+"/ui/tokens"); status == http.StatusOK {
		t.Errorf("GET /ui/tokens, carol's provider removed: %d to %q, want her session ended", status, to)
	}
	if _, err := e.app.store.Account(t.Context(), "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("carol's account at a start without her provider: err = %v, want it ended", err)
	}
}

// touchUsers dates the htpasswd file now, as an edit would: a start ends
// the accounts older than the file whose name is no user.
func (e *oidcEnv) touchUsers(t *testing.T) {
	t.Helper()
	now := time.Now()
	if err := os.Chtimes(e.cfg.Users.Htpasswd, now, now); err != nil {
		t.Fatal(err)
	}
}

// TestOIDCUsersInTheDirectory: the providers of ui.oidc join the
// backends' directory while the UI is on; a backend that cannot tell its
// users still leaves no directory (every name is a user).
func TestOIDCUsersInTheDirectory(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, source := range map[string]string{"carol": "oidc:corp", "dave": "oidc:old", "erin": "htpasswd"} {
		a := store.Account{ID: "id-" + name, Name: name, Type: store.AccountUser, State: store.AccountEnabled,
			CreatedAt: time.Now(), UpdatedAt: time.Now(), Source: source}
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	corp := oidc.ProviderConfig{Name: "corp"}
	file := authntest.Static{Source: "htpasswd", Users: map[string]authntest.User{"erin": {Password: "x"}}}
	tests := []struct {
		name     string
		ui       config.UI
		backends backends
		users    map[string]bool // nil: no directory
	}{
		{"UI off", config.UI{OIDC: []oidc.ProviderConfig{corp}}, backends{{users: file}},
			map[string]bool{"carol": false, "dave": false, "erin": true}},
		{"no provider", config.UI{Enabled: true}, backends{{users: file}},
			map[string]bool{"carol": false, "dave": false, "erin": true}},
		{"corp", config.UI{Enabled: true, OIDC: []oidc.ProviderConfig{corp}}, backends{{users: file}},
			map[string]bool{"carol": true, "dave": false, "erin": true}},
		{"a backend without a list", config.UI{Enabled: true, OIDC: []oidc.ProviderConfig{corp}}, backends{{users: file}, {}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.backends.directory(oidcUsers(&config.Config{UI: tt.ui}, st)...)
			if (d == nil) != (tt.users == nil) {
				t.Fatalf("directory = %v, want one: %v", d, tt.users != nil)
			}
			for name, want := range tt.users {
				if got, err := d.Exists(ctx, name); err != nil || got != want {
					t.Errorf("Exists(%s) = %v, %v; want %v", name, got, err, want)
				}
			}
		})
	}
}

// TestOIDCUserCannotTakeOverALocalUser: a provider's user named like a
// user of the htpasswd file is refused; the local account is untouched.
func TestOIDCUserCannotTakeOverALocalUser(t *testing.T) {
	e := newOIDCEnv(t)
	e.start(t, true)
	e.prov.SetUser("admin", "someone@example.com", nil) // the htpasswd file's administrator
	b := e.browser(t)
	status, to, _ := getPage(t, b, e.c.base()+"/ui/oidc/corp/start")
	if status != http.StatusFound {
		t.Fatalf("start: %d to %q", status, to)
	}
	back := e.prov.SignIn(t, to)
	status, _, body := getPage(t, b, back.String())
	if status != http.StatusUnauthorized || !strings.Contains(body, "another source") {
		t.Errorf("the provider's admin at the callback: %d, want 401 naming the clash", status)
	}
	if status, to, _ := getPage(t, b, e.c.base()+"/ui/admin/users"); status != http.StatusSeeOther || to != "/ui/signin" {
		t.Errorf("after the refusal, the admin page: %d to %q, want the sign-in page", status, to)
	}
}
