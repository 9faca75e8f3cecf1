package config

import (
	"fmt"

	"github.com/alecthomas/kong"
)

// field is one setting as kong's model describes it. This file is the only
// place that reads the struct tags of Config: Load and Settings both walk the
// flags kong built, so the flag names, variables, defaults and help texts
// that `latchkey serve --help` shows are the ones they use.
type field struct {
	flag   *kong.Flag
	env    string // the first (only) variable of the flag
	secret string // the secret tag: "", "value" or "password"
}

// newParser builds a kong parser for c alone (no subcommands) and lists its
// settings in declaration order.
func newParser(c *Config, options ...kong.Option) (*kong.Kong, []field, error) {
	options = append([]kong.Option{kong.Name("latchkey"), kong.NoDefaultHelp()}, options...)
	k, err := kong.New(c, options...)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	fields := make([]field, 0, len(k.Model.Flags))
	for _, f := range k.Model.Flags {
		if len(f.Envs) != 1 {
			return nil, nil, fmt.Errorf("config: flag --%s has %d environment variables, want 1", f.Name, len(f.Envs))
		}
		fields = append(fields, field{flag: f, env: f.Envs[0], secret: f.Tag.Get("secret")})
	}
	return k, fields, nil
}

// fieldsOf is newParser for callers that only read the model. Config's tags
// are fixed at compile time and covered by tests, so a failure is a bug.
func fieldsOf(c *Config) []field {
	_, fields, err := newParser(c)
	if err != nil {
		panic(err)
	}
	return fields
}
