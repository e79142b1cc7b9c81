package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/authn/federation"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/gateway"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/metrics"
	"github.com/tollgate/tollgate/pkg/ratelimit"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/postgres"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/server"
)

// credentialCacheSize bounds the verified-credential cache.
const credentialCacheSize = 10000

// purgeEvery is how often expired refresh tokens are deleted.
const purgeEvery = time.Hour

// storeCallTimeout bounds every store call on the request path
// (store.WithTimeout): a database that does not answer costs a request at
// most this, then a 503.
const storeCallTimeout = 5 * time.Second

// app is a running Tollgate: everything built from one configuration.
type app struct {
	handler  http.Handler
	cfg      *config.Config // as loaded at start; a reload changes only the ACL (reload.go)
	acl      *authz.Holder  // the ACL in force
	metrics  *metrics.Metrics
	signing  *signing
	store    store.Store
	tokens   *apitoken.Tokens // API tokens; their last-used times are flushed on Close
	backends backends         // the user backends (users.backends)
	reuse    *grant.Reuse     // tokens kept for reuse (token.reuse_window); nil: off
	forget   func()           // forgets reused tokens and gateway decisions
	// federation trusts identity tokens (federation.issuers); nil: none.
	federation *federation.Federation
	users      accounts.Users // their users, as the accounts service sees them
	accounts   *accounts.Service
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// parts are what newApp loads before it starts anything.
type parts struct {
	acl        *authz.Holder
	proxies    []netip.Prefix
	backends   backends
	reuse      *grant.Reuse
	store      store.Store
	signing    *signing
	engineKey  engine.Key             // nil when the Engine API is off
	federation *federation.Federation // nil when no issuer is trusted
	decisions  *gateway.Cache         // the gateway's decisions; nil when off
	// forget forgets every grant remembered (reused tokens, gateway
	// decisions): what ends a credential or changes a policy calls it.
	forget func()
}

// loadParts compiles and loads everything the configuration names; the
// store is closed again if a later part fails.
func loadParts(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*parts, error) {
	var p parts
	acl, err := authz.Compile(cfg.ACL)
	if err != nil {
		return nil, err
	}
	p.acl = authz.NewHolder(acl)
	if p.federation, err = loadFederation(cfg, p.acl); err != nil {
		return nil, err
	}
	if p.proxies, err = cfg.Server.Proxies(); err != nil {
		return nil, err
	}
	if p.backends, err = loadBackends(cfg, logger); err != nil {
		return nil, err
	}
	if p.store, err = openStore(ctx, cfg.Store); err != nil {
		return nil, err
	}
	warnExposedStore(cfg.Store, logger)
	if p.signing, err = newSigning(ctx, cfg, p.store, logger); err != nil {
		p.store.Close()
		return nil, err
	}
	if p.engineKey, err = loadEngineKey(cfg.Engine, p.signing.holder); err != nil {
		p.store.Close()
		return nil, err
	}
	return &p, nil
}

// newApp builds the server from the configuration. Background work (the
// key-ring sync, the htpasswd watcher, the refresh-token purge, the audit
// writer, the API-token last-used flusher) stops with Close.
func newApp(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*app, error) {
	p, err := loadParts(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	// Metrics live in a registry of our own, served at /metrics; the
	// packages doing the work report through hooks, never import Prometheus.
	m := metrics.New(metrics.NewRegistry())
	m.SetSigningKey(signingKeyInfo(p.signing, cfg.Keys.PrivateKey))
	m.ConfigReloaded(true) // loaded and applied at start
	p.store = m.InstrumentStore(p.store)
	p.backends.observe(m)
	p.reuse = grant.NewReuse(cfg.Token.ReuseWindow, cfg.Token.ReuseSize)
	if cfg.Gateway.Enabled {
		p.decisions = gateway.NewCache(cfg.Gateway.CacheTTL, credentialCacheSize)
	}
	p.forget = func() { p.reuse.Clear(); p.decisions.Clear() }
	// The background work (the audit writer above all) stops in Close,
	// after the server has let its last requests finish, not when ctx ends
	// (a signal): those requests are still audited.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// The purge, the audit writer (which bound their own calls) and Close
	// use the store as it is; everything else, on the request path, with
	// every call bounded.
	a := &app{cfg: cfg, acl: p.acl, metrics: m, signing: p.signing, store: p.store, cancel: cancel,
		backends: p.backends, reuse: p.reuse, federation: p.federation, forget: p.forget}
	recorder := newRecorder(cfg.Audit, p.store, logger)
	m.ObserveAudit(recorder)
	p.store = store.WithTimeout(p.store, storeCallTimeout)
	auth := authn.NewCache(p.backends.chain(), cfg.Users.CacheTTL, credentialCacheSize)
	auth.Observe = m.CredentialCache
	a.users = p.backends.directory(oidcUsers(cfg, p.store)...)
	a.accounts = newAccounts(cfg, p, a.users, recorder, logger)
	warnShadowedUser(ctx, p.federation, a.users, logger)
	if cfg.Gateway.Enabled && len(p.proxies) == 0 {
		logger.Warn("gateway.enabled without server.trusted_proxies: the X-Original-* and X-Forwarded-* headers of " +
			"nginx and Traefik are not believed, so only Envoy's form (/auth/forward/v2/…) is answered; list the proxy's address")
	}
	a.tokens = newAPITokens(cfg, p.store, a.accounts, recorder, logger)
	a.tokens.Revoked = p.forget
	ui, err := newUI(cfg, p, a.accounts.Authenticator(auth), a.accounts, a.tokens)
	if err != nil {
		cancel()
		p.store.Close()
		return nil, err
	}
	a.start(ctx, cfg, m, recorder, logger)
	opts := serverOptions(cfg, p, m, auth, a.tokens, a.accounts, recorder, logger)
	opts.UI = ui
	a.handler = server.New(opts)
	return a, nil
}

// newRecorder is the audit recorder of the audit section: events wait for
// a store that is away in memory (audit.buffer), then in the spool file
// (audit.spool_file, up to audit.spool_max_bytes).
func newRecorder(c config.Audit, st store.Audit, logger *slog.Logger) *audit.Recorder {
	return audit.NewRecorder(st, logger, audit.WithBuffer(c.Buffer), audit.WithSpool(c.SpoolFile),
		audit.WithSpoolMax(c.SpoolMaxBytes))
}

// newAccounts is the account service of the configuration, over users
// (the directory of the user backends and the UI's providers). The user
// backends tell it when users come, go or change their password.
func newAccounts(cfg *config.Config, p *parts, users accounts.Users, recorder *audit.Recorder,
	logger *slog.Logger) *accounts.Service {
	return &accounts.Service{Store: p.store, Users: users, Admins: cfg.Users.Admins, Audit: recorder,
		Logger: logger, CacheTTL: cfg.Users.AccountCacheTTL, FileVersion: p.backends.version(), Changed: p.forget, Sessions: p.store}
}

// fileTime is path's modification time, or the zero time.
func fileTime(path string) time.Time {
	if fi, err := os.Stat(path); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}

// start runs the background work until ctx ends; Close waits for it.
func (a *app) start(ctx context.Context, cfg *config.Config, m *metrics.Metrics, recorder *audit.Recorder, logger *slog.Logger) {
	a.wg.Go(func() {
		a.signing.run(ctx, cfg.Keys.Ring.SyncEvery, func() {
			a.forget() // a new active key: tokens of the old one are not reused
			m.SetSigningKey(signingKeyInfo(a.signing, ""))
		})
	})
	a.backends.start(ctx, a)
	a.wg.Go(func() { purge(ctx, a.store, cfg.Audit.Retention, logger) })
	a.wg.Go(func() { recorder.Run(ctx) })
	a.wg.Go(func() { a.tokens.Run(ctx) })
}

// newAPITokens is the API-token service of the configuration.
func newAPITokens(cfg *config.Config, st store.Store, accts *accounts.Service, recorder *audit.Recorder,
	logger *slog.Logger) *apitoken.Tokens {
	return &apitoken.Tokens{
		Store:    st,
		Accounts: accts,
		Limits: apitoken.Limits{
			DefaultTTLDays:   cfg.APITokens.DefaultTTLDays,
			MaxTTLDays:       cfg.APITokens.MaxTTLDays,
			MaxTTLDaysByRole: cfg.APITokens.MaxTTLDaysByRole,
			MaxPerUser:       cfg.APITokens.MaxPerUser,
		},
		Logger: logger,
		Audit:  recorder,
	}
}

// serverOptions wires the endpoints to the services. Every identity a
// credential vouches for passes the accounts service (accts.Authenticator):
// its account must live, be enabled and be the one the credential was
// issued to.
func serverOptions(cfg *config.Config, p *parts, m *metrics.Metrics, auth *authn.Cache, tokens *apitoken.Tokens,
	accts *accounts.Service, recorder *audit.Recorder, logger *slog.Logger) server.Options {
	svc := &grant.Service{
		Audit:    recorder,
		Authz:    p.acl,
		Minter:   &token.Minter{Issuer: cfg.Token.Issuer, TTL: cfg.Token.Expiration, Signer: p.signing.holder},
		Refresh:  &refresh.Tokens{Store: p.store, TTL: cfg.Token.RefreshExpiration},
		Accounts: accts,
		Services: cfg.Token.Services,
		Reuse:    p.reuse,

		Workloads: readmitter(p.federation),
	}
	eng := engineService(cfg, p.engineKey, accts, tokens, recorder, p.store)
	if eng != nil {
		eng.Workloads = workloads(p.federation)
	}
	// API tokens first: they are never cached (a revocation applies at
	// once); the credential cache wraps only the password users.
	users := accts.Authenticator(authn.Chain{tokens, auth})
	callers := withWorkloads(p.federation, users)
	limits := serverLimits(cfg.Limits)
	limits.SharedNames = sharedNames(p.federation)
	intro := introspection(cfg, svc, eng, tokens, accts, p.store, recorder, p.signing.holder)
	return server.Options{
		Grant: svc, Logger: logger, Realm: cfg.Token.Issuer,
		Gateway: newGateway(cfg, svc, callers, intro, p.decisions),
		Authn:   callers, Workloads: workloads(p.federation),
		APITokens: tokens, Passwords: accts.Authenticator(auth), Engine: eng, Accounts: accts,
		Introspection:      intro,
		IntrospectionAuthn: introspectionCallers(eng, users),
		TrustedProxies:     p.proxies, Limits: limits,
		Metrics: m, RateLimited: m.RateLimited, Ready: readyChecks(p.store, p.signing, p.backends),
		Discovery: server.Discovery{Issuer: cfg.Token.Issuer, PublicURL: cfg.Server.PublicURL,
			JWKS: func() []byte { return p.signing.holder.Load().JWKS() }},
	}
}

// introspectionCallers authenticates the callers of introspection and
// revocation: registered clients (resource servers, RFC 7662 §2.1), then
// users.
func introspectionCallers(eng *engine.Service, users authn.Authenticator) authn.Authenticator {
	if eng == nil || eng.Registered == nil {
		return users
	}
	return authn.Chain{eng.Registered, users}
}

// loadEngineKey returns the key of engine tokens, or nil when the Engine
// API is off: HS256 over engine.hmac_secret_file (read like a key file:
// mode 0600 or stricter, at least 32 bytes), or the signing key of
// registry tokens.
func loadEngineKey(c config.Engine, signing *keys.Holder) (engine.Key, error) {
	switch {
	case !c.Enabled:
		return nil, nil
	case c.Signing == "keys":
		return signing, nil
	}
	key, err := keys.Load(c.HMACSecretFile, "", keys.Options{Algorithm: "HS256"})
	if err != nil {
		return nil, fmt.Errorf("engine.hmac_secret_file: %w", err)
	}
	return key, nil
}

// engineService is the Engine API of the engine section, or nil when it is
// off (key nil), with client_credentials for the clients of `tollgate
// clients`.
func engineService(cfg *config.Config, key engine.Key, accts *accounts.Service, tokens *apitoken.Tokens,
	audit grant.Auditor, st store.Store) *engine.Service {
	if key == nil {
		return nil
	}
	e := cfg.Engine
	eng := &engine.Service{
		Tokens:    &engine.Tokens{Issuer: e.Issuer, Audience: e.Audience, TTL: e.Expiration, Key: key},
		Clients:   e.PublicClients,
		Accounts:  accts,
		Listing:   st,
		APITokens: tokens,
		Audit:     audit,
		Refresh:   &refresh.Families{Store: st, TTL: e.RefreshExpiration},
	}
	eng.Registered = client.New(st, cfg.Users.BcryptCost)
	return eng
}

// readyChecks are what GET /ready checks: the store answers a ping (within
// the endpoint's deadline; SQLite's also reads the file's header, the
// schema and a row, so that a corrupt file fails it), a signing key is
// loaded, and each user backend's own check (the htpasswd file loaded,
// without rejected lines).
func readyChecks(st store.Store, sig *signing, users backends) []server.ReadyCheck {
	return append([]server.ReadyCheck{
		{Name: "store", Check: st.Ping},
		{Name: "signing_key", Check: func(context.Context) error {
			if r := sig.holder.Load(); r == nil || r.Active() == nil {
				return errors.New("no signing key loaded")
			}
			return nil
		}},
	}, users.readyChecks()...)
}

// htpasswdProblems is the readiness error of rejected htpasswd lines:
// their line numbers and reasons, which name no user and show no hash, so
// /ready may say them; nil when there are none.
func htpasswdProblems(problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	reasons := make([]string, 0, len(problems))
	for _, p := range problems {
		var pe *htpasswd.ParseError
		if errors.As(p, &pe) {
			reasons = append(reasons, fmt.Sprintf("line %d: %s", pe.Line, pe.Reason))
		}
	}
	return server.PublicReason(fmt.Sprintf("%d line(s) rejected (those users cannot log in): %s",
		len(problems), strings.Join(reasons, "; ")))
}

// keyCreated is when the signing key was made, as far as can be known: a
// key file records no creation time, so this is its certificate's
// NotBefore when there is one, else the key file's modification time (the
// zero time if neither can be read).
func keyCreated(key *keys.Key, path string) time.Time {
	if path == "" {
		return time.Time{}
	}
	if chain := key.Chain(); len(chain) > 0 {
		return chain[0].NotBefore
	}
	if fi, err := os.Stat(path); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}

// serverLimits are the failure budgets of the limits section.
func serverLimits(l config.Limits) server.Limits {
	return server.Limits{
		PerUser:    ratelimit.Budget{PerMinute: l.FailuresPerMinute, Burst: l.FailureBurst},
		PerIP:      ratelimit.Budget{PerMinute: l.IPFailuresPerMinute, Burst: l.IPFailureBurst},
		MaxTracked: l.MaxTracked,
	}
}

// Reload re-reads what can change without a restart (SIGHUP): the key
// ring, the ACL of the configuration (reloadConfig) and the htpasswd file.
// Each part that fails keeps what was in force: a configuration that does
// not validate keeps the ACL, a file that does not parse the previous
// users. TLS certificates are re-read on their own when they change.
func (a *app) Reload(ctx context.Context, logger *slog.Logger) {
	if err := a.signing.sync(ctx); err != nil {
		logger.Error("key ring sync on SIGHUP failed; still signing with the ring loaded", "error", err)
	}
	a.reloadConfig(logger)
	a.backends.reload(logger)
}

// Close stops background work, waits for it, and closes the store.
func (a *app) Close() error {
	a.cancel()
	a.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	flushErr := a.tokens.Flush(ctx) // uses after Run's last flush, before the store goes
	a.backends.stop()
	return errors.Join(flushErr, a.store.Close())
}

func loadKey(c config.Keys, logger *slog.Logger) (*keys.Key, error) {
	if c.HMACSecret != "" {
		return keys.NewHMACKey([]byte(c.HMACSecret))
	}
	key, err := keys.Load(c.PrivateKey, c.Certificate, keys.Options{Algorithm: c.Algorithm, KidFormat: c.KidFormat, X5C: c.X5C})
	if err != nil {
		return nil, err
	}
	if key.ThumbprintMismatch() && !key.SendsX5C() && c.KidFormat != keys.KidLibtrust {
		logger.Warn("distribution 3.x computes another kid for this EC key (a coordinate has a leading zero byte); "+
			"configure keys.certificate (and keys.x5c auto or always) so tokens carry x5c, "+
			"list the key in the registry's jwks file, or generate a new key", "key", c.PrivateKey)
	}
	return key, nil
}

// operatorStore loads the configuration of --config and opens its store,
// for the commands that read or change the store directly; the caller
// closes it.
func operatorStore(cmd *cobra.Command) (*config.Config, store.Store, error) {
	cfg, err := loadConfig(operatorConfigPath(cmd))
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(cmd.Context(), cfg.Store)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

func openStore(ctx context.Context, c config.Store) (store.Store, error) {
	switch c.Type {
	case "sqlite":
		return sqlite.Open(ctx, c.Path)
	case "postgres":
		// The DSN may hold a password; postgres.Open's errors never quote it.
		return postgres.Open(ctx, string(c.DSN))
	}
	return nil, fmt.Errorf("store.type %q is not supported", c.Type)
}

// warnExposedStore logs a warning naming each file of a SQLite store that
// group or others may access: Tollgate creates them private, but an older
// database keeps its mode, and it holds token hashes and the audit log.
func warnExposedStore(c config.Store, logger *slog.Logger) {
	if c.Type != "sqlite" {
		return
	}
	exposed, err := sqlite.ExposedFiles(c.Path)
	if err != nil {
		logger.Warn("cannot check the modes of the SQLite files", "error", err)
	}
	for _, f := range exposed {
		logger.Warn("SQLite file is readable by group or others; chmod 600 it", "file", f.Path, "mode", fmt.Sprintf("%04o", f.Mode))
	}
}

func watchUsers(ctx context.Context, users *htpasswd.File, logger *slog.Logger) {
	if err := users.Watch(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("htpasswd watch stopped; changes to the file need a restart", "error", err)
	}
}

// usedRefreshKept is how long a used engine refresh token is kept, so that
// presenting it again is seen as reuse (and revokes its family).
const usedRefreshKept = 24 * time.Hour

// purge deletes, every purgeEvery, what the store need not keep: expired
// Docker refresh tokens, engine refresh tokens that expired, were revoked
// or were used long ago, and audit events older than retention.
func purge(ctx context.Context, st store.Store, retention time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(purgeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			purgeOnce(ctx, st, retention, time.Now(), logger)
		}
	}
}

func purgeOnce(ctx context.Context, st store.Store, retention time.Duration, now time.Time, logger *slog.Logger) {
	steps := []struct {
		what string
		run  func() (int64, error)
	}{
		{"expired refresh tokens", func() (int64, error) { return st.DeleteExpiredRefreshTokens(ctx, now) }},
		{"engine refresh tokens", func() (int64, error) { return st.DeleteEngineRefreshTokens(ctx, now, now.Add(-usedRefreshKept)) }},
		{"audit events", func() (int64, error) { return st.DeleteAuditBefore(ctx, now.Add(-retention)) }},
		// Sessions past their absolute timeout, or idle longer than the
		// longest ui.session_idle allowed (each is refused sooner anyway).
		{"web UI sessions", func() (int64, error) { return st.DeleteExpiredSessions(ctx, now.Add(-config.MaxSessionIdle), now) }},
	}
	for _, step := range steps {
		if n, err := step.run(); err != nil {
			logger.Error("purge "+step.what, "error", err)
		} else if n > 0 {
			logger.Info("purged "+step.what, "count", n)
		}
	}
}
