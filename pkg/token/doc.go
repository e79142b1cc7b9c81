// Package token mints Tollgate's JWTs in two claims profiles: Registry
// (the Docker token protocol: sub is the account name, access the granted
// scopes; distribution docs/content/spec/auth/jwt.md and token.md) and
// Engine (Anchore Engine's API: sub is the account ID or the client, scope
// the granted OAuth2 scopes). Both carry the identity of the caller in one
// private claim, "tollgate" (verify.IdentityClaim), so that a read-only API
// token's cap is never lost on the way to a service.
package token
