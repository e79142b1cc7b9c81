// Package config loads Tollgate's configuration: a YAML file (or none: the
// defaults alone) whose every key can be overridden by a TOLLGATE_*
// environment variable (server.addr is TOLLGATE_SERVER_ADDR; lists and
// maps, the ACL among them, take JSON). The keys are found by reflection
// over the Config struct, so a key added there needs nothing more. Unknown
// keys and variables are errors that name them, and Validate reports every
// problem at once with the key names the user wrote.
package config
