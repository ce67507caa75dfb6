package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDashboardModel checks what Grafana needs to import the dashboard into
// any instance: the Prometheus datasource is a variable (no datasource uid
// of ours is baked in), panel ids are unique, and the metrics the issue asks
// for are on it.
func TestDashboardModel(t *testing.T) {
	d := readDashboard(t)
	if !slices.ContainsFunc(d.Templating.List, func(v struct {
		Name, Type string
		Query      any
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf(`%s: no templating variable {"name": "datasource", "type": "datasource", "query": "prometheus"}; panels refer to ${datasource}, add it back`, dashboardFile)
	}
	ids := map[int]string{}
	for _, p := range allPanels(d.Panels) {
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("%s: panels %q and %q share id %d; give each its own", dashboardFile, prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: panel %q does not use the datasource variable; set its datasource uid to ${datasource}", dashboardFile, p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("%s: a query of panel %q names datasource %q; set its uid to ${datasource}", dashboardFile, p.Title, tg.Datasource.UID)
			}
		}
	}

	queried := map[string]bool{}
	for _, q := range dashboardQueries(t, d) {
		for _, n := range metricNames(q.expr) {
			queried[n] = true
		}
	}
	// Issue 14 item 2's list: events, lag, decision mix, rule hits, latency
	// histograms, state size and restores, rules, sink health, dead letters,
	// output errors and stalls.
	for _, n := range []string{
		"riskd_events_total", "riskd_consumer_lag_messages", "riskd_decisions_total", "riskd_rule_hits_total",
		"riskd_decision_event_time_lag_seconds_bucket", "riskd_decision_ingest_latency_seconds_bucket",
		"riskd_processing_seconds_bucket", "riskd_state_keys", "riskd_state_restored_keys_total",
		"riskd_state_restore_seconds_bucket", "riskd_rules_info", "riskd_sink_rows_total",
		"riskd_sink_insert_errors_total", "riskd_sink_pending_rows", "riskd_events_rejected_total",
		"riskd_output_write_errors_total", "riskd_partitions_stalled", "riskd_ready",
	} {
		if !queried[n] {
			t.Errorf("%s: no panel queries %s; the fleet dashboard should show it", dashboardFile, n)
		}
	}
	// Not a failure, so that a new metric does not break the build of
	// whoever adds it; a hint for whoever reads -v.
	exported := exportedSeries(t)
	for n := range exported {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !queried[n] && !queried[base+"_bucket"] && !queried[base+"_sum"] && !queried[base+"_count"] && !queried[base] {
			t.Logf("%s is exported but on no panel", n)
		}
	}
}

var alertName = regexp.MustCompile(`(?m)^\s*- alertname:\s*(\S+)`)

// TestAlertRules checks the conventions of the alert rules that promtool
// does not: every alert says how bad it is and what to do, and has a unit
// test.
func TestAlertRules(t *testing.T) {
	tests, err := os.ReadFile(alertTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, m := range alertName.FindAllStringSubmatch(string(tests), -1) {
		tested[m[1]] = true
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: alert %s has severity %q; use critical (pages) or warning (ticket)", alertsFile, r.Alert, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: alert %s has no summary annotation; add one line saying what is wrong", alertsFile, r.Alert)
			}
			if !strings.Contains(r.Annotations["description"], "What to do:") {
				t.Errorf("%s: alert %s's description has no \"What to do:\"; say what the on-call engineer should check and change", alertsFile, r.Alert)
			}
			if !tested[r.Alert] {
				t.Errorf("%s: alert %s has no test in %s; add a case that fires it and one that does not", alertsFile, r.Alert, alertTestsFile)
			}
		}
	}
}
