package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/riskd/riskd/rules/ruletest"
)

// rulesTestCmd runs rule unit-test files like `promtool test rules`: the
// files given and every *.test.yaml under the folders given. Per file a
// SUCCESS or FAILED line with each failed expectation as file:line, then
// the rules no test covers (see ruletest.Coverage) and a summary.
//
// Exit status: 0 when every test passed, 1 when a test failed, a path or
// file could not be read, or (with --require-coverage) a rule is not
// covered, 2 on a usage error.
func rulesTestCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: riskd rules test [--require-coverage] DIR|FILE...")
		fs.PrintDefaults()
	}
	require := fs.Bool("require-coverage", false, "exit 1 when a rule has no test where it fires or no test where it stays quiet")
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usageError("rules test needs test files or folders: riskd rules test rules/pack/tests")
	}
	files, problems := ruletest.Discover(paths)
	for _, p := range problems {
		fmt.Fprintf(stdout, "FAILED %v\n", p)
	}
	rep := ruletest.RunFiles(files)
	for _, f := range rep.Files {
		printFileResult(stdout, f)
	}
	gaps := printCoverage(stdout, rep)
	failed := rep.Failed() + len(problems)
	fmt.Fprintf(stdout, "SUMMARY: %d test files, %d tests, %d files failed; %s\n", len(files), rep.Tests(), failed, coverageSummary(rep, gaps))
	switch {
	case failed > 0:
		return fmt.Errorf("rule tests failed: %d of %d files or folders failed; fix the expectations listed as FAILED", failed, len(files)+len(problems))
	case gaps > 0 && *require:
		return fmt.Errorf("%d rule(s) not covered (--require-coverage): add an expect entry naming each where it fires and an absent entry {event_id, rules} where it does not", gaps)
	}
	return nil
}

// printFileResult prints f's line, and under it each failure.
func printFileResult(w io.Writer, f ruletest.FileResult) {
	switch {
	case f.Err != nil:
		fmt.Fprintf(w, "FAILED %s: %v\n", f.Path, f.Err)
	case len(f.Failures) > 0:
		fmt.Fprintf(w, "FAILED %s: %d tests, %d failed expectations\n", f.Path, f.Tests, len(f.Failures))
		for _, x := range f.Failures {
			fmt.Fprintf(w, "  %s\n", x)
		}
	default:
		fmt.Fprintf(w, "SUCCESS %s: %d tests\n", f.Path, f.Tests)
	}
}

// printCoverage prints, per rule set, the rules that are not covered and
// what each lacks, and returns how many there are.
func printCoverage(w io.Writer, rep *ruletest.Report) int {
	n := 0
	for _, c := range rep.Coverage {
		gaps := c.Gaps()
		n += len(gaps)
		if len(gaps) == 0 {
			fmt.Fprintf(w, "COVERED %s: each of %d rules has a test where it fires and one where it does not\n", c.Rules, len(c.Set.Rules))
			continue
		}
		fmt.Fprintf(w, "UNCOVERED %s: %d of %d rules lack a test (an expect entry listing the rule under rules: shows it firing; an absent entry {event_id, rules} listing it shows it quiet)\n", c.Rules, len(gaps), len(c.Set.Rules))
		for _, g := range gaps {
			var lacks []string
			if g.NoFire {
				lacks = append(lacks, "no test where it fires")
			}
			if g.NoQuiet {
				lacks = append(lacks, "no test where it does not fire")
			}
			fmt.Fprintf(w, "  %s:%d: %s: %s\n", g.Rule.File, g.Rule.Line, g.Rule.ID, strings.Join(lacks, ", "))
		}
	}
	return n
}

// coverageSummary says how many rules are covered, over every rule set.
func coverageSummary(rep *ruletest.Report, gaps int) string {
	total := 0
	for _, c := range rep.Coverage {
		total += len(c.Set.Rules)
	}
	return fmt.Sprintf("%d of %d rules covered", total-gaps, total)
}
