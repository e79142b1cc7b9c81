// Package ldaptest runs a real OpenLDAP server for the tests of the LDAP
// user backend: Debian's slapd as a child process of the test, on a
// loopback port, over a private directory of its own (configuration,
// database, certificates), with StartTLS and ldaps:// signed by a CA made
// for the test, and a small directory of users, groups and a service
// account whose passwords the tests know.
//
// The directory (BaseDN dc=example,dc=org):
//
//	ou=people
//	  uid=alice        inetOrgPerson, mail alice@example.org, departmentNumber blue
//	  uid=bob          mail bob@example.org, departmentNumber green
//	  uid=carol        mail carol@example.org; in two groups
//	  uid=dave         employeeType disabled (UserFilter does not find him)
//	  cn=Eve Adams     uid eve: a DN with a space that is not uid=…
//	ou=groups          groupOfNames
//	  cn=ops           carol, alice
//	  cn=dev           carol, bob
//	  cn=admins        alice
//	ou=services
//	  cn=tollgate      BindDN: reads people and groups, never a password
//	cn=admin           AdminDN, the rootdn: may change anything
//
// Users may bind and read their own entry; anonymous may only bind; nobody
// but the rootdn reads a userPassword. Passwords are stored as {SSHA}
// hashes. Users carry a memberOf attribute (computed by slapo-dynlist from
// the groups' member values, so it is operational: ask for it by name) and
// may be searched by it, as with Active Directory.
//
// The server stops when the test ends. Tests that need slapd skip without
// it, unless the environment variable CI is set: then they fail, so that
// a CI machine without slapd cannot pass by skipping (.ci/run installs
// slapd and ldap-utils).
package ldaptest
