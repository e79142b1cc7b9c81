// Package redact keeps Tollgate's secrets out of the logs and the audit log
// when a caller types one into a field that is logged: an API token pasted
// as the user name (docker login -u tg_… -p …) is the common case. Secrets
// are recognised by their shape, not looked up, so the check costs no store
// access and works for tokens Tollgate never issued.
package redact
