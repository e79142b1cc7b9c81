package ldap_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/ldap"
	"github.com/tollgate/tollgate/pkg/authn/ldap/ldaptest"
)

// config is the directory of srv as an operator configures it: StartTLS
// with the test CA, groups by search, the team label, the admins group.
func config(srv *ldaptest.Server) ldap.Config {
	return ldap.Config{
		URL: srv.URL(), StartTLS: true, CAFile: srv.CAFile(),
		BindDN: ldaptest.BindDN, BindPassword: ldaptest.BindPassword,
		BaseDN: ldaptest.PeopleDN, UserFilter: ldaptest.UserFilter,
		GroupBaseDN: ldaptest.GroupsDN, GroupFilter: ldaptest.GroupFilter,
		Attributes: map[string]string{"team": "departmentNumber"},
		AdminGroup: "admins", Timeout: 2 * time.Second, PoolSize: 4,
	}
}

func newDirectory(t *testing.T, cfg ldap.Config) *ldap.Directory {
	t.Helper()
	d, err := ldap.New(cfg, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func login(d *ldap.Directory, user, password string) (authn.Identity, error) {
	return d.Authenticate(context.Background(), user, authn.Secret(password))
}

func TestLogins(t *testing.T) {
	srv := ldaptest.Start(t)
	d := newDirectory(t, config(srv))
	id, err := login(d, "alice", ldaptest.Passwords["alice"])
	if err != nil {
		t.Fatal(err)
	}
	if id.Kind != authn.KindUser || id.Name != "alice" || id.Source != ldap.Source {
		t.Errorf("identity = %+v", id)
	}
	if a := id.Attrs; a == nil || !slices.Equal(a.Groups, []string{"ops", "admins"}) && !slices.Equal(a.Groups, []string{"admins", "ops"}) ||
		a.Labels["team"] != "blue" || a.Email != "alice@example.org" || a.Type != "admin" {
		t.Errorf("attributes = %+v", id.Attrs)
	}
	carol, err := login(d, "carol", ldaptest.Passwords["carol"])
	if err != nil || len(carol.Groups()) != 2 || !slices.Contains(carol.Groups(), "ops") || !slices.Contains(carol.Groups(), "dev") ||
		carol.Attrs.Type != "user" {
		t.Errorf("carol, in two groups: %+v %v", carol.Attrs, err)
	}
	eve, err := login(d, "eve", ldaptest.Passwords["eve"]) // her DN has a space
	if err != nil || eve.Name != "eve" {
		t.Errorf("eve: %+v %v", eve, err)
	}
	if id, err := login(d, "ALICE", ldaptest.Passwords["alice"]); err != nil || id.Name != "alice" {
		t.Errorf("ALICE: %q %v, want the directory's spelling alice", id.Name, err)
	}
}

func TestRefusals(t *testing.T) {
	srv := ldaptest.Start(t)
	d := newDirectory(t, config(srv))
	tests := []struct {
		name, user, password string
		want                 error
	}{
		{"wrong password", "alice", "wrong", authn.ErrBadCredentials},
		{"another user's password", "alice", ldaptest.Passwords["bob"], authn.ErrBadCredentials},
		{"empty password (an unauthenticated bind would succeed)", "alice", "", authn.ErrBadCredentials},
		{"unknown user", "mallory", "x", authn.ErrNoSuchUser},
		{"disabled by the filter", "dave", ldaptest.Passwords["dave"], authn.ErrNoSuchUser},
		{"filter injection", "*)(uid=*", ldaptest.Passwords["alice"], authn.ErrNoSuchUser},
		{"filter injection, wildcard", "*", ldaptest.Passwords["alice"], authn.ErrNoSuchUser},
		{"filter injection, or", "alice)(|(uid=*", ldaptest.Passwords["alice"], authn.ErrNoSuchUser},
		{"control character", "alice\x00", ldaptest.Passwords["alice"], authn.ErrNoSuchUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := login(d, tt.user, tt.password)
			if !errors.Is(err, tt.want) {
				t.Errorf("login = %v, want %v", err, tt.want)
			}
		})
	}
}

// Groups from the entry's memberOf, without a group search.
func TestMemberOf(t *testing.T) {
	srv := ldaptest.Start(t)
	cfg := config(srv)
	cfg.GroupFilter = ""
	d := newDirectory(t, cfg)
	id, err := login(d, "carol", ldaptest.Passwords["carol"])
	if err != nil || !slices.Contains(id.Groups(), "ops") || !slices.Contains(id.Groups(), "dev") {
		t.Errorf("carol by memberOf: %v %v", id.Groups(), err)
	}
}

// A directory that stops answering is unavailable, never a wrong password,
// in bounded time; when it is back, logins work again.
func TestDirectoryDownAndBack(t *testing.T) {
	srv := ldaptest.Start(t)
	d := newDirectory(t, config(srv))
	if _, err := login(d, "alice", ldaptest.Passwords["alice"]); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	start := time.Now()
	for _, user := range []string{"alice", "mallory"} {
		_, err := login(d, user, ldaptest.Passwords["alice"])
		if !errors.Is(err, authn.ErrUnavailable) || errors.Is(err, authn.ErrBadCredentials) || errors.Is(err, authn.ErrNoSuchUser) {
			t.Errorf("%s with the directory down: %v, want ErrUnavailable only", user, err)
		}
	}
	if err := d.Ready(context.Background()); !errors.Is(err, authn.ErrUnavailable) {
		t.Errorf("Ready with the directory down: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answers with the directory down took %s", took)
	}
	srv.Restart(t)
	if _, err := login(d, "alice", ldaptest.Passwords["alice"]); err != nil {
		t.Errorf("after the directory is back: %v", err)
	}
	if err := d.Ready(context.Background()); err != nil {
		t.Errorf("Ready after: %v", err)
	}
}

// 200 logins at once share pool_size connections, all succeed.
func TestConcurrentLogins(t *testing.T) {
	srv := ldaptest.Start(t)
	d := newDirectory(t, config(srv))
	users := []string{"alice", "bob", "carol", "eve"}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			u := users[i%len(users)]
			if _, err := login(d, u, ldaptest.Passwords[u]); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent login: %v", err)
	}
}

