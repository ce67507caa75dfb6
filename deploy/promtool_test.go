package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtool returns the path of promtool, or ends the test: skipped on a
// machine without it, failed under RISKD_REQUIRE_SERVICES=1 (make test), so
// that make test cannot pass without checking the rules.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("RISKD_REQUIRE_SERVICES") == "1" {
		t.Fatal("promtool is not on PATH although RISKD_REQUIRE_SERVICES=1: run scripts/deps.sh (it installs Debian's prometheus package, which has promtool), then make test again")
	}
	t.Skip("promtool is not on PATH: run scripts/deps.sh to check the alert rules with it (make test requires it)")
	return ""
}

func runPromtool(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool %v in %s: %v\n%s", args, dir, err, out)
	}
}

// TestPromtool checks the alert rules and runs their unit tests with
// promtool, and parses every dashboard query with Prometheus' own parser
// (promtool check rules on a recording rule per query).
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	t.Run("check rules", func(t *testing.T) {
		runPromtool(t, bin, "prometheus", "check", "rules", filepath.Base(alertsFile))
	})
	t.Run("test rules", func(t *testing.T) {
		runPromtool(t, bin, "prometheus", "test", "rules", filepath.Base(alertTestsFile))
	})
	t.Run("dashboard queries parse", func(t *testing.T) {
		dir := t.TempDir()
		rules, index := dashboardAsRules(t)
		if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), rules, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), bin, "check", "rules", "dashboard.yml")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			msg := string(out)
			for name, where := range index {
				msg = strings.ReplaceAll(msg, `"`+name+`"`, where)
			}
			t.Errorf("a query of %s does not parse as PromQL (%v); fix it in Grafana's query editor or the JSON:\n%s", dashboardFile, err, msg)
		}
	})
}

// grafanaRange matches Grafana's interval macros, which stand for a range;
// grafanaVar matches its variables, which sit in label matchers.
var (
	grafanaRange = regexp.MustCompile(`\$__(rate_interval|interval|range)\b`)
	grafanaVar   = regexp.MustCompile(`\$\{?\w+\}?`)
)

// dashboardAsRules returns a rules file with one recording rule per
// dashboard query, Grafana's variables replaced by values Prometheus
// accepts, and which panel each record name stands for.
func dashboardAsRules(t *testing.T) ([]byte, map[string]string) {
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rs []rule
	index := map[string]string{}
	for i, q := range dashboardQueries(t, readDashboard(t)) {
		e := grafanaRange.ReplaceAllString(q.expr, "5m")
		e = grafanaVar.ReplaceAllString(e, ".*")
		name := fmt.Sprintf("dashboard:query_%d", i)
		index[name] = q.where
		rs = append(rs, rule{name, e})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "dashboard", "rules": rs}}})
	if err != nil {
		t.Fatal(err)
	}
	return b, index
}
