// Package server wires HTTP to Tollgate's packages: gorilla/mux routes, the
// middleware every request passes (request ID, access log, panic recovery),
// and one file per endpoint family. Handlers read as numbered steps, each a
// call into pkg/: parse → authenticate → authorize → mint → respond.
package server
