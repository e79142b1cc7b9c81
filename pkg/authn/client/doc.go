// Package client is the registered clients: the authenticator backend of
// confidential clients (Registry: client_id and secret, bcrypt, identities
// of kind client), and the rules about OAuth2 client names that the token
// endpoints and `tollgate clients` share, so that what the server accepts
// as a client_id and what an operator may register cannot disagree.
//
//   - [CheckID] is the syntax of any client_id a request carries (RFC 6749
//     Appendix A.1: printable ASCII, here at most [MaxIDLen] bytes).
//   - [CheckName] is the stricter rule for the name of a registered
//     (confidential) client: the characters HTTP Basic's form encoding
//     leaves as is (RFC 6749 §2.3.1), safe in ACL patterns, and not shaped
//     like a UUID.
//   - [CheckNotUser] and [CheckNotClient] keep clients and users in
//     separate namespaces: a client's tokens carry its name as sub, so no
//     client may be named like a user, in the htpasswd file or in the
//     store's accounts, nor a user like a client.
package client
