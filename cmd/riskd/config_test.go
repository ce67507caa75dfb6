package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLayeredConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "brokers: [k1:9092, k2:9092]\ngroup: from-file\nemit: all\nmax-batch: 10\n")
	unknown := write("unknown.yaml", "brokers: k1:9092\n\ngrup: typo\n")
	badValue := write("bad.yaml", "brokers: k1:9092\nmax-batch: lots\n")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(f *runFlags) string
		wantErr string
	}{
		{"defaults", nil, nil, func(f *runFlags) string {
			return want(f.group == "riskd" && f.topics.String() == "auth-events,txn-events" && f.metricsAddr == "127.0.0.1:9464" &&
				f.maxMessage == 1_000_000, "defaults")
		}, ""},
		{"max message bytes from the environment", nil, map[string]string{"RISKD_MAX_MESSAGE_BYTES": "500000"}, func(f *runFlags) string {
			return want(f.maxMessage == 500000, "--max-message-bytes")
		}, ""},
		{"max message bytes not a number", []string{"--max-message-bytes", "1MB"}, nil, nil, "max-message-bytes"},
		{"file", []string{"--config", good}, nil, func(f *runFlags) string {
			return want(f.brokers.String() == "k1:9092,k2:9092" && f.group == "from-file" && f.emit.value == "all" && f.maxBatch == 10, "file values")
		}, ""},
		{"env beats file", []string{"--config", good}, map[string]string{"RISKD_GROUP": "from-env", "RISKD_MAX_BATCH": "20"}, func(f *runFlags) string {
			return want(f.group == "from-env" && f.maxBatch == 20 && f.emit.value == "all", "env over file")
		}, ""},
		{"flag beats env", []string{"--config", good, "--group", "from-flag"}, map[string]string{"RISKD_GROUP": "from-env"}, func(f *runFlags) string {
			return want(f.group == "from-flag", "flag over env")
		}, ""},
		{"unknown key names the line", []string{"--config", unknown}, nil, nil, "unknown.yaml:3: unknown key \"grup\""},
		{"bad value names the key", []string{"--config", badValue}, nil, nil, "bad.yaml:2: max-batch"},
		{"bad env names the variable", nil, map[string]string{"RISKD_START_OFFSET": "middle"}, nil, "environment variable RISKD_START_OFFSET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRunFlags("run", io.Discard)
			err := layered(f.fs, tt.args, func(k string) string { return tt.env[k] })
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if msg := tt.check(f); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func want(ok bool, what string) string {
	if ok {
		return ""
	}
	return "wrong " + what
}

// Every flag of run is documented as a RISKD_ variable the same way.
func TestEnvNames(t *testing.T) {
	f := newRunFlags("run", io.Discard)
	f.fs.VisitAll(func(fl *flag.Flag) {
		if n := envName(fl.Name); strings.ContainsAny(n, "-.") {
			t.Errorf("%s → %s", fl.Name, n)
		}
	})
	if envName("metrics-addr") != "RISKD_METRICS_ADDR" {
		t.Error(envName("metrics-addr"))
	}
}
