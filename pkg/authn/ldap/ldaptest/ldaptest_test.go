package ldaptest_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn/ldap/ldaptest"
)

// run runs an ldap-utils client against s, trusting s's CA, and returns
// its output (stdout and stderr).
func run(t *testing.T, s *ldaptest.Server, tool string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.CAFile(), "LDAPTLS_REQCERT=demand")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// search searches BaseDN over StartTLS as dn and returns the values of
// attrs in the entries found, as "dn: …" and "attr: value" lines.
func search(t *testing.T, s *ldaptest.Server, dn, password, filter string, attrs ...string) []string {
	t.Helper()
	return searchUnder(t, s, ldaptest.BaseDN, dn, password, filter, attrs...)
}

// searchUnder is search with another base DN.
func searchUnder(t *testing.T, s *ldaptest.Server, base, dn, password, filter string, attrs ...string) []string {
	t.Helper()
	args := append([]string{"-x", "-ZZ", "-LLL", "-o", "ldif-wrap=no", "-H", s.URL(),
		"-D", dn, "-w", password, "-b", base, filter}, attrs...)
	out, err := run(t, s, "ldapsearch", args...)
	if err != nil {
		t.Fatalf("ldapsearch %s as %s: %v\n%s", filter, dn, err, out)
	}
	var lines []string
	for l := range strings.Lines(out) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func filter(f, placeholder, value string) string { return strings.ReplaceAll(f, placeholder, value) }

func TestServiceAccountFindsUsersAndGroupsOverStartTLS(t *testing.T) {
	t.Parallel()
	s := ldaptest.Start(t)

	got := search(t, s, ldaptest.BindDN, ldaptest.BindPassword,
		filter(ldaptest.UserFilter, "{username}", "alice"), "mail", "departmentNumber", "memberOf", "userPassword")
	want := []string{
		"dn: " + ldaptest.UserDN("alice"),
		"mail: alice@example.org",
		"departmentNumber: blue",
		"memberOf: " + ldaptest.GroupDN("ops"),
		"memberOf: " + ldaptest.GroupDN("admins"),
	}
	slices.Sort(got[1:])
	slices.Sort(want[1:])
	if !slices.Equal(got, want) {
		t.Errorf("alice as the service account:\n got %q\nwant %q (and no userPassword)", got, want)
	}

	got = search(t, s, ldaptest.BindDN, ldaptest.BindPassword,
		filter(ldaptest.GroupFilter, "{dn}", ldaptest.UserDN("carol")), "cn")
	want = []string{"dn: " + ldaptest.GroupDN("ops"), "cn: ops", "dn: " + ldaptest.GroupDN("dev"), "cn: dev"}
	if !slices.Equal(got, want) {
		t.Errorf("carol's groups:\n got %q\nwant %q", got, want)
	}

	got = search(t, s, ldaptest.BindDN, ldaptest.BindPassword, "(memberOf="+ldaptest.GroupDN("ops")+")", "1.1")
	want = []string{"dn: " + ldaptest.UserDN("alice"), "dn: " + ldaptest.UserDN("carol")}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("members of ops by memberOf:\n got %q\nwant %q", got, want)
	}

	for _, uid := range []string{"dave", "nobody"} {
		if got := search(t, s, ldaptest.BindDN, ldaptest.BindPassword,
			filter(ldaptest.UserFilter, "{username}", uid), "1.1"); len(got) != 0 {
			t.Errorf("UserFilter for %s finds %q, want nothing", uid, got)
		}
	}
	got = search(t, s, ldaptest.BindDN, ldaptest.BindPassword,
		filter(ldaptest.UserFilter, "{username}", "eve"), "cn")
	if want := []string{"dn: cn=Eve Adams," + ldaptest.PeopleDN, "cn: Eve Adams"}; !slices.Equal(got, want) {
		t.Errorf("eve: got %q, want %q", got, want)
	}
}

