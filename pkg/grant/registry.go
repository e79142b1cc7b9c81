package grant

import "github.com/tollgate/tollgate/pkg/authn"

// RegistryGrants are the tables of /oauth2/token, the Docker dialect over
// s (the Registry claims profile): GET's one grant, and POST's password and
// refresh_token grants (distribution oauth.md) for public clients, and
// the token exchange of identity tokens (RFC 8693) when workloads is not
// nil. users authenticates passwords and API tokens.
func RegistryGrants(s *Service, users authn.Authenticator, workloads Workloads) (get, post Table) {
	get = Table{{Type: TypeGet, Handler: Get{Authn: users}}}
	post = Table{
		{Type: TypePassword, Auth: PublicAuth, Handler: Password{Authn: users}},
		{Type: TypeRefreshToken, Auth: PublicAuth, Handler: DockerRefresh{Service: s}},
	}
	if workloads != nil {
		post = append(post, Grant{Type: TypeTokenExchange, Auth: PublicAuth, Audit: "token_exchange",
			Handler: TokenExchange{Workloads: workloads}})
	}
	return get, post
}
