package main

import (
	"context"
	"log/slog"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/federation"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/grant"
)

// loadFederation is the federation of identity tokens the configuration
// trusts, or nil when it trusts no issuer. acl is the ACL in force, whose
// ${claims:NAME} values it checks.
func loadFederation(cfg *config.Config, acl *authz.Holder) (*federation.Federation, error) {
	if len(cfg.Federation.Issuers) == 0 {
		return nil, nil
	}
	return federation.New(cfg.Federation, federation.Options{ACLClaims: acl.Claims})
}

// withWorkloads puts the federation in front of users: it answers only
// for its user name (docker login -u oidc), and is neither cached nor an
// account (an identity token is checked afresh each time, and its
// expiry holds).
func withWorkloads(fed *federation.Federation, users authn.Authenticator) authn.Authenticator {
	if fed == nil {
		return users
	}
	return authn.Chain{fed, users}
}

// workloads is fed as the grants see it: nil, not a typed nil, when there
// is none, so the token exchange is offered only when issuers are trusted.
func workloads(fed *federation.Federation) grant.Workloads {
	if fed == nil {
		return nil
	}
	return fed
}

// readmitter is fed for refresh tokens issued to workloads; nil when none.
func readmitter(fed *federation.Federation) grant.Readmitter {
	if fed == nil {
		return nil
	}
	return fed
}

// sharedNames are the login names charged to the address alone.
func sharedNames(fed *federation.Federation) []string {
	if fed == nil {
		return nil
	}
	return []string{fed.Username()}
}

// warnShadowedUser warns when a user has the federation's user name: at
// the token endpoints that name is the federation's, so that user's
// password no longer logs in there.
func warnShadowedUser(ctx context.Context, fed *federation.Federation, users accounts.Users, logger *slog.Logger) {
	if fed == nil || users == nil {
		return
	}
	if ok, err := users.Exists(ctx, fed.Username()); err == nil && ok {
		logger.Warn("a user has the name of federation.username: at the token endpoints it stands for identity tokens, "+
			"and that user's password is refused there; rename the user or set another federation.username",
			"user", fed.Username())
	}
}
