package ruletest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules/ruletest"
)

func TestShippedRuleTests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testenv.Rules, "tests", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no rule test files")
	}
	for _, f := range files {
		failures, ran, err := ruletest.Run(f)
		if err != nil || len(failures) > 0 || ran == 0 {
			t.Errorf("%s: ran %d, err %v, failures:\n%s", f, ran, err, strings.Join(failures, "\n"))
		}
	}
}

func TestRuleTestsReportFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.yaml")
	os.WriteFile(path, []byte(`tests:
  - name: wrong expectation
    events: |
      {"event_id":"h1","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"dave","outcome":"success","app":{"integrity":{"hooked":true}}}
      not json
    expect:
      - {event_id: h1, subject: "user:dave", action: lockout}
    absent: [h1]
`), 0o644)
	failures, ran, err := ruletest.Run(path)
	if err != nil || ran != 1 {
		t.Fatal(err, ran)
	}
	all := strings.Join(failures, "\n")
	for _, want := range []string{"line 2 rejected", "got step_up (enforce), want lockout", "event h1 must get no decision"} {
		if !strings.Contains(all, want) {
			t.Errorf("failures lack %q:\n%s", want, all)
		}
	}
}
