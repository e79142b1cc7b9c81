package interop_test

// The LDAP user backend with real peers: OpenLDAP (ldaptest's slapd, over
// StartTLS with the test's CA), `tollgate serve` with users.backends
// [htpasswd, ldap] and the search account's password in its environment,
// the real registry, go-containerregistry and regclient as the clients.
// Directory users log in with their directory password, and the ACL reads
// the groups and the attributes the directory gives them.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ggcrauthn "github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/regclient/regclient/types/errs"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/pkg/authn/ldap/ldaptest"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/verify"
)

// bindPasswordEnv carries the search account's password, so that the
// configuration file holds none.
const bindPasswordEnv = config.EnvPrefix + "_USERS_LDAP_BIND_PASSWORD"

// directoryACL goes before e2etest.ACL's rules (the first match wins): the
// directory's group ops pushes to ops/*, and each team (the label from
// departmentNumber) to its own teams/TEAM/*.
const directoryACL = `  - {account: "*", group: ops, type: repository, name: "ops/*", actions: [pull, push]}
  - {account: "*", type: repository, name: "teams/${labels:team}/*", actions: [pull, push]}
`

// ldapEnv is a Tollgate whose users are an htpasswd file (admin only) and
// the directory, and the registry, whose realm is a recorder in front of
// Tollgate's.
type ldapEnv struct {
	*e2eEnv
	directory *ldaptest.Server
	rec       *realmRecorder
	realmHost string // the recorder's localhost:PORT: where a client's token request goes
}

// newLDAPE2E starts the directory (or skips the test as ldaptest does
// without slapd), then Tollgate on e2etest's environment with the
// directory as a second user backend, then the registry.
func newLDAPE2E(t *testing.T) *ldapEnv {
	t.Helper()
	e := &ldapEnv{directory: ldaptest.Start(t)}
	e2etest.OnlyEnv(t, map[string]string{bindPasswordEnv: ldaptest.BindPassword})
	captureRegistryLogs(t)
	dir, _ := e2etest.Dir(t)
	// alice and bob are the directory's alone, so that their groups and
	// labels come from it (the first backend that knows a user decides).
	e2etest.WriteHtpasswd(t, filepath.Join(dir, "htpasswd"), map[string]string{"admin": e2etest.Users["admin"]})
	configPath := filepath.Join(dir, "tollgate.yaml")
	writeLDAPConfig(t, configPath, e.directory)
	e.e2eEnv = startTollgate(t, configPath)
	e.certPath = filepath.Join(dir, "keys", "signing.crt")
	e.rec = newRealmRecorder(t, e.e2eEnv)
	realm, err := url.Parse(e.rec.realm)
	if err != nil {
		t.Fatal(err)
	}
	e.realmHost = realm.Host
	e.registryHost = startRegistry(t, e.rec.realm, e.certPath)
	e.waitReady(t)
	return e
}

// writeLDAPConfig adds to the configuration at path the directory of srv
// as a second user backend (StartTLS trusting its CA, groups by search,
// the team label), with no bind password in the file, and directoryACL at
// the head of the ACL; it checks that the result loads and validates as
// `tollgate serve` will load it, the password from the environment.
func writeLDAPConfig(t *testing.T, path string, srv *ldaptest.Server) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(b)
	for _, section := range []string{"\nusers:\n", "\nacl:\n"} {
		if strings.Count(yaml, section) != 1 {
			t.Fatalf("%s: no single %q section to extend:\n%s", path, strings.TrimSpace(section), yaml)
		}
	}
	users := fmt.Sprintf(`  backends: [htpasswd, ldap]
  ldap:
    url: %q
    start_tls: true
    ca_file: %q
    bind_dn: %q
    base_dn: %q
    user_filter: %q
    group_base_dn: %q
    group_filter: %q
    attributes: {team: departmentNumber}
    timeout: 2s
    pool_size: 4
`, srv.URL(), srv.CAFile(), ldaptest.BindDN, ldaptest.PeopleDN, ldaptest.UserFilter, ldaptest.GroupsDN, ldaptest.GroupFilter)
	yaml = strings.Replace(yaml, "\nusers:\n", "\nusers:\n"+users, 1)
	yaml = strings.Replace(yaml, "\nacl:\n", "\nacl:\n"+directoryACL, 1)
	cfg := writeConfig(t, path, yaml)
	if got := string(cfg.Users.LDAP.BindPassword); got != ldaptest.BindPassword || strings.Contains(yaml, ldaptest.BindPassword) {
		t.Fatalf("users.ldap.bind_password = %q from %s; want it from the environment only", got, bindPasswordEnv)
	}
}

