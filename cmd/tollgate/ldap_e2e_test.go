package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/authn/ldap"
	"github.com/tollgate/tollgate/pkg/authn/ldap/ldaptest"
	"github.com/tollgate/tollgate/pkg/logtest"
	"github.com/tollgate/tollgate/pkg/verify"
)

// End-to-end tests of the directory user backend: the app as `serve`
// builds it from a configuration file (users.backends: [htpasswd, ldap]),
// over HTTP, in front of a real slapd (ldaptest) reached with StartTLS.
//
// The htpasswd file holds admin and alice; the directory holds alice too
// (under another password: htpasswd, first, decides for her), and bob,
// carol, dave (disabled by the filter) and eve, whom only it knows.

// ldapACL grants by the directory's groups and labels, and every user
// their own repositories.
const ldapACL = `acl:
  - {account: admin, actions: ["*"]}
  - {account: "*", group: ops, type: repository, name: "ops/*", actions: [pull, push]}
  - {account: "*", type: repository, name: "teams/${labels:team}/*", actions: [pull, push]}
  - {account: "*", type: repository, name: "${account}/*", actions: [pull, push]}
`

// Scopes of the ACL's rules.
const (
	opsPush   = "repository:ops/app:pull,push"
	greenPush = "repository:teams/green/x:pull,push"
	bluePush  = "repository:teams/blue/x:pull,push"
)

// ldapAlicePassword is the directory's alice's password, not htpasswd's.
const ldapAlicePassword = "alice-directory-secret"

// ldapHtpasswdUsers are the htpasswd file's users: alice is in the
// directory too; bob, an e2etest user, is left to the directory.
var ldapHtpasswdUsers = map[string]string{"admin": e2eUsers["admin"], "alice": e2eUsers["alice"]}

// The ways of giving the search account's password.
const (
	bindPasswordEnv  = "env"  // TOLLGATE_USERS_LDAP_BIND_PASSWORD
	bindPasswordFile = "file" // users.ldap.bind_password_file
)

// ldapSetup is how a test's Tollgate differs from the default directory
// environment.
type ldapSetup struct {
	cacheTTL     time.Duration // users.cache_ttl; 0 keeps the e2e configuration's 5m
	bindPassword string        // bindPasswordEnv (""), or bindPasswordFile
	engine       bool          // the Engine API (/v1/account) on
}

// ldapEnv is a Tollgate whose users are an htpasswd file and a directory.
// Its app, client and log are a fedEnv's, whose requests (get, post, send)
// and replies serve any app built from a configuration file; it trusts no
// issuer (fedEnv.is is nil).
type ldapEnv struct {
	*fedEnv
	dir *ldaptest.Server
}

func startLDAP(t *testing.T, s ldapSetup) *ldapEnv {
	t.Helper()
	e := &ldapEnv{fedEnv: &fedEnv{logs: &logtest.Buffer{}}, dir: ldaptest.Start(t)}
	e.dir.SetPassword(t, "alice", ldapAlicePassword)
	clearTollgateEnv(t)
	dir, _ := tollgateDir(t)
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), ldapHtpasswdUsers)
	e.path = filepath.Join(dir, "tollgate.yaml")
	rewriteConfig(t, e.path, e2eACL, ldapACL)
	rewriteConfig(t, e.path, "users:\n", "users:\n  backends: [htpasswd, ldap]\n"+e.ldapYAML(t, dir, s.bindPassword))
	if s.cacheTTL != 0 {
		rewriteConfig(t, e.path, "  cache_ttl: 5m\n", fmt.Sprintf("  cache_ttl: %s\n", s.cacheTTL))
	}
	cfg, err := loadConfig(e.path) // loaded and validated as serve does
	if err != nil {
		t.Fatal(err)
	}
	if s.engine {
		enableEngine(t, cfg, dir)
	}
	e.cfg = cfg
	e.log = newLogger(cfg.Log, e.logs) // as serve builds it
	e.app, err = newApp(context.Background(), cfg, e.log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.app.handler)
	e.stop = sync.OnceFunc(func() {
		srv.Close()
		if err := e.app.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("tollgate log:\n%s", e.logs.String())
		}
	})
	e.c = tokenClient(t, srv.Listener.Addr().String())
	return e
}

