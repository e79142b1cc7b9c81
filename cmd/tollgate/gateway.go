package main

import (
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/gateway"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/introspect"
)

// newGateway is the forward-auth gateway of the gateway section, or nil
// when it is off: the token endpoint's callers, Tollgate's own tokens
// (verified as introspection does), the ACL and audit of svc.
func newGateway(cfg *config.Config, svc *grant.Service, callers authn.Authenticator, intro *introspect.Service,
	decisions *gateway.Cache) *gateway.Gateway {
	if !cfg.Gateway.Enabled {
		return nil
	}
	service := cfg.Gateway.Service
	if service == "" && len(cfg.Token.Services) > 0 {
		service = cfg.Token.Services[0]
	}
	return &gateway.Gateway{Users: callers, Tokens: intro, Core: svc, Service: service, Cache: decisions}
}
