package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/riskd/riskd/rules"
)

// rulesDocsCmd prints every name a rule condition can read, with its type,
// the stage that computes it and its meaning, as a Markdown table
// generated from the typed environment the rules compile against
// (rules.Env): what it prints is what a condition can use, and README.md's
// table is this output.
func rulesDocsCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules docs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: riskd rules docs\n\nPrints the names a rule condition can read as a Markdown table (stage: event = known to both stages, user = computed on the user stage, ip = computed on the address stage; a rule reading an ip name runs there).")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("rules docs takes no arguments, got %q", fs.Arg(0)))
	}
	_, err := io.WriteString(stdout, rules.DocsMarkdown())
	return err
}
