package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
)

// hotRule steps up the user "reload-probe": a rule an analyst adds while
// riskd runs.
const hotRule = `rules:
  - id: hot-reload-probe
    description: Added while riskd runs (the reload test).
    detector: new_device
    when: event.user_id == "reload-probe"
    action: step_up
    subject: user
    score: 10
    expires: 10m
`

// brokenRule does not compile.
const brokenRule = `rules:
  - id: broken
    detector: new_device
    when: event.user_id ==
    action: step_up
    subject: user
    expires: 10m
`

// TestRunCommandReloadsRules holds issue 12's hot reload on each broker: a
// rule file added to --rules while riskd run runs steps up later events
// without a restart, with the new rules_version; a broken file added next
// is refused, named in the log and in riskd_rules_last_reload_success,
// and the rules in force keep deciding; SIGHUP and POST /-/reload reload
// too; and riskd exits 0 at the end.
func TestRunCommandReloadsRules(t *testing.T) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			dir := copyPack(t)
			n := streamtest.Names(b.Name, "auth", "txn", "decisions", "dlq")
			streamtest.CreateTopics(t, b, 2, n...)
			cmd, addr, logs := startRun(t, "run", "--brokers", strings.Join(b.Addrs, ","), "--group", "g-"+n[0],
				"--topics", n[0]+","+n[1], "--decisions-topic", n[2], "--dlq-topic", n[3], "--rules", dir,
				"--geoip-city", testenv.City, "--geoip-asn", testenv.ASN, "--metrics-addr", "127.0.0.1:0", "--log-format", "json")
			waitStatus(t, addr+"/readyz", http.StatusOK)
			before, _ := rules.Load(dir)

			write(t, filepath.Join(dir, "zz-hot.yaml"), hotRule)
			reloaded := waitLog(t, logs, func(m map[string]any) bool { return m["message"] == "rules reloaded" && m["changed"] == true })
			version := reloaded["rules_version"].(string)
			if version == before.Version {
				t.Fatalf("the reload kept version %s", version)
			}
			login(t, b, n[0], "reload-1", 0)
			d := waitDecision(t, b, n[2], "reload-1")
			if d.RulesVersion != version || len(d.Reasons) == 0 || d.Reasons[0].Rule != "hot-reload-probe" {
				t.Fatalf("decision after the reload: version %s, reasons %+v; want hot-reload-probe under %s", d.RulesVersion, d.Reasons, version)
			}

			write(t, filepath.Join(dir, "zzz-broken.yaml"), brokenRule)
			refused := waitLog(t, logs, func(m map[string]any) bool { return m["message"] == "rules reload failed; the rules in force stay" })
			if !strings.Contains(fmt.Sprint(refused["error"]), "zzz-broken.yaml:") {
				t.Errorf("the failed reload's log does not name the file: %v", refused["error"])
			}
			if v := metricValue(get(t, addr+"/metrics"), "riskd_rules_last_reload_success"); v != 0 {
				t.Errorf("riskd_rules_last_reload_success %v after a refused reload, want 0", v)
			}
			login(t, b, n[0], "reload-2", time.Hour)
			if d := waitDecision(t, b, n[2], "reload-2"); d.RulesVersion != version {
				t.Errorf("after the refused reload a decision has version %s, want %s still in force", d.RulesVersion, version)
			}

			// SIGHUP and POST /-/reload go through the same load: the broken
			// file still fails; without it, the reload succeeds.
			if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			waitLog(t, logs, func(m map[string]any) bool {
				return m["message"] == "rules reload failed; the rules in force stay" && m["trigger"] == "SIGHUP"
			})
			if err := os.Remove(filepath.Join(dir, "zzz-broken.yaml")); err != nil {
				t.Fatal(err)
			}
			if resp, err := http.Post(addr+"/-/reload", "text/plain", nil); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /-/reload without the broken file: %v %v", resp, err)
			}
			if v := metricValue(get(t, addr+"/metrics"), "riskd_rules_last_reload_success"); v != 1 {
				t.Errorf("riskd_rules_last_reload_success %v after a good reload, want 1", v)
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("riskd run after SIGTERM: %v (want exit 0)", err)
			}
		})
	}
}

// copyPack copies the shipped pack's rule files to a folder of t's.
func copyPack(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(testenv.Rules, "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, filepath.Base(f)), string(b))
	}
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// login produces a successful login of the user "reload-probe" as event id,
// at after past midnight of its day: a login an hour after the last is not
// a quiet repeat of its step-up.
func login(t *testing.T, b streamtest.Broker, topic, id string, after time.Duration) {
	t.Helper()
	ts := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC).Add(after).Format(time.RFC3339)
	line := fmt.Sprintf(`{"event_id":%q,"type":"login","ts":%q,"user_id":"reload-probe","ip":"198.51.100.7","outcome":"success"}`, id, ts)
	streamtest.Produce(t, b, []*kgo.Record{{Topic: topic, Key: []byte("reload-probe"), Value: []byte(line)}})
}

// waitDecision reads topic until the decision on event id arrives.
func waitDecision(t *testing.T, b streamtest.Broker, topic, id string) rules.Decision {
	t.Helper()
	var d rules.Decision
	streamtest.Consume(t, b, topic, time.Minute, func(recs []*kgo.Record) bool {
		for _, r := range recs {
			if json.Unmarshal(r.Value, &d) == nil && d.EventID == id {
				return true
			}
		}
		return false
	})
	if d.EventID != id {
		t.Fatalf("no decision on %s within a minute", id)
	}
	return d
}

// waitLog reads riskd's log until a line satisfies ok, for at most a
// minute.
func waitLog(t *testing.T, logs <-chan map[string]any, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case m, open := <-logs:
			if !open {
				t.Fatal("riskd's log ended")
			}
			if ok(m) {
				return m
			}
		case <-timeout:
			t.Fatal("the awaited log line did not come within a minute")
		}
	}
}
