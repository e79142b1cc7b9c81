// Package introspect answers what a token is and revokes the ones that can
// be revoked: token introspection (RFC 7662) and revocation (RFC 7009) over
// Tollgate's four kinds of token: registry and engine access tokens (JWTs
// signed by us), Docker identity tokens (pkg/refresh) and engine refresh
// tokens (pkg/engine). A caller sees only its own tokens unless it is an
// admin. It knows no HTTP; server/introspect.go speaks the protocol.
package introspect
