// Package interop holds no code: its tests run Tollgate against real peers
// it must interoperate with. A `tollgate` binary, built once from
// ./cmd/tollgate by TestMain, serves generated configurations in child
// processes (started, SIGTERMed and SIGKILLed like an operator's); the CNCF
// registry (distribution v3) runs in-process, trusting Tollgate's
// certificate; go-containerregistry (crane's library) and regclient
// (regctl's) push and pull through it; distribution's own token access
// controller checks the tokens. For the forward-auth gateway, a real nginx
// (pkg/gateway/nginxtest) serves deploy/gateway/nginx.conf in front of the
// registry running without auth, and oras-go pushes and pulls too. The web
// UI is driven in headless Chromium over the DevTools protocol (chromedp),
// signing in with a password and with an in-test OpenID Provider.
// Everything listens and dials on loopback.
//
// The tests drive the server only through its command line, its
// configuration file, its environment and HTTP, and read its store only
// through exported packages, so the server's internals can change under
// them. They form a module of their own so that distribution,
// go-containerregistry, regclient, oras-go and chromedp (with their
// OpenTelemetry, gRPC and Redis graph) stay out of the server's go.mod. PostgreSQL tests read
// TOLLGATE_TEST_POSTGRES_DSN, as the server's own do.
package interop
