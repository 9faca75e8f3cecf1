// Package config is Latchkey's configuration: one typed Config, parsed once
// from environment variables and flags, validated, and printable with its
// secrets redacted (`latchkey config`).
//
// Every setting is an environment variable (JWT_REFRESH_EXPIRES_IN) and a
// flag of `latchkey serve` (--jwt-refresh-expires-in); the flag wins over
// the variable, the variable over the default. The struct tags of Config are
// the single source of names, defaults and help: the command line embeds
// Config, Load parses it the same way for tests and tools, and Settings
// (what `latchkey config` prints) walks the same kong model. The table in
// docs/configuration.md is checked against Settings by a test.
//
// Values have small types that read and write text: Duration (Go durations
// plus d and w: "30d", "1d12h"), Switch (on/off), Rate ("10/15m"), Dialects,
// Origins and Prefixes (comma-separated lists). A value that does not parse
// stops start-up with a message naming the variable or flag; Validate then
// checks the rules between settings, and names the variable in every error.
package config
