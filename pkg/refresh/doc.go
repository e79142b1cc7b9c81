// Package refresh issues and redeems the two kinds of refresh token, both
// opaque random strings kept only as SHA-256 hashes and bound to the
// account (and password epoch) they were issued to:
//
//   - Tokens: the Docker "identity tokens" of distribution oauth.md that
//     `docker login` stores and every client reuses. They do not rotate on
//     use and are not bound to a client_id (docker, crane and oras all reuse
//     the one docker login obtained).
//   - Families: the Engine API's tokens, which rotate on every use, are
//     bound to their client, and revoke their family when reused.
package refresh
