package grant

import "github.com/tollgate/tollgate/pkg/authn"

// RegistryGrants are the tables of /oauth2/token, the Docker dialect over
// s (the Registry claims profile): GET's one grant, and POST's password and
// refresh_token grants (distribution oauth.md) for public clients. users
// authenticates passwords and API tokens.
func RegistryGrants(s *Service, users authn.Authenticator) (get, post Table) {
	get = Table{{Type: TypeGet, Handler: Get{Authn: users}}}
	post = Table{
		{Type: TypePassword, Auth: PublicAuth, Handler: Password{Authn: users}},
		{Type: TypeRefreshToken, Auth: PublicAuth, Handler: DockerRefresh{Service: s}},
	}
	return get, post
}