// ldapYAML is the users.ldap section for the test directory, its search
// account's password given the way bindPassword says.
func (e *ldapEnv) ldapYAML(t *testing.T, dir, bindPassword string) string {
	t.Helper()
	var password string
	switch bindPassword {
	case "", bindPasswordEnv:
		t.Setenv("TOLLGATE_USERS_LDAP_BIND_PASSWORD", ldaptest.BindPassword)
	case bindPasswordFile:
		path := filepath.Join(dir, "ldap-bind.secret")
		if err := os.WriteFile(path, []byte(ldaptest.BindPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		password = fmt.Sprintf("    bind_password_file: %q\n", path)
	default:
		t.Fatalf("bind password %q: want %s or %s", bindPassword, bindPasswordEnv, bindPasswordFile)
	}
	return fmt.Sprintf(`  ldap:
    url: %q
    start_tls: true
    ca_file: %q
    bind_dn: %q
%s    base_dn: %q
    user_filter: %q
    group_base_dn: %q
    group_filter: %q
    attributes: {team: departmentNumber}
    admin_group: admins
    timeout: 1s
`, e.dir.URL(), e.dir.CAFile(), ldaptest.BindDN, password, ldaptest.PeopleDN, ldaptest.UserFilter,
		ldaptest.GroupsDN, ldaptest.GroupFilter)
}

// login asks GET /oauth2/token for scopes with HTTP Basic, as crane does.
func (e *ldapEnv) login(t *testing.T, user, password string, scopes ...string) fedReply {
	t.Helper()
	return e.get(t, user, password, scopeQuery(scopes...), "")
}

// passwordGrant asks POST /oauth2/token for scopes with the password
// grant, as oras does.
func (e *ldapEnv) passwordGrant(t *testing.T, user, password string, scopes ...string) fedReply {
	t.Helper()
	form := e2etest.OfflineForm(user, password)
	form.Del("access_type")
	form["scope"] = scopes
	return e.post(t, "/oauth2/token", form, "")
}

// wantUser fails unless the registry token raw was issued to the user
// name, vouched for by source, and grants exactly want. It returns the
// token's identity claim.
func (e *ldapEnv) wantUser(t *testing.T, raw, name, source string, want ...string) *verify.Identity {
	t.Helper()
	c := e.registryClaims(t, raw)
	if c.Subject != name || c.Identity == nil || c.Identity.Kind != verify.KindUser || c.Identity.Name != name ||
		c.Identity.Source != source {
		t.Fatalf("token of sub %q, identity %+v; want the user %s from %s", c.Subject, c.Identity, name, source)
	}
	var got []string
	for _, a := range c.Access {
		got = append(got, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	if !slices.Equal(got, want) {
		t.Errorf("token of %s grants %q, want %q", name, got, want)
	}
	return c.Identity
}

// wantLogin fails unless r is a GET's 200 with a token, and returns it.
func wantLogin(t *testing.T, what string, r fedReply) string {
	t.Helper()
	if r.status != http.StatusOK || r.str("token") == "" {
		t.Fatalf("%s: %d %v, want 200 with a token", what, r.status, r.body)
	}
	return r.str("token")
}

// wantUnauthorized fails unless r is a GET's 401 with a Basic challenge
// and no token.
func wantUnauthorized(t *testing.T, what string, r fedReply) {
	t.Helper()
	if r.status != http.StatusUnauthorized || r.dockerCode() != "UNAUTHORIZED" || r.str("token") != "" ||
		!strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic realm=") {
		t.Errorf("%s: %d %v (WWW-Authenticate %q), want 401 UNAUTHORIZED with a Basic challenge",
			what, r.status, r.body, r.header.Get("WWW-Authenticate"))
	}
}

// ready asks GET /ready and returns its status and checks.
func (e *ldapEnv) ready(t *testing.T) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.c.base()+"/ready", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := e.send(t, req, "")
	checks, _ := r.body["checks"].(map[string]any)
	return r.status, checks
}

// TestLDAPLogins: directory users log in at GET (with and without
// account) and with the password grant, and get what the ACL grants their
// groups and labels; their tokens say the directory vouched for them, with
// which groups and labels. Each way a directory login fails is a 401 at
// GET and invalid_grant at POST.
func TestLDAPLogins(t *testing.T) {
	e := startLDAP(t, ldapSetup{})
	carol := ldaptest.Passwords["carol"]

	for name, q := range map[string]url.Values{
		"no account": scopeQuery(opsPush),
		"account":    {"scope": {opsPush}, "account": {"carol"}},
	} {
		t.Run("carol by her group, GET, "+name, func(t *testing.T) {
			id := e.wantUser(t, wantLogin(t, "GET", e.get(t, "carol", carol, q, "")), "carol", ldap.Source, opsPush)
			if got := slices.Sorted(slices.Values(id.Groups)); !slices.Equal(got, []string{"dev", "ops"}) {
				t.Errorf("carol's groups in the token: %q, want dev and ops", id.Groups)
			}
			if len(id.Labels) != 0 {
				t.Errorf("carol's labels in the token: %v, want none (no departmentNumber)", id.Labels)
			}
		})
	}
	t.Run("carol, password grant", func(t *testing.T) {
		r := e.passwordGrant(t, "carol", carol, opsPush, greenPush)
		if r.status != http.StatusOK || r.str("scope") != opsPush {
			t.Fatalf("POST: %d %v, want 200 with scope %s", r.status, r.body, opsPush)
		}
		e.wantUser(t, r.str("access_token"), "carol", ldap.Source, opsPush)
	})
	t.Run("bob by his team label", func(t *testing.T) {
		r := e.login(t, "bob", ldaptest.Passwords["bob"], greenPush, bluePush, opsPush)
		id := e.wantUser(t, wantLogin(t, "GET", r), "bob", ldap.Source, greenPush)
		if !slices.Equal(id.Groups, []string{"dev"}) || id.Labels["team"] != "green" || len(id.Labels) != 1 {
			t.Errorf("bob's token: groups %q, labels %v; want [dev] and team=green", id.Groups, id.Labels)
		}
	})

	refusals := []struct {
		name, user, password string
		post                 string // the password grant's error
	}{
		{"wrong password", "carol", "wrong", "invalid_grant"},
		{"another user's password", "carol", ldaptest.Passwords["bob"], "invalid_grant"},
		// The directory would take an empty password for an anonymous
		// bind, and accept it; the password grant refuses it before.
		{"empty password", "carol", "", "invalid_request"},
		{"unknown user", "mallory", "mallory-secret", "invalid_grant"},
		{"filter injection", "*)(uid=*", carol, "invalid_grant"},
		{"filter injection, wildcard", "*", carol, "invalid_grant"},
		{"disabled by the filter", "dave", ldaptest.Passwords["dave"], "invalid_grant"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			wantUnauthorized(t, "GET", e.login(t, tt.user, tt.password, opsPush))
			wantOAuthError(t, "POST", e.passwordGrant(t, tt.user, tt.password, opsPush), http.StatusBadRequest, tt.post, "")
		})
	}
}

// TestLDAPBackendOrder: htpasswd, first, decides for alice, whom both
// know: her htpasswd password works, with none of the directory's groups;
// the directory's alice password does not, in any spelling of her name (a
// wrong password at the backend that knows a user does not fall through).
// A user htpasswd does not know falls through to the directory.
func TestLDAPBackendOrder(t *testing.T) {
	e := startLDAP(t, ldapSetup{})

	r := e.login(t, "alice", e2eUsers["alice"], opsPush, "repository:alice/app:pull,push")
	id := e.wantUser(t, wantLogin(t, "alice, htpasswd's password", r), "alice", "htpasswd", "repository:alice/app:pull,push")
	if len(id.Groups) != 0 || len(id.Labels) != 0 {
		t.Errorf("alice from htpasswd carries groups %q, labels %v; want none of the directory's", id.Groups, id.Labels)
	}
	for _, user := range []string{"alice", "ALICE", "Alice"} {
		wantUnauthorized(t, user+" with the directory's password", e.login(t, user, ldapAlicePassword, opsPush))
		wantOAuthError(t, user+" with the directory's password, POST", e.passwordGrant(t, user, ldapAlicePassword, opsPush),
			http.StatusBadRequest, "invalid_grant", "")
	}
	acct, err := e.app.accounts.Get(context.Background(), "alice")
	if err != nil || acct.Type != "user" || acct.Email != "" {
		t.Errorf("alice's account: %+v, %v; want type user, no email (the directory's alice, an admin, never logged in)", acct, err)
	}

	for _, user := range []string{"carol", "CAROL"} { // the directory's spelling, whatever the login's
		r = e.login(t, user, ldaptest.Passwords["carol"], opsPush)
		e.wantUser(t, wantLogin(t, user+", only in the directory", r), "carol", ldap.Source, opsPush)
	}
}

// TestLDAPDirectoryDown: with the directory stopped, a directory user's
// login is a 503 with Retry-After (GET: a Docker errors body; POST:
// temporarily_unavailable), never a 401, whatever the password; /ready
// names the ldap check; htpasswd's users log in, and so does a directory
// user whose password the verified-credential cache holds. When the
// directory is back, so are its logins and /ready.
func TestLDAPDirectoryDown(t *testing.T) {
	e := startLDAP(t, ldapSetup{cacheTTL: time.Minute})
	bob := ldaptest.Passwords["bob"]
	wantLogin(t, "bob before the outage", e.login(t, "bob", bob, greenPush)) // now in the cache
	if status, checks := e.ready(t); status != http.StatusOK || checks["ldap"] != "ok" {
		t.Fatalf("GET /ready before the outage: %d %v, want 200 with ldap ok", status, checks)
	}

	e.dir.Stop(t)
	start := time.Now()
	for what, password := range map[string]string{"her password": ldaptest.Passwords["carol"], "a wrong password": "wrong"} {
		r := e.login(t, "carol", password, opsPush)
		if r.status != http.StatusServiceUnavailable || r.dockerCode() != "UNAVAILABLE" || r.header.Get("Retry-After") == "" ||
			r.str("token") != "" {
			t.Errorf("GET as carol with %s: %d %v (Retry-After %q), want 503 UNAVAILABLE with Retry-After",
				what, r.status, r.body, r.header.Get("Retry-After"))
		}
		r = e.passwordGrant(t, "carol", password, opsPush)
		wantOAuthError(t, "POST as carol with "+what, r, http.StatusServiceUnavailable, "temporarily_unavailable", "")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("POST as carol with %s: no Retry-After", what)
		}
	}
	if r := e.login(t, "mallory", "x", opsPush); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET as a user no backend can vouch for, the directory down: %d %v, want 503 (it may be the directory's)", r.status, r.body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusals with the directory down took %s; its timeout is 1s", took)
	}
	status, checks := e.ready(t)
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(fmt.Sprint(checks["ldap"]), "error: ") ||
		checks["htpasswd"] != "ok" || checks["store"] != "ok" {
		t.Errorf("GET /ready with the directory down: %d %v, want 503 with ldap failing, htpasswd and store ok", status, checks)
	}
	e.wantUser(t, wantLogin(t, "alice (htpasswd), the directory down", e.login(t, "alice", e2eUsers["alice"], "repository:alice/app:pull")),
		"alice", "htpasswd", "repository:alice/app:pull")
	id := e.wantUser(t, wantLogin(t, "bob (cached), the directory down", e.login(t, "bob", bob, greenPush)), "bob", ldap.Source, greenPush)
	if id.Labels["team"] != "green" {
		t.Errorf("bob's cached identity lost his label: %v", id.Labels)
	}

	e.dir.Restart(t)
	waitUntil(t, 10*time.Second, "/ready green with the directory back", func() bool {
		status, checks := e.ready(t)
		return status == http.StatusOK && checks["ldap"] == "ok"
	})
	e.wantUser(t, wantLogin(t, "carol, the directory back", e.login(t, "carol", ldaptest.Passwords["carol"], opsPush)),
		"carol", ldap.Source, opsPush)
	wantUnauthorized(t, "carol with a wrong password, the directory back", e.login(t, "carol", "wrong", opsPush))
}

