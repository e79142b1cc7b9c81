package ldaptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

// tools finds slapd and the ldap-utils clients, or skips the test (fails
// it if CI is set) when one is missing.
func tools(t testing.TB) (slapd, ldapModify, ldapSearch string) {
	t.Helper()
	slapd, err := findSlapd()
	if err != nil {
		missing(t, "slapd", err)
	}
	if ldapModify, err = exec.LookPath("ldapmodify"); err != nil {
		missing(t, "ldapmodify", err)
	}
	if ldapSearch, err = exec.LookPath("ldapsearch"); err != nil {
		missing(t, "ldapsearch", err)
	}
	return slapd, ldapModify, ldapSearch
}

func findSlapd() (string, error) {
	if path := os.Getenv(SlapdEnv); path != "" {
		return exec.LookPath(path)
	}
	if path, err := exec.LookPath("/usr/sbin/slapd"); err == nil {
		return path, nil
	}
	return exec.LookPath("slapd")
}

func missing(t testing.TB, name string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not installed (%v), and CI is set: apt-get install slapd ldap-utils (.ci/run does)", name, err)
	}
	t.Skip(name + " not installed: apt-get install slapd ldap-utils (.ci/run does)")
}

// writeConfig writes slapd.conf (slapd.conf(5)): the schemas, back-mdb
// under BaseDN with AdminDN as its rootdn, slapo-dynlist for memberOf,
// the access controls of the package comment, and TLS.
func (s *Server) writeConfig(t testing.TB) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(s.dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err := slapdConf.Execute(&b, map[string]string{
		"Dir": s.dir, "SchemaDir": SchemaDir, "ModuleDir": ModuleDir,
		"BaseDN": BaseDN, "AdminDN": AdminDN, "AdminHash": SSHA(AdminPassword), "BindDN": BindDN,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "slapd.conf"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

var slapdConf = template.Must(template.New("slapd.conf").Parse(`# Written by ldaptest for one test.
include {{.SchemaDir}}/core.schema
include {{.SchemaDir}}/cosine.schema
include {{.SchemaDir}}/inetorgperson.schema
include {{.SchemaDir}}/nis.schema
include {{.SchemaDir}}/dyngroup.schema

pidfile "{{.Dir}}/slapd.pid"
argsfile "{{.Dir}}/slapd.args"
# Nothing to syslog: slapd -d logs to stderr, which the test keeps.
loglevel 0
modulepath {{.ModuleDir}}
moduleload back_mdb
moduleload dynlist

TLSCACertificateFile "{{.Dir}}/ca.pem"
TLSCertificateFile "{{.Dir}}/server.pem"
TLSCertificateKeyFile "{{.Dir}}/server.key"

database mdb
suffix "{{.BaseDN}}"
rootdn "{{.AdminDN}}"
rootpw {{.AdminHash}}
directory "{{.Dir}}/db"
maxsize 67108864
dbnosync
index objectClass,uid,cn,member eq

# memberOf on users, from the member values of groupOfNames entries.
overlay dynlist
dynlist-attrset groupOfURLs memberURL member+memberOf@groupOfNames

# slapd checks every bind as from anonymous, even a rebind on a connection
# bound as the service account.
access to attrs=userPassword
	by anonymous auth
	by * none
access to *
	by dn.exact="{{.BindDN}}" read
	by self read
	by * none
`))

// load adds ldif to the stopped server's database with slapadd (slapd
// run under that name).
func (s *Server) load(t testing.TB, ldif string) {
	t.Helper()
	path := filepath.Join(s.dir, "directory.ldif")
	if err := os.WriteFile(path, []byte(ldif), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.slapd, "-f", filepath.Join(s.dir, "slapd.conf"), "-l", path, "-q")
	cmd.Args[0] = "slapadd"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
}