// asDirectoryUser logs in with the user's directory password.
func asDirectoryUser(user string) ggcrauthn.Authenticator {
	return &ggcrauthn.Basic{Username: user, Password: ldaptest.Passwords[user]}
}

// wantGGCRRequests checks the token requests since the last take: there
// were some, and each was crane's (GET with Basic user, no account
// parameter, service of the registry), answered status.
func (e *ldapEnv) wantGGCRRequests(t *testing.T, user string, status int) {
	t.Helper()
	reqs := e.rec.take()
	if len(reqs) == 0 {
		t.Fatal("no token request went through the realm's proxy")
	}
	for _, r := range reqs {
		if r.Method != http.MethodGet || r.User != user || r.Query.Has("account") ||
			r.Query.Get("service") != e2etest.Service || r.Status != status {
			t.Errorf("token request %s %s with Basic user %q answered %d; want GET with Basic %s, no account, service=%s, answered %d",
				r.Method, r.Query.Encode(), r.User, r.Status, user, e2etest.Service, status)
		}
	}
}

// identityOf asks Tollgate for a token for user with scope, checks it with
// pkg/verify and returns its claims.
func (e *ldapEnv) identityOf(t *testing.T, user, scope string) verify.Claims {
	t.Helper()
	status, body := e.GetToken(t, user, ldaptest.Passwords[user], scope)
	tok, _ := body["token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("GET token for %s %s = %d %v, want 200 with a token", user, scope, status, body)
	}
	c := (&fedEnv{e2eEnv: e.e2eEnv}).verifyToken(t, tok)
	if id := c.Identity; id == nil || id.Kind != verify.KindUser || id.Name != user || id.Source != "ldap" {
		t.Fatalf("token of %s: identity %+v, want a user %s vouched for by ldap", user, c.Identity, user)
	}
	return c
}

// ready is GET /ready: its status and its checks.
func (e *ldapEnv) ready(t *testing.T) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.Base()+"/ready", nil)
	if err != nil {
		t.Fatal(err)
	}
	status, body := e.Do(t, req)
	checks, _ := body["checks"].(map[string]any)
	return status, checks
}

