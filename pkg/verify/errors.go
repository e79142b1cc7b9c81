package verify

import "errors"

// Errors returned by [Verifier.Verify] and [New]. Verify wraps them with
// detail; test for them with errors.Is.
//
// The claims (ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience) are checked
// only after the signature, so these four errors mean the signature was
// valid.
var (
	// ErrMalformed means the token is not a well-formed JWS compact
	// serialisation with a JSON header and claims, or lacks "exp".
	ErrMalformed = errors.New("malformed token")
	// ErrSignature means the signature does not match the token.
	ErrSignature = errors.New("invalid signature")
	// ErrAlgorithm means the token's alg is "none", not allowed, or does
	// not fit the type of the key it names (algorithm confusion).
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrExpired means exp lies further in the past than the leeway.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid means nbf lies further in the future than the leeway.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrIssuer means iss is not the expected issuer.
	ErrIssuer = errors.New("wrong issuer")
	// ErrAudience means aud does not name the expected audience.
	ErrAudience = errors.New("wrong audience")
	// ErrUnknownKey means no known key has the token's kid.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrKeysUnavailable means the JWKS could not be fetched and no key set
	// is known yet. It is the verifier's problem, not the token's.
	ErrKeysUnavailable = errors.New("verification keys unavailable")
	// ErrOptions means [Options] are unusable; New wraps it with every
	// problem found.
	ErrOptions = errors.New("invalid verify options")
)
