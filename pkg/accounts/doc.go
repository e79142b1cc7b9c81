// Package accounts is the life of a user's account: what Tollgate keeps
// about a user besides the password, and how everything the user holds
// ends.
//
// An account is created with its user (the first time a password backend
// or the UI's OpenID Connect provider vouches for the name, `tollgate users
// add`, or a reload of the htpasswd file that adds the name) and gets a
// random UUID that is never reused. It remembers the backend it was made
// for (its Source: "htpasswd", "ldap", "oidc:corp"), whatever vouches for
// the name later. A provider keeps no list of its users, so SourceUsers
// stands for one among the user backends: its users are the accounts it
// made, while it stays configured.
// Every stored credential (Docker identity token, engine refresh family,
// API token) records the ID it was issued to; engine access tokens carry it
// in `sub`. Admit checks, for every authenticated request, that the
// identity's account is still the one its credential was issued to, that
// it is enabled, that a refresh token's password is still the current one,
// and that an access token is not older than the account's last
// revoke-tokens. So:
//
//   - removing a user (`tollgate users remove`, or the name leaving the
//     htpasswd file) deletes the account and revokes what it held; adding
//     the name again makes a new account that nothing old is bound to;
//   - a new password ends the refresh tokens made under the old one (their
//     epoch no longer matches), whatever changed the file;
//   - disabling refuses the account's password, refresh tokens and API
//     tokens at once, and enabling it lets them work again;
//   - RevokeTokens ends chosen kinds of credential without knowing any.
//
// Stored credentials are checked against the store on every use. Password
// logins, which must keep working while the store is away, read the
// account through a short cache (CacheTTL) that falls back to the last
// known account when the store does not answer.
package accounts
