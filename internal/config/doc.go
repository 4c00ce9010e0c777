// Package config turns command-line flags, PEERMESH_* environment variables
// and a TOML file into the validated Settings of one cmd/node process.
//
// Names follow nwaku's CLI (--tcp-port, --staticnode, --max-connections, …)
// so an operator who knows nwaku needs no new vocabulary; the environment
// variable of a setting is PEERMESH_ plus its name in upper case with '-'
// replaced by '_', and the TOML key is the flag name itself. Precedence is
// flag > environment > file > default, decided per setting, so a file can
// hold a base configuration that one flag overrides.
//
// Every error names the setting it is about; cmd/node prints it and exits
// with status 2, the conventional code for a usage error.
package config
