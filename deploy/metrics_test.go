package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/storage/sink"
)

const (
	dashboardFile  = "grafana/riskd.json"
	alertsFile     = "prometheus/riskd-alerts.yml"
	alertTestsFile = "prometheus/riskd-alerts.test.yml"
)

// recorder is a prometheus.Registerer that keeps the series names its
// collectors expose instead of serving them. A registry's Gather would miss
// every vector no label values were observed on, which is most of them.
type recorder struct{ series map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Register records the series names of c: a histogram's _bucket, _sum and
// _count, a summary's quantiles (its name), _sum and _count, and the name
// of anything else.
func (r *recorder) Register(c prometheus.Collector) error {
	var suffixes []string
	switch c.(type) {
	case prometheus.Histogram, *prometheus.HistogramVec:
		suffixes = []string{"_bucket", "_sum", "_count"}
	case prometheus.Summary, *prometheus.SummaryVec:
		suffixes = []string{"", "_sum", "_count"}
	default:
		suffixes = []string{""}
	}
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	var err error
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			err = fmt.Errorf("no fqName in %s: client_golang changed Desc.String, adapt the fqName pattern", d)
			continue
		}
		for _, s := range suffixes {
			r.series[m[1]+s] = true
		}
	}
	return err
}

// MustRegister records every collector in cs, and panics as a registry's
// would when one cannot be recorded.
func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister is never called by riskd's constructors.
func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// exportedSeries returns every riskd_ series name riskd run serves, taken
// from the constructors riskd run registers (the streaming member's and
// the ClickHouse sink's), so that the list cannot drift from the code.
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	r := &recorder{series: map[string]bool{}}
	stream.NewMetrics(r)
	sink.NewMetrics(r)
	if len(r.series) < 30 {
		t.Fatalf("only %d series recorded from stream.NewMetrics and sink.NewMetrics; the recorder no longer reads their descriptors, fix recorder.Register", len(r.series))
	}
	return r.series
}

var (
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	identifier = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
)

// metricNames returns the riskd_ identifiers of a PromQL expression, in
// order of appearance. String literals are left out: a label value may
// look like a metric name without being one.
func metricNames(expr string) []string {
	var names []string
	for _, id := range identifier.FindAllString(quoted.ReplaceAllString(expr, `""`), -1) {
		if strings.HasPrefix(id, "riskd_") && !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`riskd_ready == 0`, []string{"riskd_ready"}},
		{`histogram_quantile(0.99, sum by (le) (rate(riskd_processing_seconds_bucket{job=~"$job"}[$__rate_interval])))`, []string{"riskd_processing_seconds_bucket"}},
		{`sum(rate(riskd_events_rejected_total[5m])) / sum(rate(riskd_events_total{reason="riskd_fake"}[5m]))`, []string{"riskd_events_rejected_total", "riskd_events_total"}},
		{`label_values(riskd_ready{job=~"$job"}, instance)`, []string{"riskd_ready"}},
		{`up{job='riskd_x'}`, nil},
	} {
		if got := metricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

// query is one PromQL expression of a deployment file and where it is.
type query struct{ where, expr string }

// dashboard is the part of a Grafana dashboard model the tests read.
type dashboard struct {
	Templating struct {
		List []struct {
			Name, Type string
			Query      any
		}
	}
	Panels []panel
}

type panel struct {
	ID         int
	Type       string
	Title      string
	Datasource *struct{ Type, UID string }
	Targets    []struct {
		Expr       string
		Datasource *struct{ Type, UID string }
	}
	Panels []panel // a collapsed row's panels
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON (%v): fix it, or export it again from Grafana", dashboardFile, err)
	}
	return d
}

// allPanels returns ps and the panels of their rows, depth first.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// labelValues matches a Grafana variable query label_values(SELECTOR, label),
// whose selector is PromQL.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// dashboardQueries returns the PromQL of every panel target and of every
// query variable's label_values selector.
func dashboardQueries(t *testing.T, d dashboard) []query {
	var qs []query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		s, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			s, _ = m["query"].(string)
		}
		if m := labelValues.FindStringSubmatch(s); m != nil {
			qs = append(qs, query{"variable " + v.Name, m[1]})
		}
	}
	for _, p := range allPanels(d.Panels) {
		for i, tg := range p.Targets {
			qs = append(qs, query{"panel " + p.Title + " target " + string(rune('A'+i)), tg.Expr})
		}
	}
	if len(qs) < 20 {
		t.Fatalf("%s: only %d queries found; has the dashboard model's layout changed (panels[].targets[].expr)?", dashboardFile, len(qs))
	}
	return qs
}

// ruleGroups is a Prometheus rules file.
type ruleGroups struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert, Record, Expr string
			For                 string
			Labels, Annotations map[string]string
		}
	}
}

func readRules(t *testing.T) ruleGroups {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var g ruleGroups
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s is not valid YAML (%v): fix it, then check it with promtool check rules", alertsFile, err)
	}
	return g
}

func alertQueries(t *testing.T, g ruleGroups) []query {
	var qs []query
	for _, gr := range g.Groups {
		for _, r := range gr.Rules {
			qs = append(qs, query{"alert " + r.Alert + r.Record, r.Expr})
		}
	}
	if len(qs) == 0 {
		t.Fatalf("%s has no rules", alertsFile)
	}
	return qs
}

// TestQueriedMetricsAreExported fails on a query, of the dashboard or of an
// alert rule, that names a series riskd does not export: such a panel stays
// empty and such an alert never fires, silently.
func TestQueriedMetricsAreExported(t *testing.T) {
	exported := exportedSeries(t)
	for _, src := range []struct {
		file    string
		queries []query
	}{
		{dashboardFile, dashboardQueries(t, readDashboard(t))},
		{alertsFile, alertQueries(t, readRules(t))},
	} {
		for _, q := range src.queries {
			names := metricNames(q.expr)
			if len(names) == 0 {
				t.Errorf("%s, %s: %q queries no riskd_ metric", src.file, q.where, q.expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("%s, %s: %s is not a series riskd exports (histograms are queried as _bucket, _sum or _count); use one of the names in pipeline/stream/metrics.go or storage/sink/sink.go, or export it first", src.file, q.where, n)
				}
			}
		}
	}
}
