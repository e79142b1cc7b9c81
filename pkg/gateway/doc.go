// Package gateway decides forward-auth requests: a reverse proxy (nginx
// auth_request, Traefik ForwardAuth, Envoy ext_authz) in front of a
// registry that runs without auth asks, for each request, whether its
// credentials may do it. Route maps the distribution API to the scopes a
// request needs; Gateway authenticates the credentials through the grant
// pipeline (users, API tokens, Tollgate tokens, budgets), authorizes the
// scopes with the ACL, and remembers each decision briefly so that a
// layer upload's many requests cost one check.
package gateway
