package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/go-ldap/ldap/v3"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/outbound"
	"github.com/tollgate/tollgate/pkg/store"
)

// Source is the Identity.Source of the users a Directory vouches for.
const Source = "ldap"

// errDown marks a directory that does not answer, or refuses the search
// account: authn.ErrUnavailable, never a wrong password.
var errDown = fmt.Errorf("directory unavailable: %w", authn.ErrUnavailable)

// maxUsername bounds a user name sent to the directory.
const maxUsername = 256

// Directory authenticates the users of an LDAP directory. It is safe for
// concurrent use.
type Directory struct {
	cfg      Config
	password string // the search account's
	search   *pool  // bound as the search account
	auth     *pool  // for users' binds
	known    lookups
}

// New checks cfg and prepares the pools; it connects on first use. The
// search account's password is cfg.BindPassword, else the content of
// cfg.BindPasswordFile. lookupTTL is how long Exists trusts an answer.
func New(cfg Config, lookupTTL time.Duration) (*Directory, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	password, err := bindPassword(cfg)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := tlsConfigOf(cfg)
	if err != nil {
		return nil, err
	}
	d := &Directory{cfg: cfg, password: password, known: lookups{ttl: lookupTTL}}
	dial := dialer{url: cfg.URL, startTLS: cfg.StartTLS, tls: tlsConfig, timeout: cfg.Timeout}
	d.search = newPool(cfg.PoolSize, func() (*ldap.Conn, error) {
		c, err := dial.dial()
		if err != nil {
			return nil, err
		}
		if err := c.Bind(cfg.BindDN, password); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: bind as the search account %s: %w", errDown, cfg.BindDN, err)
		}
		return c, nil
	})
	d.auth = newPool(cfg.PoolSize, dial.dial)
	return d, nil
}

