// Package authn answers "who is asking?" for a token request: it turns a
// username and a Secret into an Identity, the one value every caller
// becomes (a user, an API token, a registered client, a CI workload): its
// kind, stable ID, name, role cap, groups and labels, and the backend that
// vouched for it.
//
// A token request flows parse → authenticate → authorize → mint → respond;
// this package is the authenticate step. It defines the Authenticator and
// Lookup interfaces, the two sentinel errors that let backends be chained
// (ErrNoSuchUser falls through, ErrBadCredentials stops), a Chain of
// backends, and a Cache of verified credentials so that registries, which ask
// for a token on nearly every pull, do not pay a bcrypt comparison each time.
//
// Backends live in sub-packages (htpasswd, apitoken, client), each a
// constructor and a config section; cmd/tollgate builds users.backends
// into one Chain.
package authn
