package ruletest_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/rules/ruletest"
)

// TestShippedRuleTests runs every test file of the shipped pack and fails
// when one fails or when a shipped rule lacks a test where it fires or one
// where it does not: `make test` runs it, so a rule cannot ship untested.
func TestShippedRuleTests(t *testing.T) {
	files, problems := ruletest.Discover([]string{testenv.Rules})
	if len(problems) > 0 || len(files) == 0 {
		t.Fatalf("no rule test files under %s: %v", testenv.Rules, problems)
	}
	rep := ruletest.RunFiles(files)
	for _, f := range rep.Files {
		if f.Err != nil || len(f.Failures) > 0 || f.Tests == 0 {
			t.Errorf("%s: ran %d, err %v, failures:\n%s", f.Path, f.Tests, f.Err, joinFailures(f.Failures))
		}
	}
	shipped, err := rules.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	fired, quiet := map[string]bool{}, map[string]bool{}
	for _, c := range rep.Coverage {
		for id := range c.Fired {
			fired[id] = true
		}
		for id := range c.Quiet {
			quiet[id] = true
		}
	}
	for _, r := range shipped.Rules {
		if !fired[r.ID] || !quiet[r.ID] {
			t.Errorf("shipped rule %s (%s:%d) lacks a test (fires: %v, does not fire: %v): add cases to rules/pack/tests/*.test.yaml; `riskd rules test rules/pack` lists what is missing",
				r.ID, r.File, r.Line, fired[r.ID], quiet[r.ID])
		}
	}
}

func joinFailures(fs []ruletest.CaseFailure) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, "\n")
}

// hooked is an event of dave's on a hooked app: tampered-app-step-up
// fires on it.
const hooked = `{"event_id":"h1","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"dave","outcome":"success","app":{"integrity":{"hooked":true}}}`

// TestRuleTestsReportFailures runs test files with wrong expectations and
// checks each failure's file:line and message, and the coverage gaps.
func TestRuleTestsReportFailures(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // in the failures, "t.yaml:N: " prefixed by the folder
		// The rules the file shows firing and staying quiet, when not nil.
		fired, quiet []string
	}{
		{"wrong action, rejected line, absent", `tests:
  - name: wrong expectation
    events: |
      ` + hooked + `
      not json
    expect:
      - {event_id: h1, subject: "user:dave", action: lockout}
    absent: [h1]
`, []string{
			`t.yaml:5: test "wrong expectation": event on line 2 of events rejected`,
			`t.yaml:7: test "wrong expectation": event h1 on user:dave: got step_up (enforce), want lockout`,
			`t.yaml:8: test "wrong expectation": event h1 must get no decision`}, nil, nil},
		{"rule must not fire", `tests:
  - name: quiet
    events: |
      ` + hooked + `
    absent:
      - {event_id: h1, rules: [brute-force-lockout]}
      - {event_id: h1, rules: [tampered-app-step-up]}
`, []string{`t.yaml:7: test "quiet": event h1: rule tampered-app-step-up must not fire, got step_up on user:dave`}, nil, nil},
		{"unknown rule and event ids", `tests:
  - name: typos
    events: |
      ` + hooked + `
    expect:
      - {event_id: h1, subject: "user:dave", action: step_up, rules: [tampered-app]}
    absent:
      - {event_id: h2, rules: [tampered-app-step-up]}
`, []string{`t.yaml:6: test "typos": rule tampered-app is not in the rule set`,
			`t.yaml:8: test "typos": event h2 is not among the test's events`}, nil, nil},
		{"passing expectations cover", `tests:
  - name: covers one rule
    events: |
      ` + hooked + `
    expect:
      - {event_id: h1, subject: "user:dave", action: step_up, rules: [tampered-app-step-up]}
    absent:
      - {event_id: h1, rules: [rooted-device-sensitive-step-up, brute-force-lockout]}
      - h1x
`, []string{`t.yaml:9: test "covers one rule": event h1x is not among`},
			[]string{"tampered-app-step-up"}, []string{"brute-force-lockout", "rooted-device-sensitive-step-up"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			rep := ruletest.RunFiles([]string{path})
			res := rep.Files[0]
			if res.Err != nil || res.Tests != 1 {
				t.Fatal(res.Err, res.Tests)
			}
			all := joinFailures(res.Failures)
			for _, w := range tt.want {
				if strings.HasPrefix(w, "t.yaml") {
					w = filepath.Join(filepath.Dir(path), w)
				}
				if !strings.Contains(all, w) {
					t.Errorf("failures lack %q:\n%s", w, all)
				}
			}
			if tt.fired == nil {
				return
			}
			c := rep.Coverage[0]
			fired, quiet := slices.Sorted(maps.Keys(c.Fired)), slices.Sorted(maps.Keys(c.Quiet))
			if !slices.Equal(fired, tt.fired) || !slices.Equal(quiet, tt.quiet) || len(c.Gaps()) != len(c.Set.Rules) {
				t.Errorf("fired %v quiet %v, want %v %v; %d gaps", fired, quiet, tt.fired, tt.quiet, len(c.Gaps()))
			}
		})
	}
}

// TestDiscover expands folders into their *.test.yaml files, recursively,
// and reports paths that give none.
func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.yaml", "a.test.yaml", "sub/b.test.yml", "sub/deeper/c.test.yaml", "empty/x.yaml", "other.yaml"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("tests: []\n"), 0o644)
	}
	at := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(dir, n))
		}
		return out
	}
	tests := []struct {
		name     string
		paths    []string
		files    []string
		problems []string
	}{
		{"folder, recursively", at(""), at("a.test.yaml", "sub/b.test.yml", "sub/deeper/c.test.yaml"), nil},
		{"a file of any name", at("other.yaml"), at("other.yaml"), nil},
		{"each file once", at("sub", "sub/b.test.yml"), at("sub/b.test.yml", "sub/deeper/c.test.yaml"), nil},
		{"folder without tests", at("empty", "a.test.yaml"), at("a.test.yaml"), []string{"empty: no *.test.yaml file under this folder"}},
		{"missing path", at("nope"), nil, []string{"nope: no such file or folder"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, problems := ruletest.Discover(tt.paths)
			for i := range files {
				files[i] = filepath.Clean(files[i])
			}
			if !slices.Equal(files, tt.files) || len(problems) != len(tt.problems) {
				t.Fatalf("got %v %v, want %v %v", files, problems, tt.files, tt.problems)
			}
			for i, p := range problems {
				if !strings.Contains(p.Error(), tt.problems[i]) {
					t.Errorf("problem %q lacks %q", p, tt.problems[i])
				}
			}
		})
	}
}
