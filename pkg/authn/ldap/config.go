package ldap

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tollgate/tollgate/pkg/authn"
)

// Config is the users.ldap section.
type Config struct {
	// URL is ldap://host[:port] (with StartTLS) or ldaps://host[:port].
	URL      string `mapstructure:"url"`
	StartTLS bool   `mapstructure:"start_tls"`
	// CAFile is a PEM bundle trusted for the directory's certificate
	// besides the system's.
	CAFile string `mapstructure:"ca_file"`
	// InsecureSkipVerify accepts any certificate: for a test directory
	// only; Tollgate warns at every start.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
	// BindDN and its password are the search account's; the password from
	// BindPassword (TOLLGATE_USERS_LDAP_BIND_PASSWORD) or BindPasswordFile.
	BindDN           string       `mapstructure:"bind_dn"`
	BindPassword     authn.Secret `mapstructure:"bind_password"`
	BindPasswordFile string       `mapstructure:"bind_password_file"`
	// BaseDN is where users are searched; UserFilter finds one user, with
	// {username} for the escaped user name; UsernameAttribute holds the
	// name the identity gets (uid; sAMAccountName in Active Directory).
	BaseDN            string `mapstructure:"base_dn"`
	UserFilter        string `mapstructure:"user_filter"`
	UsernameAttribute string `mapstructure:"username_attribute"`
	// Groups: searched under GroupBaseDN with GroupFilter ({dn} is the
	// user's DN, {username} the name, both escaped), each named by its
	// GroupAttribute (cn); or, with no GroupFilter, read from the user's
	// MemberOfAttribute (memberOf), each named by its DN's first value.
	GroupBaseDN       string `mapstructure:"group_base_dn"`
	GroupFilter       string `mapstructure:"group_filter"`
	GroupAttribute    string `mapstructure:"group_attribute"`
	MemberOfAttribute string `mapstructure:"member_of_attribute"`
	// Attributes maps label names to attributes of the user's entry
	// (team: departmentNumber): the ACL's ${labels:NAME}.
	Attributes map[string]string `mapstructure:"attributes"`
	// EmailAttribute is the user's email address (/v1/account): mail.
	EmailAttribute string `mapstructure:"email_attribute"`
	// AdminGroup makes its members administrators (type admin); "" leaves
	// account types to `tollgate users set`.
	AdminGroup string        `mapstructure:"admin_group"`
	Timeout    time.Duration `mapstructure:"timeout"`
	PoolSize   int           `mapstructure:"pool_size"`
}

// Defaults of the keys a configuration may leave out.
const (
	DefaultUserFilter        = "(&(objectClass=person)(uid={username}))"
	DefaultUsernameAttribute = "uid"
	DefaultGroupAttribute    = "cn"
	DefaultMemberOfAttribute = "memberOf"
	DefaultEmailAttribute    = "mail"
	DefaultTimeout           = 5 * time.Second
	DefaultPoolSize          = 8
)

// withDefaults fills the keys left out.
func (c Config) withDefaults() Config {
	set := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	set(&c.UserFilter, DefaultUserFilter)
	set(&c.UsernameAttribute, DefaultUsernameAttribute)
	set(&c.GroupAttribute, DefaultGroupAttribute)
	set(&c.MemberOfAttribute, DefaultMemberOfAttribute)
	set(&c.EmailAttribute, DefaultEmailAttribute)
	set(&c.GroupBaseDN, c.BaseDN)
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	return c
}

// Check reports every problem of c (config check) as "users.ldap.KEY: ...".
func (c Config) Check() error {
	dns := [][2]string{{"base_dn", c.BaseDN}}
	if c.GroupBaseDN != "" {
		dns = append(dns, [2]string{"group_base_dn", c.GroupBaseDN})
	}
	c = c.withDefaults()
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("users.ldap.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		fail("url", "required: ldap://host (with start_tls) or ldaps://host")
	case err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps"):
		fail("url", "%q: want ldap://host[:port] or ldaps://host[:port]", c.URL)
	case u.Scheme == "ldap" && !c.StartTLS && !loopback(u.Hostname()):
		fail("start_tls", "ldap:// without start_tls would send passwords in clear text: set start_tls: true, or use ldaps://")
	case u.Scheme == "ldaps" && c.StartTLS:
		fail("start_tls", "ldaps:// is TLS already; start_tls is for ldap://")
	}
	if c.BindDN == "" {
		fail("bind_dn", "required: the search account's DN")
	} else if _, err := ldap.ParseDN(c.BindDN); err != nil {
		fail("bind_dn", "%q: %v", c.BindDN, err)
	}
	if c.BindPassword != "" && c.BindPasswordFile != "" {
		fail("bind_password_file", "set bind_password_file or bind_password (TOLLGATE_USERS_LDAP_BIND_PASSWORD), not both")
	}
	for _, kv := range dns {
		if _, err := ldap.ParseDN(kv[1]); err != nil || kv[1] == "" {
			fail(kv[0], "%q: want a DN such as ou=people,dc=example,dc=org", kv[1])
		}
	}
	errs = append(errs, checkFilter("user_filter", c.UserFilter, "{username}", true)...)
	if c.GroupFilter != "" {
		errs = append(errs, checkFilter("group_filter", c.GroupFilter, "{dn}", false)...)
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > time.Minute {
		fail("timeout", "%s must be between 100ms and 1m", c.Timeout)
	}
	if c.PoolSize < 1 || c.PoolSize > 256 {
		fail("pool_size", "%d must be between 1 and 256", c.PoolSize)
	}
	for label, attr := range c.Attributes {
		if label == "" || attr == "" {
			fail("attributes", "%q: %q: want label: attribute", label, attr)
		}
	}
	return errors.Join(errs...)
}

// checkFilter compiles filter with its placeholders filled (RFC 4515).
func checkFilter(key, filter, placeholder string, required bool) []error {
	var errs []error
	if required && !strings.Contains(filter, placeholder) {
		errs = append(errs, fmt.Errorf("users.ldap.%s: %q must use %s", key, filter, placeholder))
	}
	sample := strings.NewReplacer("{username}", "alice", "{dn}", "uid=alice,dc=example,dc=org").Replace(filter)
	if _, err := ldap.CompileFilter(sample); err != nil {
		errs = append(errs, fmt.Errorf("users.ldap.%s: %q: %v", key, filter, err))
	}
	return errs
}

func loopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
