package ldaptest

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Add adds entries (LDIF, blank-line separated) to the running directory
// as the rootdn, with ldapadd.
func (s *Server) Add(t testing.TB, ldif string) {
	t.Helper()
	s.ldapmodify(t, ldif, "-a")
}

// Modify applies LDIF change records (changetype: modify, delete, modrdn,
// add) to the running directory as the rootdn, with ldapmodify.
func (s *Server) Modify(t testing.TB, ldif string) {
	t.Helper()
	s.ldapmodify(t, ldif)
}

// SetPassword replaces the userPassword of the user whose uid is username
// (an {SSHA} hash of password), as the rootdn. Passwords is not changed.
func (s *Server) SetPassword(t testing.TB, username, password string) {
	t.Helper()
	dn := s.findUser(t, username)
	s.Modify(t, fmt.Sprintf("dn:: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n",
		base64.StdEncoding.EncodeToString([]byte(dn)), SSHA(password)))
}

// findUser searches PeopleDN for the DN of uid=username, as the rootdn.
func (s *Server) findUser(t testing.TB, username string) string {
	t.Helper()
	cmd := exec.Command(s.ldapSearch, "-x", "-LLL", "-o", "ldif-wrap=no", "-H", s.URL(),
		"-D", AdminDN, "-w", AdminPassword, "-b", PeopleDN, "(uid="+escapeFilter(username)+")", "1.1")
	cmd.Env = s.clientEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ldapsearch uid=%s: %v\n%s", username, err, stderr(err))
	}
	var dns []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if dn, ok := strings.CutPrefix(sc.Text(), "dn: "); ok {
			dns = append(dns, dn)
		} else if enc, ok := strings.CutPrefix(sc.Text(), "dn:: "); ok {
			raw, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				t.Fatalf("ldapsearch uid=%s: %v", username, err)
			}
			dns = append(dns, string(raw))
		}
	}
	if len(dns) != 1 {
		t.Fatalf("ldapsearch uid=%s under %s: %d entries, want 1", username, PeopleDN, len(dns))
	}
	return dns[0]
}

func (s *Server) ldapmodify(t testing.TB, ldif string, args ...string) {
	t.Helper()
	cmd := exec.Command(s.ldapModify, append([]string{"-x", "-H", s.URL(), "-D", AdminDN, "-w", AdminPassword}, args...)...)
	cmd.Stdin = strings.NewReader(ldif)
	cmd.Env = s.clientEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ldapmodify %s: %v\n%s\nLDIF:\n%s", strings.Join(args, " "), err, out, ldif)
	}
}

// clientEnv is the environment of ldap-utils: this server's CA for
// StartTLS (-ZZ) and ldaps://, whatever /etc/ldap/ldap.conf says.
func (s *Server) clientEnv() []string {
	return append(os.Environ(), "LDAPTLS_CACERT="+s.CAFile(), "LDAPTLS_REQCERT=demand")
}

func stderr(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}

// escapeFilter escapes a value for an LDAP search filter (RFC 4515 §3):
// the characters * ( ) \ and NUL become \XX.
func escapeFilter(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '*', '(', ')', '\\', 0:
			fmt.Fprintf(&b, `\%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
