// Package oidc signs people in to the web UI with an OpenID Provider
// ("Sign in with <provider>"): the authorization code flow of OpenID
// Connect Core 1.0 §3.1 with PKCE (RFC 7636, S256), its state and nonce
// checked, as a confidential client.
//
// A Provider is one configured OpenID Provider (ProviderConfig, the
// entries of ui.oidc). Begin starts a sign-in: the URL to send the browser
// to, and a Pending (state, nonce, PKCE verifier: 256 random bits each)
// that the UI keeps until the browser comes back. Finish completes it with
// the state and code of the callback: the code is exchanged at the token
// endpoint with the verifier, and the ID token's signature (the provider's
// JWKS), issuer, audience, expiry and nonce are checked before its claims
// name the user (an Identity of kind user, Source "oidc:<name>", with the
// groups and email the provider vouches for). The package knows no HTTP
// handler: the UI calls it from its own.
//
// Discovery (OpenID Connect Discovery 1.0 §4) happens at first use, not in
// New: a provider that is down when Tollgate starts does not stop it. A
// provider that cannot be reached is authn.ErrUnavailable, tried again at
// most every few seconds; a sign-in that is refused (wrong state, a code
// used twice, a nonce that does not match, a bad ID token, a sign-in left
// too long) is authn.ErrBadCredentials. Both come as a *Refusal whose
// Reason can be shown to the user: it holds no secret and no token.
//
// go-oidc does discovery and checks ID tokens, x/oauth2 builds the
// authorization URL and exchanges the code; oidctest is an OpenID Provider
// for tests.
package oidc
