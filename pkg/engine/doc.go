// Package engine is the Engine OAuth2 API's dialect (Anchore Engine's
// /v1/oauth/token, /v1/account and /v1/accounts) over the one grant
// pipeline: its grant table (password, rotating refresh_token,
// client_credentials), its claims profile (pkg/token's Engine: iss, sub =
// the account ID or the client, aud when configured, iat, nbf, exp, jti,
// scope, username, and the identity claim), the verification of its
// tokens when they come back as Bearer credentials, and who an account is
// (admin or user). It knows no HTTP; server/engine.go speaks the protocol.
package engine
