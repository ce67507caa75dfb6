package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/testenv"
)

// writeFiles writes name → content under a new temporary folder and
// returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const legacyRule = `rules:
  - id: legacy-app
    detector: device_integrity
    when: event.user_agent startsWith "legacy/" && int(split(event.user_agent, "/")[1]) < 3
    action: step_up
    subject: user
    expires: 1h
`

// TestRulesCheck runs `riskd rules check` on the shipped pack, on folders
// with rules that fail at run time, and with --samples.
func TestRulesCheck(t *testing.T) {
	currency := writeFiles(t, map[string]string{"bad.yaml": "rules:\n  - id: currency-as-number\n    detector: velocity\n    when: int(event.currency) > 0\n    action: allow\n    subject: user\n"})
	legacy := writeFiles(t, map[string]string{"legacy.yaml": legacyRule})
	loadErrs := writeFiles(t, map[string]string{"a.yaml": "rules:\n  - id: a\n    detector: nope\n    when: velocity.fired\n", "b.yaml": "rules: [\n"})
	samples := writeFiles(t, map[string]string{
		"ok.jsonl":  `{"event_id":"k1","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"kim","outcome":"success","user_agent":"legacy/2"}` + "\n",
		"bad.jsonl": "not an event\n" + `{"event_id":"k2","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"kim","outcome":"success","user_agent":"legacy/v2"}` + "\n",
	})
	ok, bad := filepath.Join(samples, "ok.jsonl"), filepath.Join(samples, "bad.jsonl")
	// A copy of the shipped pack with one condition cut short, as an
	// analyst's unfinished edit would leave it.
	broken := testenv.EditedRules(t, func(name, text string) string {
		if name == "payments.yaml" {
			return strings.Replace(text, "when: velocity.fired\n", "when: velocity.fired &&\n", 1)
		}
		return text
	}, nil)
	tests := []struct {
		name   string
		args   []string
		status int
		want   []string // in stdout, or in stderr when it starts with "riskd:"
		absent []string
	}{
		{"shipped pack", nil, 0, []string{"SUCCESS shipped rules", "no rule fails on", "rules/samples.jsonl", "fired=", "never fired", "without --geoip-city"}, []string{"FAILED"}},
		{"shipped folder", []string{"../../rules/pack"}, 0, []string{"SUCCESS ../../rules/pack", "brute-force-lockout"}, nil},
		{"shipped folder located", []string{"--geoip-city", "../../testdata/geoip/riskd-test-City.mmdb", "--geoip-asn", "../../testdata/geoip/riskd-test-ASN.mmdb", "../../rules/pack"}, 0, []string{"SUCCESS"}, []string{"never fired"}},
		{"string as number", []string{currency}, 1, []string{
			filepath.Join(currency, "bad.yaml") + `:2: rule "currency-as-number" fails on `,
			" sample events, e.g. event b1 (rules/samples.jsonl:1): when, line 1 of the condition: invalid operation: int()",
			"FAILED " + currency + ": 1 of 1 rules fail at run time", "riskd: rule check failed"}, []string{"SUCCESS"}},
		{"every folder reported", []string{currency, "../../rules/pack"}, 1, []string{"FAILED " + currency, "SUCCESS ../../rules/pack", "riskd: rule check failed: 1 of 2"}, nil},
		{"load problems one per line", []string{loadErrs}, 1, []string{filepath.Join(loadErrs, "a.yaml") + `:2: rule "a": detector "nope"`, "\n" + filepath.Join(loadErrs, "b.yaml") + ": ", "FAILED " + loadErrs + ": 4 problem(s)"}, nil},
		{"built-in samples miss it", []string{legacy}, 0, []string{"SUCCESS", "legacy-app", "fired=0"}, nil},
		{"samples fire it", []string{"--samples", ok, legacy}, 0, []string{"SUCCESS", "fired=1", "(rules/samples.jsonl, " + ok + ")"}, nil},
		{"samples catch it", []string{legacy, "--samples", ok + "," + bad}, 1, []string{
			`legacy.yaml:2: rule "legacy-app" fails on 1 of `, "e.g. event k2 (" + bad + ":2): when, line 1 of the condition: "}, nil},
		{"samples repeated", []string{"--samples", ok, "--samples", bad, legacy}, 1, []string{"(" + bad + ":2)", "1 sample lines refused and skipped, e.g. " + bad + ":1: "}, nil},
		{"refused sample lines counted", []string{"--samples", bad, "../../rules/pack"}, 0, []string{"1 sample lines refused and skipped, e.g. " + bad + ":1: "}, nil},
		{"missing samples file", []string{"--samples", "/nonexistent.jsonl"}, 1, []string{"riskd: --samples: open /nonexistent.jsonl"}, nil},
		{"broken copy of the pack", []string{broken}, 1, []string{filepath.Join(broken, "payments.yaml") + `:3: rule "velocity-step-up": when, line 1 of the condition: `, "FAILED " + broken + ": 1 problem(s)"}, []string{"SUCCESS"}},
		{"parent of the pack", []string{"../../rules"}, 1, []string{"FAILED ../../rules: rules: no .yaml files in ../../rules; rule folders do not nest: pass ../../rules/pack"}, nil},
		{"missing folder", []string{"/nonexistent-rules"}, 1, []string{"FAILED /nonexistent-rules: rules: "}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRun(t, append([]string{"rules", "check"}, tt.args...), tt.status, tt.want, tt.absent)
		})
	}
}

