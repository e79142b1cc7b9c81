// Package nginxtest runs a real nginx for the tests of the forward-auth
// gateway: Debian's nginx as a child process of the test, in a directory
// of its own (configuration, pid file, temporary files), listening on a
// free loopback port, with its error and access logs kept and shown when
// the test fails.
//
// A test gives the content of nginx's http {} block, for example the
// shipped deploy/gateway/nginx.conf, whose ${NAME} placeholders (upper
// case: nginx's own variables are lower case) Start fills in; ${LISTEN} is
// the address Start picked. The main configuration around it is
// nginxtest's: one process (master_process off, so that the kernel ends
// it with the test binary, and no worker switches to another user), the
// pid file and temporary paths in the test's directory, the logs on
// stderr.
//
// The package lives beside pkg/gateway, not in the interop module, so that
// tests of the server module (the gateway's handler behind the real
// nginx) can use it as well as the end-to-end tests; it imports only the
// standard library and pkg/logtest.
//
// Tests that need nginx skip without it, unless the environment variable
// CI is set: then they fail, so that a CI machine without nginx cannot
// pass by skipping (.ci/run installs it).
package nginxtest
