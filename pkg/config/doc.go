// Package config loads Tollgate's configuration: a YAML file whose every key
// can be overridden by a TOLLGATE_* environment variable (server.addr is
// TOLLGATE_SERVER_ADDR). Unknown keys are errors that name the key, and
// Validate reports every problem at once with the key names the user wrote.
package config
