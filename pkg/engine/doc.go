// Package engine issues and verifies the access tokens of the Engine OAuth2
// API (the token endpoint and account calls of Anchore Engine's API,
// /v1/oauth/token and /v1/account): the password grant of RFC 6749 §4.3
// yields a JWT whose claims are iss, sub, aud (when configured), iat, nbf,
// exp, jti and scope, signed with HS256 over a shared secret or with
// Tollgate's signing key. It also answers who an account is: admin or user.
// Clients (clients.go) serves the client_credentials grant of RFC 6749 §4.4
// for registered confidential clients: sub is the client, aud and scope
// within what it is registered for.
// It knows no HTTP; server/engine.go speaks the protocol.
package engine