// engineAccount asks GET /v1/account with HTTP Basic.
func (e *ldapEnv) engineAccount(t *testing.T, user, password string) fedReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.c.base()+"/v1/account", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	return e.send(t, req, "")
}

// TestLDAPAccountProfile: a directory user's account takes the email and
// the type (admin: a member of users.ldap.admin_group) the directory says,
// at login, and follows the directory when it changes. The search
// account's password is in users.ldap.bind_password_file.
func TestLDAPAccountProfile(t *testing.T) {
	const ttl = 500 * time.Millisecond
	e := startLDAP(t, ldapSetup{cacheTTL: ttl, bindPassword: bindPasswordFile, engine: true})
	admins := func(change, uid string) string {
		return fmt.Sprintf("dn: %s\nchangetype: modify\n%s: member\nmember: %s\n", ldaptest.GroupDN("admins"), change, ldaptest.UserDN(uid))
	}
	e.dir.Modify(t, admins("add", "carol"))

	for _, tt := range []struct{ user, typ string }{{"bob", "user"}, {"carol", "admin"}} {
		r := e.engineAccount(t, tt.user, ldaptest.Passwords[tt.user])
		if r.status != http.StatusOK || r.str("name") != tt.user || r.str("type") != tt.typ || r.str("email") != tt.user+"@example.org" ||
			r.str("state") != "enabled" {
			t.Errorf("/v1/account of %s: %d %v, want type %s, email %s@example.org", tt.user, r.status, r.body, tt.typ, tt.user)
		}
	}
	list := func(user string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.c.base()+"/v1/accounts", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, ldaptest.Passwords[user])
		resp, err := e.c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := list("carol"); got != http.StatusOK {
		t.Errorf("/v1/accounts by carol, a directory admin: %d, want 200", got)
	}
	if got := list("bob"); got != http.StatusForbidden {
		t.Errorf("/v1/accounts by bob: %d, want 403", got)
	}

	e.dir.Modify(t, admins("delete", "carol"))
	waitUntil(t, ttl+5*time.Second, "carol, out of the admins group, a user again", func() bool {
		r := e.engineAccount(t, "carol", ldaptest.Passwords["carol"])
		return r.status == http.StatusOK && r.str("type") == "user"
	})
	if got := list("carol"); got != http.StatusForbidden {
		t.Errorf("/v1/accounts by carol, no longer an admin: %d, want 403", got)
	}
}