// A password changed in the directory: the directory refuses the old one
// at once; in front of it, the verified-credential cache keeps the old one
// for at most its TTL.
func TestPasswordChangeAndCache(t *testing.T) {
	srv := ldaptest.Start(t)
	d := newDirectory(t, config(srv))
	const ttl = 300 * time.Millisecond
	cache := authn.NewCache(d, ttl, 100)
	old := authn.Secret(ldaptest.Passwords["bob"])
	if _, err := cache.Authenticate(context.Background(), "bob", old); err != nil {
		t.Fatal(err)
	}
	srv.SetPassword(t, "bob", "bob-new-secret")
	if _, err := login(d, "bob", string(old)); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("the directory with the old password: %v", err)
	}
	changed := time.Now()
	if _, err := cache.Authenticate(context.Background(), "bob", old); err != nil && time.Since(changed) < ttl {
		t.Errorf("the cache within its TTL: %v (the old password is still trusted until it expires)", err)
	}
	for { // bounded by the TTL: refused once it has passed
		_, err := cache.Authenticate(context.Background(), "bob", old)
		if errors.Is(err, authn.ErrBadCredentials) {
			break
		}
		if time.Since(changed) > ttl+2*time.Second {
			t.Fatalf("the cache still takes the old password %s after the change (TTL %s): %v", time.Since(changed), ttl, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := cache.Authenticate(context.Background(), "bob", "bob-new-secret"); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

func TestExists(t *testing.T) {
	srv := ldaptest.Start(t)
	d := newDirectory(t, config(srv))
	for user, want := range map[string]bool{"alice": true, "eve": true, "mallory": false, "dave": false, "*": false} {
		if got, err := d.Exists(context.Background(), user); err != nil || got != want {
			t.Errorf("Exists(%q) = %v, %v; want %v", user, got, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	good := ldap.Config{URL: "ldaps://ldap.example.org", BindDN: "cn=tollgate,dc=example,dc=org",
		BindPasswordFile: "/run/secrets/ldap", BaseDN: "ou=people,dc=example,dc=org"}
	if err := good.Check(); err != nil {
		t.Fatalf("good: %v", err)
	}
	for name, edit := range map[string]func(*ldap.Config){
		"no url":                  func(c *ldap.Config) { c.URL = "" },
		"http url":                func(c *ldap.Config) { c.URL = "http://ldap" },
		"clear text":              func(c *ldap.Config) { c.URL = "ldap://ldap.example.org" },
		"start_tls on ldaps":      func(c *ldap.Config) { c.StartTLS = true },
		"no bind dn":              func(c *ldap.Config) { c.BindDN = "" },
		"both passwords":          func(c *ldap.Config) { c.BindPassword = "x" },
		"bad base dn":             func(c *ldap.Config) { c.BaseDN = "people" },
		"filter without username": func(c *ldap.Config) { c.UserFilter = "(uid=alice)" },
		"broken filter":           func(c *ldap.Config) { c.UserFilter = "(uid={username}" },
		"broken group filter":     func(c *ldap.Config) { c.GroupFilter = "member={dn})" },
		"pool size":               func(c *ldap.Config) { c.PoolSize = 1000 },
	} {
		c := good
		edit(&c)
		if err := c.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
