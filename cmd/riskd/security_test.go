package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// passwordOfTest is a password that no output of riskd may show.
const passwordOfTest = "hunter2-not-for-logs"

// TestPasswordNeverASetting checks that riskd refuses a SASL password
// given as a flag (either form) or a config key, saying where it goes
// instead and without echoing it, in run and sink alike.
func TestPasswordNeverASetting(t *testing.T) {
	config := filepath.Join(t.TempDir(), "riskd.yaml")
	if err := os.WriteFile(config, []byte("brokers: [k:9092]\nkafka-sasl-password: "+passwordOfTest+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"flag=value", []string{"run", "--brokers", "k:9092", "--kafka-sasl-password=" + passwordOfTest}, "--kafka-sasl-password is not a setting"},
		{"flag value", []string{"run", "-kafka-sasl-password", passwordOfTest, "--brokers", "k:9092"}, "--kafka-sasl-password is not a setting"},
		{"sink flag", []string{"sink", "--kafka-sasl-password", passwordOfTest}, "--kafka-sasl-password is not a setting"},
		{"config key", []string{"run", "--config", config}, config + ":2: kafka-sasl-password is not a setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, nil, &stdout, &stderr)
			out := stderr.String()
			if code == 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "RISKD_KAFKA_SASL_PASSWORD") {
				t.Errorf("exit %d, stderr:\n%s\nwant a failure saying %q and naming RISKD_KAFKA_SASL_PASSWORD", code, out, tc.want)
			}
			if strings.Contains(out+stdout.String(), passwordOfTest) {
				t.Errorf("the output shows the password:\n%s", out)
			}
		})
	}
}

// TestHelpShowsNoSecret checks that `riskd run --help` and `riskd sink
// --help` list the security settings and show none of the secrets in the
// environment: the SASL password, nor the ClickHouse DSN's.
func TestHelpShowsNoSecret(t *testing.T) {
	t.Setenv("RISKD_KAFKA_SASL_PASSWORD", passwordOfTest)
	t.Setenv("RISKD_CLICKHOUSE", "clickhouse://alice:"+passwordOfTest+"@h:9440/db?secure=true")
	for _, cmd := range []string{"run", "sink"} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), []string{cmd, "--help"}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("riskd %s --help: exit %d\n%s", cmd, code, stderr.String())
		}
		out := stdout.String() + stderr.String()
		if strings.Contains(out, passwordOfTest) {
			t.Errorf("riskd %s --help shows a secret:\n%s", cmd, out)
		}
		for _, f := range []string{"-kafka-tls\n", "-kafka-tls-ca", "-kafka-tls-cert", "-kafka-tls-key", "-kafka-sasl-mechanism", "-kafka-sasl-user", "-kafka-sasl-password-file", "RISKD_KAFKA_SASL_PASSWORD"} {
			if !strings.Contains(out, f) {
				t.Errorf("riskd %s --help lacks %s", cmd, f)
			}
		}
	}
}

// TestSecuritySettingErrors checks that riskd stops on bad security
// settings before it connects, with an error naming the setting and never
// the password.
func TestSecuritySettingErrors(t *testing.T) {
	t.Setenv("RISKD_KAFKA_SASL_PASSWORD", passwordOfTest)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown mechanism", []string{"--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-user", "riskd"}, `--kafka-sasl-mechanism "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"no user", []string{"--kafka-sasl-mechanism", "SCRAM-SHA-512"}, "--kafka-sasl-mechanism SCRAM-SHA-512 needs --kafka-sasl-user"},
		{"missing CA", []string{"--kafka-tls-ca", missing}, "--kafka-tls-ca: open " + missing},
		{"certificate without key", []string{"--kafka-tls-cert", missing}, "--kafka-tls-cert without --kafka-tls-key"},
		{"missing key", []string{"--kafka-tls-cert", missing, "--kafka-tls-key", missing}, "--kafka-tls-cert " + missing},
		{"two passwords", []string{"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "riskd", "--kafka-sasl-password-file", missing}, "keep one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []string{"run", "sink"} {
				args := append([]string{cmd, "--brokers", "127.0.0.1:1", "--clickhouse", "clickhouse://127.0.0.1:1/db", "--metrics-addr", ""}, tc.args...)
				var stdout, stderr bytes.Buffer
				code := run(t.Context(), args, nil, &stdout, &stderr)
				if code != 1 || !strings.Contains(stderr.String(), tc.want) {
					t.Errorf("riskd %s: exit %d, stderr %q; want exit 1 saying %q", cmd, code, stderr.String(), tc.want)
				}
				if strings.Contains(stderr.String(), passwordOfTest) {
					t.Errorf("riskd %s shows the password: %s", cmd, stderr.String())
				}
			}
		})
	}
}
