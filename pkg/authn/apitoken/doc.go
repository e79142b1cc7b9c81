// Package apitoken provides revocable API tokens (NORA style): long-lived
// secrets that a user mints with their password, gives a role (read, write
// or admin) and uses in place of that password — `docker login -u token -p
// tg_…`, or as the Basic password at GET /oauth2/token, or as the password
// of the OAuth2 password grant.
//
// # Token format
//
// A token is 52 ASCII characters:
//
//	tg_ | 43 characters: base62 of 32 bytes from crypto/rand | 6 characters: base62 of CRC-32 (IEEE) of those 43
//
// The base62 alphabet is 0-9, a-z, A-Z; both fields are big-endian numbers,
// left-padded with '0' to their fixed width. The 32 random bytes carry the
// 256 bits of secret; the checksum carries none. It lets a secret scanner
// recognise a Tollgate token (prefix, length, alphabet and a valid
// checksum: one string in 2^32 passes by chance) and lets LooksLike reject a
// mistyped token offline: CRC-32 detects every change confined to 4
// consecutive bytes, so every one-character typo is caught before the store
// is asked.
//
// # Storage and verification
//
// Only the hex SHA-256 of a token is stored (store.APIToken.Hash); the token
// itself is shown once, at creation. Users see a token as its hash prefix,
// the first 16 hex characters of that hash, which is also how they revoke it.
//
// Verification is never cached: every Authenticate looks the hash up in the
// store (one indexed read), so an expired or revoked token is refused at
// once on every replica. The token's owner must still exist as a password
// user (authn.Lookup). The identity it yields carries the token's role, which
// caps whatever the owner's ACL grants (authz.LimitByRole).
//
// Last-used times are not written per request: Authenticate notes them in
// memory and Flush writes them in one batch (store.APITokens.TouchAPITokens);
// Run flushes every FlushEvery (30 s by default) and once more when it stops.
package apitoken
