package main

import (
	"flag"
	"fmt"
	"io"
)

// rulesCheckCmd validates a rule folder like `promtool check rules`: every
// problem with its file and line, exit 1 when there is any.
func rulesCheckCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("rules", "", "folder of rule files (default: the shipped pack); folders may also be given as arguments")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		dirs = []string{*dir}
	}
	failed := false
	for _, d := range dirs {
		set, err := loadRules(d)
		name := d
		if name == "" {
			name = "shipped rules"
		}
		if err != nil {
			fmt.Fprintf(stdout, "FAILED %s: %v\n", name, err)
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "SUCCESS %s: %d rules, version %s\n", name, len(set.Rules), set.Version)
		for _, r := range set.Rules {
			fmt.Fprintf(stdout, "  %-36s %-18s %-8s %-7s %-7s stage=%s\n", r.ID, r.Detector, r.Action, r.Subject, r.Mode, r.Stage)
		}
	}
	if failed {
		return fmt.Errorf("rule check failed")
	}
	return nil
}
