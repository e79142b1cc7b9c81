// Package ldap is the directory user backend: people kept in OpenLDAP or
// Active Directory log in with their directory password, and their groups
// and chosen attributes reach the ACL (group:, ${labels:NAME}).
//
// A login is: a search, bound as the search account, for the one entry
// that user_filter finds for the user name (escaped per RFC 4515); a bind
// as that entry with the password (an empty password is refused before
// any bind: the directory would take it for an anonymous bind and accept
// it); then the user's groups, by a search (group_filter, "(member={dn})")
// or from an attribute of the entry (memberOf). The result is an Identity
// of kind user, source "ldap".
//
// Connections are pooled (pool_size for searches, as many for user binds),
// every request is bounded by timeout, and a connection that fails is
// dropped and dialled again. A directory that does not answer is
// authn.ErrUnavailable — 503 or temporarily_unavailable with Retry-After,
// never "wrong password" — and Ready reports it. The verified-credential
// cache in front of the user backends (users.cache_ttl) keeps a pull storm
// from becoming a bind storm; a password changed in the directory is
// therefore refused within that TTL.
package ldap
