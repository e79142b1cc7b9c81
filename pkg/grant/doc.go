// Package grant is the one grant pipeline every token endpoint runs: parse
// (by the dialect in server/) → authenticate → authorize → mint → respond
// (by the dialect again).
//
// Each grant type is a Handler (the shape of ory/fosite's
// TokenEndpointHandler) that turns a request's credential into an
// authn.Identity: Get (the Docker token protocol's GET), Password,
// DockerRefresh (Docker identity tokens, which do not rotate),
// RotatingRefresh (the Engine API's, with reuse detection) and
// ClientCredentials. Handlers are registered in a Table, one line each;
// the table drives dispatch, the unsupported_grant_type text, discovery's
// grant_types_supported and the grant_type metric label.
//
// Around the handler the Pipeline does, once for every grant: the failure
// budgets and failed-login accounting (Authenticate, also used by the
// endpoints that only authenticate), then the Service: authorization by
// the ACL with the identity's role, groups and labels, minting in the
// Minter's claims profile with the identity claim, refresh tokens, audit
// and metrics. Refusals are *Error values whose codes are go-oauth2's RFC
// 6749 error values; each dialect renders them with one writer.
package grant
