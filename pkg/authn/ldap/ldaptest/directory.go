package ldaptest

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"
)

// The names of the directory.
const (
	BaseDN     = "dc=example,dc=org"
	PeopleDN   = "ou=people," + BaseDN
	GroupsDN   = "ou=groups," + BaseDN
	ServicesDN = "ou=services," + BaseDN

	// BindDN and BindPassword are the service account the backend searches
	// with: it reads people and groups, and no password.
	BindDN       = "cn=tollgate," + ServicesDN
	BindPassword = "tollgate-secret"

	// AdminDN and AdminPassword are the rootdn, for tests that change the
	// directory; access controls do not apply to it.
	AdminDN       = "cn=admin," + BaseDN
	AdminPassword = "admin-secret"
)

// The searches recommended to the backend: {username} and {dn} stand for
// the escaped user name and the user's DN. UserFilter finds no disabled
// user (dave).
const (
	UserFilter  = "(&(objectClass=inetOrgPerson)(uid={username})(!(employeeType=disabled)))"
	GroupFilter = "(&(objectClass=groupOfNames)(member={dn}))"
)

// Passwords are the users' passwords, by uid, as the directory holds them
// when the server starts. SetPassword does not change this map.
var Passwords = map[string]string{
	"alice": "alice-secret",
	"bob":   "bob-secret",
	"carol": "carol-secret",
	"dave":  "dave-secret",
	"eve":   "eve-secret",
}

// Groups are the members (uids) of each group, by the group's cn.
var Groups = map[string][]string{
	"ops":    {"carol", "alice"},
	"dev":    {"carol", "bob"},
	"admins": {"alice"},
}

// person is one user of ou=people.
type person struct {
	uid, cn, sn string
	rdn         string // the entry's RDN when it is not uid=…
	attrs       []string
}

var people = []person{
	{uid: "alice", cn: "Alice", sn: "Liddell", attrs: []string{"departmentNumber: blue"}},
	{uid: "bob", cn: "Bob", sn: "Builder", attrs: []string{"departmentNumber: green"}},
	{uid: "carol", cn: "Carol", sn: "Danvers"},
	{uid: "dave", cn: "Dave", sn: "Bowman", attrs: []string{"employeeType: disabled"}},
	{uid: "eve", cn: "Eve Adams", sn: "Adams", rdn: "cn=Eve Adams"},
}

// UserDN is the DN of one of the users of Passwords, by uid; "" for
// anyone else.
func UserDN(uid string) string {
	for _, p := range people {
		if p.uid == uid {
			return p.dn()
		}
	}
	return ""
}

// GroupDN is the DN of a group of ou=groups by cn.
func GroupDN(cn string) string { return "cn=" + cn + "," + GroupsDN }

func (p person) dn() string {
	if p.rdn != "" {
		return p.rdn + "," + PeopleDN
	}
	return "uid=" + p.uid + "," + PeopleDN
}

// SSHA hashes a password the way slappasswd does by default: {SSHA}, the
// base64 of SHA-1(password + salt) followed by the salt. For entries
// added with Add or WithLDIF.
func SSHA(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	sum := sha1.Sum(append([]byte(password), salt...))
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
}

// directoryLDIF is the directory the server starts with, for slapadd.
func directoryLDIF() string {
	var b strings.Builder
	entry := func(dn string, lines ...string) {
		fmt.Fprintf(&b, "dn: %s\n%s\n\n", dn, strings.Join(lines, "\n"))
	}
	entry(BaseDN, "objectClass: dcObject", "objectClass: organization", "dc: example", "o: Example")
	for _, ou := range []string{"people", "groups", "services"} {
		entry("ou="+ou+","+BaseDN, "objectClass: organizationalUnit", "ou: "+ou)
	}
	for _, p := range people {
		lines := []string{"objectClass: inetOrgPerson", "uid: " + p.uid, "cn: " + p.cn, "sn: " + p.sn,
			"mail: " + p.uid + "@example.org", "userPassword: " + SSHA(Passwords[p.uid])}
		entry(p.dn(), append(lines, p.attrs...)...)
	}
	for _, cn := range []string{"ops", "dev", "admins"} {
		lines := []string{"objectClass: groupOfNames", "cn: " + cn}
		for _, uid := range Groups[cn] {
			lines = append(lines, "member: "+UserDN(uid))
		}
		entry(GroupDN(cn), lines...)
	}
	entry(BindDN, "objectClass: applicationProcess", "objectClass: simpleSecurityObject",
		"cn: tollgate", "userPassword: "+SSHA(BindPassword))
	return b.String()
}