func TestBind(t *testing.T) {
	t.Parallel()
	s := ldaptest.Start(t)
	tests := []struct {
		name, dn, password string
		url                string
		want               string // in ldapwhoami's output
	}{
		{"eve, DN with a space", ldaptest.UserDN("eve"), ldaptest.Passwords["eve"], s.URL(), "dn:cn=Eve Adams,ou=people,dc=example,dc=org"},
		{"alice over ldaps", ldaptest.UserDN("alice"), ldaptest.Passwords["alice"], s.LDAPSURL(), "dn:uid=alice,ou=people,dc=example,dc=org"},
		{"service account", ldaptest.BindDN, ldaptest.BindPassword, s.URL(), "dn:" + ldaptest.BindDN},
		{"admin", ldaptest.AdminDN, ldaptest.AdminPassword, s.URL(), "dn:" + ldaptest.AdminDN},
		{"wrong password", ldaptest.UserDN("alice"), ldaptest.Passwords["bob"], s.URL(), "Invalid credentials (49)"},
		{"unknown user", "uid=mallory," + ldaptest.PeopleDN, "x", s.URL(), "Invalid credentials (49)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-x", "-H", tt.url, "-D", tt.dn, "-w", tt.password}
			if strings.HasPrefix(tt.url, "ldap:") {
				args = append(args, "-ZZ")
			}
			out, err := run(t, s, "ldapwhoami", args...)
			if !strings.Contains(out, tt.want) {
				t.Errorf("ldapwhoami: %v\n%s\nwant %q", err, out, tt.want)
			}
			if ok := strings.HasPrefix(tt.want, "dn:"); ok != (err == nil) {
				t.Errorf("ldapwhoami: err %v, want success %v", err, ok)
			}
		})
	}
}

func TestAccessControls(t *testing.T) {
	t.Parallel()
	s := ldaptest.Start(t)
	alice, bob := ldaptest.UserDN("alice"), ldaptest.UserDN("bob")

	got := searchUnder(t, s, bob, bob, ldaptest.Passwords["bob"], "(objectClass=*)", "uid", "userPassword")
	if want := []string{"dn: " + bob, "uid: bob"}; !slices.Equal(got, want) {
		t.Errorf("bob sees %q, want his own entry without its password: %q", got, want)
	}
	out, err := run(t, s, "ldapsearch", "-x", "-ZZ", "-LLL", "-H", s.URL(), "-D", bob, "-w", ldaptest.Passwords["bob"],
		"-b", alice, "(objectClass=*)")
	if strings.Contains(out, "dn:") {
		t.Errorf("bob can read alice's entry (%v):\n%s", err, out)
	}
	if got := search(t, s, ldaptest.BindDN, ldaptest.BindPassword, "(userPassword=*)", "1.1"); len(got) != 0 {
		t.Errorf("the service account can search passwords: %q", got)
	}
	out, err = run(t, s, "ldapsearch", "-x", "-ZZ", "-LLL", "-H", s.URL(), "-b", ldaptest.BaseDN, "(objectClass=*)")
	if strings.Contains(out, "dn:") {
		t.Errorf("anonymous search finds entries (%v):\n%s", err, out)
	}
	out, err = run(t, s, "ldapsearch", "-x", "-ZZ", "-LLL", "-H", s.URL(), "-D", alice, "-w", ldaptest.Passwords["alice"],
		"-b", ldaptest.GroupsDN, "(objectClass=*)")
	if strings.Contains(out, "dn:") {
		t.Errorf("alice can read the groups (%v):\n%s", err, out)
	}
}

func TestCAPoolVerifiesLDAPS(t *testing.T) {
	t.Parallel()
	s := ldaptest.Start(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(s.LDAPSURL(), "ldaps://"), "/")
	for _, name := range []string{"127.0.0.1", "localhost"} {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: s.CAPool(), ServerName: name})
		if err != nil {
			t.Errorf("TLS to %s as %s: %v", addr, name, err)
			continue
		}
		c.Close()
	}
	if c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		c.Close()
		t.Error("the system roots trust the test CA")
	}
}