// checkRun runs riskd with args and fails t unless it exits with status,
// prints every one of want (in stdout, or in stderr when it starts with
// "riskd:") and none of absent in stdout.
func checkRun(t *testing.T, args []string, status int, want, absent []string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	got := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	fail := got != status
	for _, w := range want {
		out := stdout.String()
		if strings.HasPrefix(w, "riskd:") {
			out = stderr.String()
		}
		fail = fail || !strings.Contains(out, w)
	}
	for _, a := range absent {
		fail = fail || strings.Contains(stdout.String(), a)
	}
	if fail {
		t.Errorf("status %d (want %d), want %q, absent %q\nstdout:\n%s\nstderr:\n%s", got, status, want, absent, stdout.String(), stderr.String())
	}
}

// TestRulesTest runs `riskd rules test` on folders and files of the
// shipped tests and on failing ones, and checks the exit status and what
// it prints.
func TestRulesTest(t *testing.T) {
	failing := writeFiles(t, map[string]string{"bad.test.yaml": `tests:
  - name: hooked
    events: |
      {"event_id":"h1","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"dave","outcome":"success","app":{"integrity":{"hooked":true}}}
    expect:
      - {event_id: h1, subject: "user:dave", action: lockout}
`})
	shipped := "../../rules/pack/tests/shipped.test.yaml"
	tests := []struct {
		name   string
		args   []string
		status int
		want   []string // in stdout, or in stderr when it starts with "riskd:"
	}{
		{"the rules folder", []string{"../../rules"}, 0, []string{"SUCCESS ../../rules/pack/tests/logins.test.yaml: ", "COVERED ../../rules/pack: each of 16 rules", "SUMMARY: 6 test files, ", "16 of 16 rules covered"}},
		{"coverage required and complete", []string{"../../rules/pack", "--require-coverage"}, 0, []string{"16 of 16 rules covered"}},
		{"one file", []string{shipped}, 0, []string{"SUCCESS " + shipped + ": 3 tests", "UNCOVERED ../../rules/pack: ", "rules/pack/payments.yaml:3: velocity-step-up: no test where it fires, no test where it does not fire"}},
		{"one file, coverage required", []string{"--require-coverage", shipped}, 1, []string{"UNCOVERED", "riskd: 16 rule(s) not covered (--require-coverage)"}},
		{"a failed expectation", []string{failing, shipped}, 1, []string{"FAILED " + filepath.Join(failing, "bad.test.yaml") + ": 1 tests, 1 failed expectations",
			filepath.Join(failing, "bad.test.yaml") + `:6: test "hooked": event h1 on user:dave: got step_up (enforce), want lockout (enforce)`, "SUCCESS " + shipped, "riskd: rule tests failed: 1 of 2"}},
		{"missing path", []string{"/nonexistent-tests", shipped}, 1, []string{"FAILED /nonexistent-tests: no such file or folder", "SUCCESS " + shipped}},
		{"no argument", nil, 2, []string{"riskd: rules test needs test files or folders"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRun(t, append([]string{"rules", "test"}, tt.args...), tt.status, tt.want, nil)
		})
	}
}

// TestRulesDocs checks that `riskd rules docs` prints the table generated
// from the rules' environment, and refuses arguments.
func TestRulesDocs(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"table", nil, 0, "| `velocity.count_10m` | int | user | this user's transactions, this one included |\n"},
		{"ip stage", nil, 0, "| `ip.failed_users` | int | ip | distinct users with a failure |\n"},
		{"argument", []string{"extra"}, 2, "riskd: rules docs takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run(context.Background(), append([]string{"rules", "docs"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			if status != tt.status || !strings.Contains(stdout.String()+stderr.String(), tt.want) {
				t.Errorf("status %d (want %d), want %q\nstdout:\n%s\nstderr:\n%s", status, tt.status, tt.want, stdout.String(), stderr.String())
			}
		})
	}
}
