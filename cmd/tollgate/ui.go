package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/authn/oidc"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/session"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/server"
)

// newUI is the web UI of the ui section, or nil when it is off: sessions
// in the store, the password users of every backend (through the
// credential cache and the accounts), the OpenID Connect providers of
// ui.oidc, and the key ring with its rotation when keys.ring is on.
func newUI(cfg *config.Config, p *parts, passwords authn.Authenticator, accts *accounts.Service,
	tokens *apitoken.Tokens) (*server.UI, error) {
	if !cfg.UI.Enabled {
		return nil, nil
	}
	u := &server.UI{
		Sessions:  &session.Manager{Store: p.store, Idle: cfg.UI.SessionIdle, Absolute: cfg.UI.SessionAbsolute},
		Passwords: passwords, Accounts: accts, APITokens: tokens, ACL: p.acl, Audit: p.store,
		Keys: p.signing.holder.Load, Registry: cfg.UI.Registry,
		SecureCookies: strings.HasPrefix(cfg.Server.PublicURL, "https://"),
	}
	if u.Registry == "" && len(cfg.Token.Services) > 0 {
		u.Registry = cfg.Token.Services[0]
	}
	if p.signing.syncer != nil {
		u.Rotate = func(ctx context.Context) error { return p.signing.syncer.Rotate(ctx) }
	}
	if path := cfg.UI.ACLTests; path != "" {
		u.ACLTests = func() string { return aclReport(p.acl.Load(), path) }
	}
	for i, pc := range cfg.UI.OIDC {
		redirect := strings.TrimSuffix(cfg.Server.PublicURL, "/") + "/ui/oidc/" + pc.Name + "/callback"
		prov, err := oidc.New(pc, redirect, oidc.Options{})
		if err != nil {
			return nil, fmt.Errorf("ui.oidc[%d]: %w", i, err)
		}
		u.Providers = append(u.Providers, prov)
	}
	return u, nil
}

// oidcUsers are the users the OpenID Connect providers of ui.oidc sign
// in, for the backends' directory: a provider keeps no list of its users,
// so they are the accounts it made (accounts.SourceUsers), while it stays
// configured; none when the UI is off. Their stored credentials reach no
// group rule of the ACL (the groups are known at sign-in only).
func oidcUsers(cfg *config.Config, st store.Accounts) []accounts.Users {
	if !cfg.UI.Enabled || len(cfg.UI.OIDC) == 0 {
		return nil
	}
	sources := make([]string, len(cfg.UI.OIDC))
	for i, pc := range cfg.UI.OIDC {
		sources[i] = oidc.SourcePrefix + pc.Name
	}
	return []accounts.Users{accounts.SourceUsers{Store: st, Sources: sources}}
}

// aclReport runs the acl test table at path against acl, as `tollgate acl
// test` prints it.
func aclReport(acl *authz.ACL, path string) string {
	cases, err := readACLCases(path, len(acl.Rules()))
	if err != nil {
		return "the table cannot be used: " + err.Error()
	}
	var b bytes.Buffer
	_ = runACLCases(&b, acl, cases) // a failed case is in the report
	return b.String()
}