func TestStopRestartKeepsData(t *testing.T) {
	t.Parallel()
	s := ldaptest.Start(t)
	url := s.URL()
	s.Add(t, fmt.Sprintf("dn: uid=frank,%s\nobjectClass: inetOrgPerson\nuid: frank\ncn: Frank\nsn: Frank\nuserPassword: %s\n",
		ldaptest.PeopleDN, ldaptest.SSHA("frank-secret")))
	whoami := func() (string, error) {
		return run(t, s, "ldapwhoami", "-x", "-ZZ", "-H", url, "-D", "uid=frank,"+ldaptest.PeopleDN, "-w", "frank-secret")
	}
	if out, err := whoami(); err != nil {
		t.Fatalf("frank binds: %v\n%s", err, out)
	}

	s.Stop(t)
	if out, err := whoami(); err == nil || !strings.Contains(out, "Can't contact LDAP server") {
		t.Fatalf("bind to a stopped server: %v\n%s", err, out)
	}
	s.Stop(t) // stopped already: nothing to do

	s.Restart(t)
	if s.URL() != url {
		t.Errorf("URL after Restart = %s, want %s", s.URL(), url)
	}
	if out, err := whoami(); err != nil {
		t.Errorf("frank after Restart: %v\n%s", err, out)
	}
	s.Restart(t) // while running
	if out, err := whoami(); err != nil {
		t.Errorf("frank after a second Restart: %v\n%s", err, out)
	}
}

func TestRestartWaitsForItsPort(t *testing.T) {
	t.Parallel()
	s := ldaptest.Start(t)
	s.Stop(t)
	ln, err := net.Listen("tcp", s.Addr()) // someone else took the port meanwhile
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(300*time.Millisecond, func() { ln.Close() })
	s.Restart(t)
	if s.URL() != "ldap://"+s.Addr()+"/" {
		t.Errorf("URL %s, Addr %s", s.URL(), s.Addr())
	}
	if out, err := run(t, s, "ldapwhoami", "-x", "-ZZ", "-H", s.URL(), "-D", ldaptest.BindDN, "-w", ldaptest.BindPassword); err != nil {
		t.Errorf("after Restart: %v\n%s", err, out)
	}
}

func TestSetPasswordAndModify(t *testing.T) {
	t.Parallel()
	s := ldaptest.Start(t)
	bind := func(uid, password string) error {
		_, err := run(t, s, "ldapwhoami", "-x", "-ZZ", "-H", s.URL(), "-D", ldaptest.UserDN(uid), "-w", password)
		return err
	}
	for _, uid := range []string{"alice", "eve"} {
		s.SetPassword(t, uid, uid+"-new")
		if err := bind(uid, ldaptest.Passwords[uid]); err == nil {
			t.Errorf("%s binds with the old password", uid)
		}
		if err := bind(uid, uid+"-new"); err != nil {
			t.Errorf("%s with the new password: %v", uid, err)
		}
	}

	s.Modify(t, "dn: "+ldaptest.GroupDN("admins")+"\nchangetype: modify\nadd: member\nmember: "+ldaptest.UserDN("bob")+"\n")
	got := search(t, s, ldaptest.BindDN, ldaptest.BindPassword, "(uid=bob)", "memberOf")
	if !slices.Contains(got, "memberOf: "+ldaptest.GroupDN("admins")) {
		t.Errorf("bob after joining admins: %q", got)
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the test.
type recorder struct {
	*testing.T
	skipped, fatal string
}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWithoutSlapd(t *testing.T) {
	t.Setenv(ldaptest.SlapdEnv, "/nonexistent/slapd")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{T: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			ldaptest.Start(r)
			t.Error("Start returned without slapd")
		}()
		<-done
		if ci == "" && !strings.Contains(r.skipped, "slapd not installed: apt-get install slapd ldap-utils") {
			t.Errorf("CI unset: skipped %q, fatal %q; want a skip", r.skipped, r.fatal)
		}
		if ci != "" && (r.skipped != "" || !strings.Contains(r.fatal, "CI is set")) {
			t.Errorf("CI set: skipped %q, fatal %q; want a failure", r.skipped, r.fatal)
		}
	}
}
