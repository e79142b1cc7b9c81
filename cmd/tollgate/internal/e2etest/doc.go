// Package e2etest is what the end-to-end tests of cmd/tollgate and of the
// interop module (cmd/tollgate/interop) share: the environment's users,
// policy and configuration file, and a loopback-only client of a running
// Tollgate's token endpoint.
//
// It imports only the standard library and this module's own
// dependencies, so that the registry and client libraries the interop
// tests use stay out of the server module.
package e2etest
