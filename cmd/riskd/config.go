package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// layered sets the flags of fs from, in increasing precedence, the YAML file
// named by the flag "config", RISKD_* environment variables and the command
// line. Every flag is also a config key (its name) and an environment
// variable (RISKD_ and its name in upper case, dashes as underscores), so
// one validation, the flag's own, covers all three, and an error names the
// key and where it came from.
func layered(fs *flag.FlagSet, args []string, env func(string) string) error {
	if err := refuseSecretArgs(args); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	explicit := map[string]string{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })

	if cf := fs.Lookup("config"); cf != nil && cf.Value.String() != "" {
		if err := applyFile(fs, cf.Value.String()); err != nil {
			return err
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := env(name); v != "" && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s: %v", name, e)
			}
		}
	})
	if err != nil {
		return err
	}
	for name, v := range explicit {
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("flag --%s: %v", name, err)
		}
	}
	return nil
}

func envName(flagName string) string {
	return "RISKD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyFile sets flags from a YAML mapping of flag names to scalars or
// lists (joined with commas).
func applyFile(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of settings (key: value)", path, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if secretKeys[k.Value] {
			return fmt.Errorf("%s:%d: %w", path, k.Line, secretRefused(k.Value))
		}
		if k.Value == "config" || fs.Lookup(k.Value) == nil {
			return fmt.Errorf("%s:%d: unknown key %q (keys are the command's flag names; see riskd %s -h)", path, k.Line, k.Value, fs.Name())
		}
		var val string
		switch v.Kind {
		case yaml.ScalarNode:
			val = v.Value
		case yaml.SequenceNode:
			parts := make([]string, len(v.Content))
			for j, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return fmt.Errorf("%s:%d: %s: list items must be plain values", path, e.Line, k.Value)
				}
				parts[j] = e.Value
			}
			val = strings.Join(parts, ",")
		default:
			return fmt.Errorf("%s:%d: %s: want a value or a list", path, v.Line, k.Value)
		}
		if err := fs.Set(k.Value, val); err != nil {
			return fmt.Errorf("%s:%d: %s: %v", path, v.Line, k.Value, err)
		}
	}
	return nil
}

// listFlag is a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = (*l)[:0]
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	if len(*l) == 0 {
		return fmt.Errorf("empty list")
	}
	return nil
}

// choiceFlag accepts one of a fixed set of words.
type choiceFlag struct {
	value   string
	choices []string
}

func (c *choiceFlag) String() string { return c.value }

func (c *choiceFlag) Set(s string) error {
	for _, ch := range c.choices {
		if s == ch {
			c.value = s
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", s, strings.Join(c.choices, ", "))
}