// TestLDAPPasswordChange: a password changed in the directory is refused
// within users.cache_ttl (the verified-credential cache in front of the
// directory trusts it that long), and the new one works.
func TestLDAPPasswordChange(t *testing.T) {
	const ttl = 500 * time.Millisecond
	e := startLDAP(t, ldapSetup{cacheTTL: ttl})
	old := ldaptest.Passwords["bob"]
	wantLogin(t, "bob", e.login(t, "bob", old, greenPush))

	e.dir.SetPassword(t, "bob", "bob-new-secret")
	changed := time.Now()
	waitUntil(t, ttl+5*time.Second, "bob's old password refused", func() bool {
		return e.login(t, "bob", old, greenPush).status == http.StatusUnauthorized
	})
	if took := time.Since(changed); took > ttl+time.Second {
		t.Errorf("the old password was refused %s after the change, want within users.cache_ttl (%s)", took, ttl)
	}
	e.wantUser(t, wantLogin(t, "bob's new password", e.login(t, "bob", "bob-new-secret", greenPush)), "bob", ldap.Source, greenPush)
}

// TestLDAPAPITokenEndsWithDirectoryUser: an API token a directory user
// created with their directory password works as Basic token:<tg_…>; once
// the user is removed from the directory, it is refused within the
// directory's lookup TTL (users.cache_ttl), as is their password.
func TestLDAPAPITokenEndsWithDirectoryUser(t *testing.T) {
	const ttl = 500 * time.Millisecond
	e := startLDAP(t, ldapSetup{cacheTTL: ttl})
	eve := ldaptest.Passwords["eve"] // her DN is cn=Eve Adams,…
	const evePush = "repository:eve/app:pull,push"
	status, m := e2etest.APITokenCall(t, e.c.client, e.c.base(), "/api/tokens",
		map[string]any{"username": "eve", "password": eve, "role": "write", "description": "ldap e2e"}, "")
	tok, _ := m["token"].(string)
	if status != http.StatusOK || !strings.HasPrefix(tok, "tg_") {
		t.Fatalf("POST /api/tokens as eve: %d %v", status, m)
	}
	if status, _ := e2etest.APITokenCall(t, e.c.client, e.c.base(), "/api/tokens",
		map[string]any{"username": "eve", "password": "wrong", "role": "write"}, ""); status != http.StatusUnauthorized {
		t.Errorf("POST /api/tokens as eve with a wrong password: %d, want 401", status)
	}
	c := e.registryClaims(t, wantLogin(t, "eve's API token", e.login(t, "token", tok, evePush)))
	if c.Subject != "eve" || c.Identity == nil || c.Identity.Kind != verify.KindAPIToken || !c.Allows("repository", "eve/app", "push") {
		t.Errorf("eve's API token's registry token: sub %q, identity %+v, access %+v; want eve's, with push on eve/app",
			c.Subject, c.Identity, c.Access)
	}

	e.dir.Modify(t, "dn: "+ldaptest.UserDN("eve")+"\nchangetype: delete\n")
	removed := time.Now()
	waitUntil(t, ttl+5*time.Second, "eve's API token refused", func() bool {
		return e.login(t, "token", tok, evePush).status == http.StatusUnauthorized
	})
	if took := time.Since(removed); took > ttl+time.Second {
		t.Errorf("the API token was refused %s after eve left the directory, want within users.cache_ttl (%s)", took, ttl)
	}
	wantUnauthorized(t, "eve's password, her entry deleted", e.login(t, "eve", eve, evePush))
}

