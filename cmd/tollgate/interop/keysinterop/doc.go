// Package keysinterop holds no code: its tests run the CNCF registry's own
// token verifier and access controller (distribution registry/auth/token)
// against Tollgate's keys package: generated and loaded keys, kid formats,
// x5c chains, CA-certified rings and their rotation under load. They live
// in the interop module so that distribution stays out of the server's
// go.mod.
package keysinterop
