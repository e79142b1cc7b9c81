// Command tollgate-bench is the load benchmark behind `make bench`: it
// builds ./cmd/tollgate once, serves generated configurations from it as
// child processes on loopback ports, drives each with keep-alive
// connections (closed loop for throughput, open loop at a fixed rate for
// latency measured from the intended send time), and sets every result
// against floors measured in the same run with the same load generator: a
// minimal net/http handler answering a fixed token-sized body, and per
// algorithm a handler that only decodes Basic auth and signs an equivalent
// JWT with golang-jwt. Floors run as child processes of this binary, so the
// server CPU and RSS columns compare like with like.
//
// The files follow one job each: benchconfig.go writes the benchmark
// directory (keys, htpasswd, configuration), process.go runs and measures
// child processes, load.go and histogram.go generate load and record
// latencies, floors.go serves the floors, scenarios.go and scaling.go list
// what is measured, credentials.go and bulktokens.go prepare credentials,
// measure.go runs one scenario, report.go prints the table and the JSON.
package main
