package main

import (
	"errors"
	"log/slog"
	"slices"

	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
)

// reloadableKeys are the keys a reload puts in force; every other key that
// changed needs a restart. federation.issuers is, when issuers were
// trusted at start (the token exchange is offered only then).
var reloadableKeys = []string{"acl"}

// federationKey is the key of the trust policies of identity tokens.
const federationKey = "federation.issuers"

// reloadConfig loads the configuration again the way it was loaded at
// start (the same file, or none, and the same environment), validates it
// and puts its ACL in force for the requests that start from then on.
// A configuration that does not load or validate changes nothing: every
// problem is logged, each naming its key or variable, and
// tollgate_config_last_reload_successful drops to 0. Other keys that
// changed are not applied; one warning names them.
func (a *app) reloadConfig(logger *slog.Logger) {
	src, ok := a.cfg.Source()
	if !ok {
		logger.Warn("configuration not reloaded: it was built in code, not loaded")
		return
	}
	cfg, acl, err := loadReloadable(src)
	if err != nil {
		a.metrics.ConfigReloaded(false)
		for _, problem := range reloadProblems(err) {
			logger.Error("configuration reload failed; keeping the running ACL", "config", src.String(), "problem", problem)
		}
		return
	}
	if a.federation != nil {
		if err := a.federation.Update(cfg.Federation); err != nil {
			a.metrics.ConfigReloaded(false)
			logger.Error("configuration reload failed; keeping the running ACL and trust policies", "config", src.String(),
				"problem", err.Error())
			return
		}
		logger.Info("trust policies reloaded", "issuers", len(cfg.Federation.Issuers))
	}
	a.acl.Store(acl)
	a.forget() // grants decided by the old ACL are not reused
	a.metrics.ConfigReloaded(true)
	logger.Info("acl reloaded", "rules", len(cfg.ACL), "config", src.String())
	if changed := a.needRestart(cfg); len(changed) > 0 {
		logger.Warn("configuration changed where a reload cannot apply it; restart to apply", "keys", changed)
	}
}

// loadReloadable loads and validates the configuration of src and
// compiles its ACL.
func loadReloadable(src config.Source) (*config.Config, *authz.ACL, error) {
	cfg, err := loadSource(src)
	if err != nil {
		return nil, nil, err
	}
	acl, err := authz.Compile(cfg.ACL) // Validate compiled it once already
	if err != nil {
		return nil, nil, err
	}
	return cfg, acl, nil
}

// needRestart lists the keys that differ between the running and the
// reloaded configuration and that a reload does not apply.
func (a *app) needRestart(reloaded *config.Config) []string {
	return slices.DeleteFunc(config.Changed(a.cfg, reloaded), func(key string) bool {
		return slices.Contains(reloadableKeys, key) || (key == federationKey && a.federation != nil)
	})
}

// reloadProblems splits a load or validation error into its problems:
// Validate's and the environment's list, the ACL compiler's joined errors,
// or the one error.
func reloadProblems(err error) []string {
	if problems := config.Problems(err); len(problems) > 0 {
		return problems
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range joined.Unwrap() {
		out = append(out, e.Error())
	}
	return out
}