// TestLDAPStoredCredentialsKeepGroups: what docker login stores (a
// refresh token) and an API token reach the group and label rules as the
// directory password does: the directory is asked for the user's groups
// and labels when they are used.
func TestLDAPStoredCredentialsKeepGroups(t *testing.T) {
	e := startLDAP(t, ldapSetup{})
	carol := ldaptest.Passwords["carol"]
	const opsPush = "repository:ops/app:pull,push"

	// A refresh token, as docker login gets one (GET with offline_token).
	q := url.Values{"scope": {opsPush}, "offline_token": {"true"}, "client_id": {"docker"}, "account": {"carol"}}
	r := e.get(t, "carol", carol, q, "")
	rt := r.str("refresh_token")
	if r.status != http.StatusOK || rt == "" {
		t.Fatalf("docker login as carol: %d %v", r.status, r.body)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"docker"},
		"service": {e2eService}, "scope": {opsPush}}
	rr := e.post(t, "/oauth2/token", form, "")
	if rr.status != http.StatusOK || rr.str("scope") != opsPush {
		t.Errorf("carol's refresh token for %s: %d %v, want it granted by her group ops", opsPush, rr.status, rr.body)
	}

	// An API token made with her directory password.
	status, m := e2etest.APITokenCall(t, e.c.client, e.c.base(), "/api/tokens",
		map[string]any{"username": "carol", "password": carol, "role": "write"}, "")
	tok, _ := m["token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("POST /api/tokens as carol: %d %v", status, m)
	}
	c := e.registryClaims(t, wantLogin(t, "carol's API token", e.login(t, "token", tok, opsPush)))
	if !c.Allows("repository", "ops/app", "push") {
		t.Errorf("carol's API token: access %+v, want push on ops/app (her group ops)", c.Access)
	}
}
