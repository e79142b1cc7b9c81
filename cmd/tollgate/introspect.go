package main

import (
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/engine"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/introspect"
)

// introspection is what /oauth2/revoke and /oauth2/introspect serve:
// Docker identity tokens (workloads' checked against their trust rules),
// the Engine API's tokens (eng may be nil) and
// registry tokens, verified with the current key ring (every key in it,
// whatever its state, as ring.Lookup gives them).
func introspection(cfg *config.Config, svc *grant.Service, eng *engine.Service, tokens *apitoken.Tokens,
	accts *accounts.Service, clients introspect.ClientDirectory, recorder introspect.Auditor, holder *keys.Holder) *introspect.Service {
	return &introspect.Service{
		Docker:    svc.Refresh,
		Workloads: svc.Workloads,
		Engine:    eng,
		APITokens: tokens,
		Accounts:  accts,
		Clients:   clients,
		Audit:     recorder,
		Issuer:    cfg.Token.Issuer,
		Registry: func(kid string) (string, any, bool) {
			r := holder.Load()
			if r == nil {
				return "", nil, false
			}
			k, ok := r.Lookup(kid)
			if !ok {
				return "", nil, false
			}
			return k.Algorithm(), k.VerificationKey(), true
		},
	}
}
