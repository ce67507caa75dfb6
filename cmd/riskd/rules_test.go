package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"missing folder", []string{"/nonexistent-rules"}, 1, []string{"FAILED /nonexistent-rules: rules: "}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run(context.Background(), append([]string{"rules", "check"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			fail := status != tt.status
			for _, w := range tt.want {
				out := stdout.String()
				if strings.HasPrefix(w, "riskd:") {
					out = stderr.String()
				}
				fail = fail || !strings.Contains(out, w)
			}
			for _, a := range tt.absent {
				fail = fail || strings.Contains(stdout.String(), a)
			}
			if fail {
				t.Errorf("status %d (want %d), want %q, absent %q\nstdout:\n%s\nstderr:\n%s", status, tt.status, tt.want, tt.absent, stdout.String(), stderr.String())
			}
		})
	}
}
