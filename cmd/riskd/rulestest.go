package main

import (
	"fmt"
	"io"

	"github.com/riskd/riskd/rules/ruletest"
)

// rulesTestCmd runs rule unit-test files like `promtool test rules`.
func rulesTestCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("rules test needs one or more test files")
	}
	failed := 0
	for _, path := range args {
		failures, ran, err := ruletest.Run(path)
		if err != nil {
			fmt.Fprintf(stdout, "FAILED %s: %v\n", path, err)
			failed++
			continue
		}
		if len(failures) > 0 {
			fmt.Fprintf(stdout, "FAILED %s: %d tests, %d failed expectations\n", path, ran, len(failures))
			for _, f := range failures {
				fmt.Fprintf(stdout, "  %s\n", f)
			}
			failed++
			continue
		}
		fmt.Fprintf(stdout, "SUCCESS %s: %d tests\n", path, ran)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d rule test files failed", failed, len(args))
	}
	return nil
}
