package config

import (
	"fmt"
	"reflect"

	"github.com/alecthomas/kong"
)

// Load parses a Config the way `latchkey serve` does, from command-line
// arguments (flags only, such as "--jwt-expires-in=5m") and an environment
// given as a map instead of the process environment, then validates it.
// Flags win over variables, variables over defaults. Errors name the flag and,
// when a variable was at fault, the variable, exactly as the command line
// reports them.
//
// Load never reads the process environment, so tests may run in parallel and
// tools can load a configuration other than their own.
func Load(args []string, env map[string]string) (Config, error) {
	var c Config
	envOf := map[*kong.Flag]string{}
	// kong reads `env` tags from the process environment when it resets
	// values to their defaults; Load moves each variable from the tag to this
	// resolver, which kong consults next, for the flags the arguments did not
	// set. The resolver first parses the value itself so that a bad value is
	// reported with its variable, in kong's own words.
	resolver := kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
		name, ok := envOf[flag]
		if !ok {
			return nil, nil
		}
		raw, ok := env[name]
		if !ok {
			return nil, nil
		}
		scratch := reflect.New(flag.Target.Type()).Elem()
		scan := kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: raw})
		if err := flag.Mapper.Decode(&kong.DecodeContext{Value: flag.Value, Scan: scan}, scratch); err != nil {
			return nil, fmt.Errorf("%w (from envar %s=%q)", err, name, raw)
		}
		return raw, nil
	})
	parser, fields, err := newParser(&c, kong.Resolvers(resolver))
	if err != nil {
		return Config{}, err
	}
	for _, f := range fields {
		envOf[f.flag] = f.env
		f.flag.Envs = nil
		f.flag.Tag.Envs = nil
	}
	if _, err := parser.Parse(args); err != nil {
		return Config{}, err
	}
	// kong has already called Validate (Config has kong's Validate() error
	// hook); Validate is idempotent, and calling it here keeps Load correct
	// whatever kong does.
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
