// Package session keeps the signed-in browser sessions of the web UI on
// the server, in the store, so that every replica knows them and signing
// out ends them everywhere at once (OWASP Session Management Cheat Sheet:
// server-side state, session IDs of at least 64 bits of entropy, idle and
// absolute timeouts).
//
// A session ID is "tgs_" and 256 random bits, base64url: it goes into the
// cookie once and only its SHA-256 is stored, as with API and refresh
// tokens. Each session has its own CSRF token, which forms carry back and
// CheckCSRF compares in constant time. The package knows no HTTP: the
// server sets and reads the cookie.
package session