// TestEndToEndLDAP: people of an OpenLDAP directory push and pull through
// the real registry with their directory password, confined by the groups
// and labels the directory gives them. The subtests share one environment
// and run in order: the refusals and the directory's outage come last.
func TestEndToEndLDAP(t *testing.T) {
	defaultUsed := forbidDefaultTransport(t)
	env := newLDAPE2E(t)
	ctx := t.Context()
	carol := asDirectoryUser("carol")
	opsApp := env.mustPush(t, ctx, "ops/app:ggcr", carol)
	env.rec.take()

	t.Run("carol, in ops, pushes and pulls ops/app with ggcr (Basic, no account)", func(t *testing.T) {
		pushed := env.mustPush(t, ctx, "ops/app:v2", carol)
		for tag, want := range map[string]string{"ggcr": opsApp.String(), "v2": pushed.String()} {
			if got, err := env.pull(ctx, "ops/app:"+tag, carol); err != nil || got.String() != want {
				t.Errorf("carol pulls ops/app:%s = %s, %v; pushed %s", tag, got, err, want)
			}
		}
		env.wantGGCRRequests(t, "carol", http.StatusOK)

		c := env.identityOf(t, "carol", "repository:ops/app:pull,push")
		if g := c.Identity.Groups; len(g) != 2 || !slices.Contains(g, "ops") || !slices.Contains(g, "dev") {
			t.Errorf("carol's token names groups %q, want ops and dev (the directory's)", g)
		}
		if !c.Allows("repository", "ops/app", "push") || !c.Allows("repository", "ops/app", "pull") {
			t.Errorf("carol's token grants %+v, want pull and push on ops/app", c.Access)
		}
	})

	t.Run("carol with regclient (account=carol): the digests agree with ggcr's", func(t *testing.T) {
		rc := newRegclient(t, env.e2eEnv, env.registryHost, "carol", ldaptest.Passwords["carol"])
		if got, err := rcPull(ctx, rc, env.registryHost, "ops/app:ggcr"); err != nil || got.String() != opsApp.String() {
			t.Fatalf("regclient pulls ops/app:ggcr = %s, %v; ggcr pushed %s", got, err, opsApp)
		}
		pushed, err := rcPush(ctx, rc, env.registryHost, "ops/app:rc")
		if err != nil {
			t.Fatalf("regclient pushes ops/app:rc as carol: %v", err)
		}
		if got, err := rcPull(ctx, rc, env.registryHost, "ops/app:rc"); err != nil || got != pushed {
			t.Fatalf("regclient pulls ops/app:rc = %s, %v; pushed %s", got, err, pushed)
		}
		wantTokenRequests(t, env.rec.take(), "carol", "ops/app")
		if got, err := env.pull(ctx, "ops/app:rc", carol); err != nil || got.String() != pushed.String() {
			t.Errorf("ggcr pulls ops/app:rc = %s, %v; regclient pushed %s", got, err, pushed)
		}
		env.wantGGCRRequests(t, "carol", http.StatusOK)
	})

	t.Run("eve, whose DN has a space, logs in; the registry refuses her ops/app", func(t *testing.T) {
		eve := asDirectoryUser("eve")
		pushed := env.mustPush(t, ctx, "eve/app:v1", eve) // ${account}/*
		if got, err := env.pull(ctx, "eve/app:v1", eve); err != nil || got != pushed {
			t.Fatalf("eve pulls eve/app:v1 = %s, %v; pushed %s", got, err, pushed)
		}
		// In no group: Tollgate grants nothing on ops/app (a denial is not
		// an error), and the registry refuses ggcr's first request.
		_, err := env.push(ctx, "ops/app:eve", eve)
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/ops/app/manifests/eve")
		env.wantGGCRRequests(t, "eve", http.StatusOK)
		if c := env.identityOf(t, "eve", "repository:ops/app:pull,push"); len(c.Access) != 0 || len(c.Identity.Groups) != 0 {
			t.Errorf("eve's token for ops/app: access %+v, groups %q; want neither", c.Access, c.Identity.Groups)
		}
	})

	t.Run("bob's team label opens teams/green, not teams/blue", func(t *testing.T) {
		bob := asDirectoryUser("bob")
		pushed := env.mustPush(t, ctx, "teams/green/app:v1", bob)
		if got, err := env.pull(ctx, "teams/green/app:v1", bob); err != nil || got != pushed {
			t.Fatalf("bob pulls teams/green/app:v1 = %s, %v; pushed %s", got, err, pushed)
		}
		_, err := env.push(ctx, "teams/blue/app:v1", bob)
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/teams/blue/app/manifests/v1")
		// bob is in dev, not ops.
		_, err = env.push(ctx, "ops/app:bob", bob)
		wantTransportError(t, err, http.StatusUnauthorized, "", http.MethodHead, env.registryHost, "/v2/ops/app/manifests/bob")
		env.wantGGCRRequests(t, "bob", http.StatusOK)
		if c := env.identityOf(t, "bob", "repository:teams/green/app:push"); c.Identity.Labels["team"] != "green" {
			t.Errorf("bob's token labels %v, want team green (departmentNumber)", c.Identity.Labels)
		}
	})

	t.Run("a wrong directory password and a disabled user are refused by Tollgate", func(t *testing.T) {
		// carol signed in with her right password before: the credential
		// cache must not let a wrong one ride on that.
		_, err := env.pull(ctx, "ops/app:ggcr", &ggcrauthn.Basic{Username: "carol", Password: "not-" + ldaptest.Passwords["carol"]})
		wrongErr := wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.realmHost, "/oauth2/token")
		env.wantGGCRRequests(t, "carol", http.StatusUnauthorized)

		rc := newRegclient(t, env.e2eEnv, env.registryHost, "carol", "not-"+ldaptest.Passwords["carol"])
		if _, err := rcPull(ctx, rc, env.registryHost, "ops/app:ggcr"); !errors.Is(err, errs.ErrHTTPUnauthorized) {
			t.Errorf("regclient pull with a wrong password: %v, want %v", err, errs.ErrHTTPUnauthorized)
		}
		reqs := env.rec.take()
		wantTokenRequests(t, reqs, "carol", "")
		for _, r := range reqs {
			if r.Status != http.StatusUnauthorized {
				t.Errorf("regclient's token request %s answered %d, want 401", r.Query.Encode(), r.Status)
			}
		}

		// dave, with his right password, is not found by user_filter.
		_, err = env.pull(ctx, "ops/app:ggcr", asDirectoryUser("dave"))
		daveErr := wantTransportError(t, err, http.StatusUnauthorized, tollgateDenied, http.MethodGet, env.realmHost, "/oauth2/token")
		env.wantGGCRRequests(t, "dave", http.StatusUnauthorized)
		if len(wrongErr.Errors) == 1 && len(daveErr.Errors) == 1 && wrongErr.Errors[0].Message != daveErr.Errors[0].Message {
			t.Errorf("a wrong password says %q, a disabled user %q; want the same", wrongErr.Errors[0].Message, daveErr.Errors[0].Message)
		}
	})

	t.Run("the directory down: a new login is 503, cached and htpasswd logins go on; back, it works", func(t *testing.T) {
		env.directory.Stop(t)
		if status, checks := env.ready(t); status != http.StatusServiceUnavailable ||
			!strings.HasPrefix(fmt.Sprint(checks["ldap"]), "error:") || checks["htpasswd"] != "ok" {
			t.Errorf("GET /ready with the directory down = %d %v, want 503 with ldap failing and htpasswd ok", status, checks)
		}
		// alice has not logged in yet. ggcr retries a 503: quickly here.
		fast := remote.WithRetryBackoff(remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 2})
		_, err := remote.Image(env.ref(t, "ops/app:ggcr"), append(env.opts(ctx, asDirectoryUser("alice")), fast)...)
		terr := wantTransportError(t, err, http.StatusServiceUnavailable, transport.UnavailableErrorCode, http.MethodGet, env.realmHost, "/oauth2/token")
		t.Logf("Tollgate's answer with the directory down: %d %+v", terr.StatusCode, terr.Errors)
		env.wantGGCRRequests(t, "alice", http.StatusServiceUnavailable)

		// htpasswd comes first in users.backends; carol's login is in the
		// verified-credential cache (users.cache_ttl).
		for user, a := range map[string]ggcrauthn.Authenticator{"admin": basic("admin"), "carol": carol} {
			if got, err := env.pull(ctx, "ops/app:ggcr", a); err != nil || got != opsApp {
				t.Errorf("%s pulls ops/app:ggcr with the directory down = %s, %v; want %s", user, got, err, opsApp)
			}
			env.wantGGCRRequests(t, user, http.StatusOK)
		}

		env.directory.Restart(t)
		if got, err := env.pull(ctx, "ops/app:ggcr", asDirectoryUser("alice")); err != nil || got != opsApp {
			t.Errorf("alice pulls ops/app:ggcr with the directory back = %s, %v; want %s", got, err, opsApp)
		}
		env.wantGGCRRequests(t, "alice", http.StatusOK)
		if status, checks := env.ready(t); status != http.StatusOK || checks["ldap"] != "ok" {
			t.Errorf("GET /ready with the directory back = %d %v, want 200 with ldap ok", status, checks)
		}
	})

	t.Run("no password in Tollgate's log", func(t *testing.T) {
		logs := env.server.logs.String()
		for _, secret := range []string{ldaptest.BindPassword, ldaptest.Passwords["carol"], ldaptest.Passwords["alice"],
			ldaptest.Passwords["eve"], ldaptest.Passwords["dave"]} {
			if strings.Contains(logs, secret) {
				t.Errorf("Tollgate's log holds the password %q", secret)
			}
		}
	})

	if n := defaultUsed.Load(); n != 0 {
		t.Errorf("http.DefaultTransport was used %d times; every request must use the loopback transport", n)
	}
}
