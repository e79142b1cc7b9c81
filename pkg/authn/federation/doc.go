// Package federation is the authenticator backend of CI and Kubernetes
// workloads: it trades an OIDC identity token that a trusted issuer signed
// (GitHub Actions, GitLab CI, Buildkite, CircleCI, a cluster's projected
// service-account token) for an Identity of kind workload, so that a
// pipeline pushes with no stored secret.
//
// Trust is configured per issuer (Config): the audiences its tokens must
// name, where its keys are (OIDC discovery at the issuer, a JWKS URL, or a
// JWKS file), the algorithms and the oldest iat accepted, and rules, the
// first of which whose claim globs all match decides: it names the
// workload (a subject template over the claims). Keys are fetched over
// HTTPS with bounded timeouts and cached by pkg/verify (Cache-Control, one
// rate-limited refetch on an unknown kid); an issuer that does not answer
// is authn.ErrUnavailable, never a wrong password.
//
// Claim values are checked before use: one the ACL reads (${claims:NAME})
// must be a plain name segment (authz.UnsafeLiteral), one a subject
// template reads may hold '/' but nothing else of the kind. A value that
// fails refuses the token. A subject starts with a literal prefix holding
// ':' ("ci:github:${repository}"), which no user name has, so a workload is
// never taken for a user by the ACL.
package federation
