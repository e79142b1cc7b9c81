package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/authn/ldap"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/metrics"
	"github.com/tollgate/tollgate/server"
)

// userBackends maps the names users.backends lists to their constructors
// (dex's ConnectorsConfig): a new user source is one package with a
// constructor and a config section, and one line here.
var userBackends = map[string]newBackend{
	"htpasswd": newHtpasswdBackend,
	"ldap":     newLDAPBackend,
}

// newBackend builds a user backend from the configuration.
type newBackend func(cfg *config.Config, logger *slog.Logger) (*backend, error)

// backend is a user source as the server runs it: an authenticator and
// whatever of the optional parts below it has (nil: none).
type backend struct {
	name string
	authn.Authenticator
	users   accounts.Users                    // whether a name is a user, and its password's epoch
	version func() uint64                     // goes up when its users change (accounts confirms removals by it)
	observe func(m *metrics.Metrics)          // reports to the metrics
	start   func(ctx context.Context, a *app) // follows changes until ctx ends, on a.wg
	reload  func() error                      // re-reads on SIGHUP
	ready   func(ctx context.Context) error   // GET /ready
	stop    func()                            // releases what it holds (connections) at Close
}

// backends are the configured user backends, in order.
type backends []*backend

// loadBackends builds users.backends in one loop.
func loadBackends(cfg *config.Config, logger *slog.Logger) (backends, error) {
	out := make(backends, 0, len(cfg.Users.Backends))
	for i, name := range cfg.Users.Backends {
		build, ok := userBackends[name]
		if !ok {
			return nil, fmt.Errorf("users.backends[%d]: %q is not a user backend (%s)", i, name, backendNames())
		}
		b, err := build(cfg, logger)
		if err != nil {
			return nil, err
		}
		b.name = name
		out = append(out, b)
	}
	return out, nil
}

// checkBackends reports the names of users.backends that are no backend,
// for `config check` and every command loading the configuration.
func checkBackends(cfg *config.Config) error {
	var errs []error
	for i, name := range cfg.Users.Backends {
		if _, ok := userBackends[name]; !ok {
			errs = append(errs, fmt.Errorf("users.backends[%d]: %q is not a user backend (%s)", i, name, backendNames()))
		}
	}
	return errors.Join(errs...)
}

