package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	badRules := t.TempDir()
	os.WriteFile(filepath.Join(badRules, "x.yaml"), []byte("rules:\n  - id: x\n    detector: velocity\n    when: velocity.nope\n    action: step_up\n    subject: user\n    expires: 1h\n"), 0o644)
	out := filepath.Join(t.TempDir(), "d.jsonl")
	tests := []struct {
		name    string
		args    []string
		status  int
		stdout  string
		stderr  string
		outFile string
	}{
		{"replay reads to the end despite bad lines", []string{"replay", "--events", "../../testdata/golden/malformed/events.jsonl",
			"--geoip-city", "../../testdata/geoip/riskd-test-City.mmdb", "--emit", "all"}, 0,
			`"action":"allow"`, "events.jsonl:3: rejected: type: unknown event type", ""},
		{"replay summary and --out", []string{"replay", "--events", "../../testdata/golden/brute-force-vs-typos/events.jsonl", "--out", out}, 0,
			"", "9 events read, 9 accepted, 0 rejected, 0 duplicates; 1 decisions (lockout 1)", `"rule":"brute-force-lockout"`},
		{"missing geoip is a warning", []string{"replay", "--events", "../../testdata/golden/brute-force-vs-typos/events.jsonl", "--geoip-city", "/nonexistent.mmdb"}, 0,
			"", "is missing", ""},
		{"replay needs events", []string{"replay"}, 2, "", "replay needs --events", ""},
		{"bad emit", []string{"replay", "--events", "x", "--emit", "some"}, 2, "", "--emit must be all or non-allow", ""},
		{"rules check shipped", []string{"rules", "check"}, 0, "SUCCESS shipped rules", "", ""},
		{"rules check names file and line", []string{"rules", "check", badRules}, 1, "x.yaml:2: rule \"x\"", "", ""},
		{"rules test", []string{"rules", "test", "../../rules/pack/tests/shipped.test.yaml"}, 0, "SUCCESS", "", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command", ""},
		{"run needs brokers", []string{"run"}, 2, "", "run needs --brokers", ""},
		{"run flag validated", []string{"run", "--brokers", "x:1", "--emit", "most"}, 2, "", `"most" is not one of non-allow, all`, ""},
		{"run unreachable brokers", []string{"run", "--brokers", "127.0.0.1:1", "--metrics-addr", ""}, 1, "", "cannot reach the brokers", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if status != tt.status || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("status %d (want %d)\nstdout: %s\nstderr: %s", status, tt.status, stdout.String(), stderr.String())
			}
			if tt.outFile != "" {
				b, _ := os.ReadFile(out)
				if !strings.Contains(string(b), tt.outFile) {
					t.Errorf("--out file lacks %s: %s", tt.outFile, b)
				}
			}
		})
	}
}