func bindPassword(cfg Config) (string, error) {
	if cfg.BindPassword != "" || cfg.BindPasswordFile == "" {
		if cfg.BindPassword == "" {
			return "", errors.New("users.ldap: the search account needs a password: bind_password_file or TOLLGATE_USERS_LDAP_BIND_PASSWORD")
		}
		return string(cfg.BindPassword), nil
	}
	b, err := os.ReadFile(cfg.BindPasswordFile)
	if err != nil {
		return "", fmt.Errorf("users.ldap.bind_password_file: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("users.ldap.bind_password_file %s: empty", cfg.BindPasswordFile)
	}
	return p, nil
}

func tlsConfigOf(cfg Config) (*tls.Config, error) {
	u := strings.TrimPrefix(strings.TrimPrefix(cfg.URL, "ldaps://"), "ldap://")
	host := u
	if i := strings.IndexAny(u, ":/"); i >= 0 {
		host = u[:i]
	}
	t := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // refused unless configured, warned at start
	if cfg.CAFile == "" {
		return t, nil
	}
	roots, err := outbound.Roots(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("users.ldap.ca_file: %w", err)
	}
	t.RootCAs = roots
	return t, nil
}

// Close closes the idle connections.
func (d *Directory) Close() {
	d.search.close()
	d.auth.close()
}

// entry is what a login reads of a user's entry.
type entry struct {
	dn       string
	name     string
	email    string
	memberOf []string
	labels   map[string]string
}

// Authenticate implements authn.Authenticator.
func (d *Directory) Authenticate(ctx context.Context, username string, secret authn.Secret) (authn.Identity, error) {
	if !plausibleName(username) {
		return authn.Identity{}, authn.ErrNoSuchUser
	}
	e, err := d.find(ctx, username)
	if err != nil {
		return authn.Identity{}, err
	}
	if secret == "" { // an empty password is an unauthenticated bind, which succeeds (RFC 4513 §5.1.2)
		return authn.Identity{}, fmt.Errorf("ldap %q: empty password: %w", e.name, authn.ErrBadCredentials)
	}
	if err := d.bindAs(ctx, e.dn, string(secret)); err != nil {
		return authn.Identity{}, err
	}
	groups, err := d.groups(ctx, e)
	if err != nil {
		return authn.Identity{}, err
	}
	return d.identity(e, groups), nil
}

// plausibleName refuses what no directory user is called: empty, too
// long, or with control characters.
func plausibleName(name string) bool {
	return name != "" && len(name) <= maxUsername && !strings.ContainsFunc(name, unicode.IsControl)
}

// identity is the user e, in groups.
func (d *Directory) identity(e entry, groups []string) authn.Identity {
	a := &authn.Attributes{Groups: groups, Labels: e.labels, Email: e.email}
	if d.cfg.AdminGroup != "" {
		a.Type = store.AccountUser
		if slices.Contains(groups, d.cfg.AdminGroup) {
			a.Type = store.AccountAdmin
		}
	}
	return authn.Identity{Kind: authn.KindUser, Name: e.name, Source: Source, Attrs: a}
}

// Exists reports whether the directory has a user of that name, for
// stored credentials (API tokens, refresh tokens): a user removed from the
// directory ends them, within the lookup TTL.
func (d *Directory) Exists(ctx context.Context, username string) (bool, error) {
	if !plausibleName(username) {
		return false, nil
	}
	if found, ok := d.known.get(username); ok {
		return found, nil
	}
	_, err := d.find(ctx, username)
	switch {
	case errors.Is(err, authn.ErrNoSuchUser):
		d.known.put(username, false)
		return false, nil
	case err != nil:
		return false, err
	}
	d.known.put(username, true)
	return true, nil
}

// Profile is the user's groups and labels as the directory has them now
// (accounts.Profiles), for credentials stored without them; nil for a
// name that is no user. Answers are kept for the lookup TTL.
func (d *Directory) Profile(ctx context.Context, username string) (*authn.Attributes, error) {
	if !plausibleName(username) {
		return nil, nil
	}
	if a, ok := d.known.profile(username); ok {
		return a, nil
	}
	e, err := d.find(ctx, username)
	if errors.Is(err, authn.ErrNoSuchUser) {
		d.known.put(username, false)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	groups, err := d.groups(ctx, e)
	if err != nil {
		return nil, err
	}
	a := d.identity(e, groups).Attrs
	d.known.putProfile(username, a)
	return a, nil
}

// Epoch implements accounts.Users: a directory keeps no password epochs.
func (d *Directory) Epoch(string) string { return "" }

// Ready checks that the directory answers the search account.
func (d *Directory) Ready(ctx context.Context) error {
	return d.withSearch(ctx, func(c *ldap.Conn) error {
		_, err := c.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1,
			d.timeLimit(), false, "(objectClass=*)", []string{"1.1"}, nil))
		return err
	})
}

// find searches the one entry of username.
func (d *Directory) find(ctx context.Context, username string) (entry, error) {
	filter := strings.ReplaceAll(d.cfg.UserFilter, "{username}", ldap.EscapeFilter(username))
	attrs := []string{d.cfg.UsernameAttribute, d.cfg.EmailAttribute}
	if d.cfg.GroupFilter == "" {
		attrs = append(attrs, d.cfg.MemberOfAttribute)
	}
	for _, a := range d.cfg.Attributes {
		attrs = append(attrs, a)
	}
	var res *ldap.SearchResult
	err := d.withSearch(ctx, func(c *ldap.Conn) error {
		var err error
		res, err = c.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
			d.timeLimit(), false, filter, attrs, nil))
		return err
	})
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded), err == nil && len(res.Entries) > 1:
		return entry{}, fmt.Errorf("ldap: %q matches several entries: %w", username, authn.ErrNoSuchUser)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject), err == nil && len(res.Entries) == 0:
		return entry{}, authn.ErrNoSuchUser
	case err != nil:
		return entry{}, unavailable("search the user", err)
	}
	return d.entryOf(res.Entries[0], username), nil
}