func backendNames() string {
	names := make([]string, 0, len(userBackends))
	for name := range userBackends {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// chain is the backends as one authenticator: the first that knows a user
// decides (authn.Chain).
func (bs backends) chain() authn.Chain {
	c := make(authn.Chain, len(bs))
	for i, b := range bs {
		c[i] = b.Authenticator
	}
	return c
}

// directory is the users of the backends, then those of more (sources
// of users that are no password backend), for the accounts service: nil
// (every name is a user) unless every backend can tell its users, since
// a name one backend cannot vouch for must not be taken for removed.
func (bs backends) directory(more ...accounts.Users) accounts.Users {
	d := make(directory, 0, len(bs)+len(more))
	for _, b := range bs {
		if b.users == nil {
			return nil
		}
		d = append(d, b.users)
	}
	d = append(d, more...)
	if slices.ContainsFunc(d, func(u accounts.Users) bool { _, ok := u.(accounts.Profiles); return ok }) {
		return profiled{d}
	}
	return d // no member tells profiles: stored credentials ask nothing more
}

// version sums the versions of the backends that have one (each only goes
// up, so the sum changes whenever one does); nil when none has.
func (bs backends) version() func() uint64 {
	if !slices.ContainsFunc(bs, func(b *backend) bool { return b.version != nil }) {
		return nil
	}
	return func() uint64 {
		var v uint64
		for _, b := range bs {
			if b.version != nil {
				v += b.version()
			}
		}
		return v
	}
}

func (bs backends) observe(m *metrics.Metrics) {
	for _, b := range bs {
		if b.observe != nil {
			b.observe(m)
		}
	}
}

func (bs backends) start(ctx context.Context, a *app) {
	for _, b := range bs {
		if b.start != nil {
			b.start(ctx, a)
		}
	}
}

// reload re-reads every backend that can; one that fails keeps what it had.
func (bs backends) reload(logger *slog.Logger) {
	for _, b := range bs {
		if b.reload == nil {
			continue
		}
		if err := b.reload(); err != nil {
			logger.Error("reload on SIGHUP failed; keeping the previous users", "backend", b.name, "error", err)
			continue
		}
		logger.Info("reloaded on SIGHUP", "backend", b.name)
	}
}

// stop releases what the backends hold.
func (bs backends) stop() {
	for _, b := range bs {
		if b.stop != nil {
			b.stop()
		}
	}
}

// readyChecks are the backends' checks of GET /ready.
func (bs backends) readyChecks() []server.ReadyCheck {
	var out []server.ReadyCheck
	for _, b := range bs {
		if b.ready != nil {
			out = append(out, server.ReadyCheck{Name: b.name, Check: b.ready})
		}
	}
	return out
}

// directory is several backends' users: a name is a user when any says
// so; its epoch is the first non-empty one.
type directory []accounts.Users

func (d directory) Exists(ctx context.Context, name string) (bool, error) {
	var first error
	for _, u := range d {
		ok, err := u.Exists(ctx, name)
		if ok && err == nil {
			return true, nil
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return false, first
}

// profiled is a directory one of whose members tells users' profiles (a
// directory server).
type profiled struct{ directory }

// Profile is the groups and labels of name from the backend that decides
// for it (the first that knows it), when that one can tell them.
func (p profiled) Profile(ctx context.Context, name string) (*authn.Attributes, error) {
	for _, u := range p.directory {
		ok, err := u.Exists(ctx, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if pu, can := u.(accounts.Profiles); can {
			return pu.Profile(ctx, name)
		}
		return nil, nil
	}
	return nil, nil
}

func (d directory) Epoch(name string) string {
	for _, u := range d {
		if e := u.Epoch(name); e != "" {
			return e
		}
	}
	return ""
}

// newHtpasswdBackend is the htpasswd file of users.htpasswd: reloaded when
// it changes, its removals and password changes followed by the accounts.
func newHtpasswdBackend(cfg *config.Config, logger *slog.Logger) (*backend, error) {
	file, err := htpasswd.Load(cfg.Users.Htpasswd, logger)
	if err != nil {
		return nil, err
	}
	return &backend{
		Authenticator: file,
		users:         file,
		version:       file.Version,
		observe:       func(m *metrics.Metrics) { file.OnCompare = m.BcryptVerified },
		start:         func(ctx context.Context, a *app) { followHtpasswd(ctx, a, file, cfg.Users.Htpasswd, logger) },
		reload:        file.Reload,
		ready: func(context.Context) error {
			if file.Version() == 0 {
				return errors.New("htpasswd file not loaded")
			}
			return htpasswdProblems(file.Problems())
		},
	}, nil
}

// followHtpasswd ends the accounts older than the file, then follows it:
// Apply waits to confirm removals, so it runs beside the watcher, which
// must go on reloading meanwhile, or Apply would never see a user come
// back (and would end the account of a user added again).
func followHtpasswd(ctx context.Context, a *app, file *htpasswd.File, path string, logger *slog.Logger) {
	a.accounts.Start(ctx, file.Users(), fileTime(path))
	file.OnChange = func(ch htpasswd.Change) {
		a.forget() // a password changed or a user left: their tokens and decisions are forgotten
		change := accounts.FileChange{Added: ch.Added, Removed: ch.Removed, Changed: ch.Changed, Since: ch.Since}
		a.wg.Go(func() { a.accounts.Apply(ctx, change, 0) })
	}
	a.wg.Go(func() { watchUsers(ctx, file, logger) })
}

// newLDAPBackend is the directory of users.ldap: its users and groups,
// checked at GET /ready, and whether a name is still a user (for stored
// credentials) trusted for users.cache_ttl.
func newLDAPBackend(cfg *config.Config, logger *slog.Logger) (*backend, error) {
	dir, err := ldap.New(cfg.Users.LDAP, cfg.Users.CacheTTL)
	if err != nil {
		return nil, err
	}
	if cfg.Users.LDAP.InsecureSkipVerify {
		logger.Warn("users.ldap.insecure_skip_verify is set: the directory's certificate is NOT checked, and anyone "+
			"on the path can read every password; for a test directory only", "url", cfg.Users.LDAP.URL)
	}
	return &backend{Authenticator: dir, users: dir, ready: dir.Ready, stop: dir.Close}, nil
}