// entryOf reads a user's entry; the name is the entry's own spelling.
func (d *Directory) entryOf(le *ldap.Entry, username string) entry {
	e := entry{dn: le.DN, name: le.GetAttributeValue(d.cfg.UsernameAttribute),
		email: le.GetAttributeValue(d.cfg.EmailAttribute), memberOf: le.GetAttributeValues(d.cfg.MemberOfAttribute)}
	if e.name == "" {
		e.name = username
	}
	for label, attr := range d.cfg.Attributes {
		if v := le.GetAttributeValue(attr); v != "" {
			if e.labels == nil {
				e.labels = map[string]string{}
			}
			e.labels[label] = v
		}
	}
	return e
}

// bindAs checks the password by a bind as dn.
func (d *Directory) bindAs(ctx context.Context, dn, password string) error {
	err := with(ctx, d.auth, func(c *ldap.Conn) error { return c.Bind(dn, password) })
	switch {
	case err == nil:
		return nil
	case refusal(err):
		return fmt.Errorf("ldap %s: %w", dn, authn.ErrBadCredentials)
	}
	return unavailable("bind", err)
}

// unavailable is err of op, wrapping errDown: a directory that fails a
// request it should answer (down, or refusing the search account what it
// needs) is the operator's to fix, never the user's wrong password.
func unavailable(op string, err error) error {
	if errors.Is(err, errDown) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", errDown, op, err)
}

// groups are the names of the user's groups, in directory order.
func (d *Directory) groups(ctx context.Context, e entry) ([]string, error) {
	if d.cfg.GroupFilter == "" {
		return groupNames(e.memberOf), nil
	}
	filter := strings.NewReplacer("{dn}", ldap.EscapeFilter(e.dn), "{username}", ldap.EscapeFilter(e.name)).Replace(d.cfg.GroupFilter)
	var res *ldap.SearchResult
	err := d.withSearch(ctx, func(c *ldap.Conn) error {
		var err error
		res, err = c.Search(ldap.NewSearchRequest(d.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
			d.timeLimit(), false, filter, []string{d.cfg.GroupAttribute}, nil))
		return err
	})
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, unavailable("search the groups", err)
	}
	var out []string
	if res != nil {
		for _, g := range res.Entries {
			if name := g.GetAttributeValue(d.cfg.GroupAttribute); name != "" && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// groupNames are the first RDN values of group DNs (cn=ops,ou=groups → ops).
func groupNames(dns []string) []string {
	var out []string
	for _, s := range dns {
		dn, err := ldap.ParseDN(s)
		if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) == 0 {
			continue
		}
		if name := dn.RDNs[0].Attributes[0].Value; !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// withSearch runs op on a search connection.
func (d *Directory) withSearch(ctx context.Context, op func(*ldap.Conn) error) error {
	return with(ctx, d.search, op)
}

// with runs op on a connection of p. One that fails as a connection is
// dropped; a pooled one the directory had closed while it was idle is
// replaced once. A directory that does not answer in time is not asked
// again: the caller waits one timeout, not two. Such failures wrap
// errDown.
func with(ctx context.Context, p *pool, op func(*ldap.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, fresh, err := p.get(ctx)
		if err != nil {
			return err
		}
		err = op(c)
		failed := err != nil && down(err)
		stale := failed && c.IsClosing()
		p.put(c, !failed)
		switch {
		case !failed:
			return err
		case !stale || fresh || attempt > 0:
			return fmt.Errorf("%w: %w", errDown, err)
		}
	}
}

// timeLimit is the server-side time limit of a search, in seconds.
func (d *Directory) timeLimit() int { return max(1, int(d.cfg.Timeout.Seconds())) }

// refusal reports whether a bind was refused for the credentials: a wrong
// password, or an account the directory will not let in (locked,
// expired, disabled: Active Directory answers 49 with a reason code).
func refusal(err error) bool {
	for _, code := range []uint16{ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultConstraintViolation, ldap.LDAPResultInsufficientAccessRights} {
		if ldap.IsErrorWithCode(err, code) {
			return true
		}
	}
	return false
}

// down reports whether err says the connection or the directory failed
// (not the request): the connection is dropped.
func down(err error) bool {
	for _, code := range []uint16{ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
		ldap.LDAPResultServerDown, ldap.LDAPResultTimeout} {
		if ldap.IsErrorWithCode(err, code) {
			return true
		}
	}
	return errors.Is(err, errDown)
}
