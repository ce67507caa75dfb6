package main

// The demo's traffic side: the labelled events produced as upstream
// services would, the downstream consumer that reads the decisions, and
// the figures of the report.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/rules"
)

// demoTraffic reads the labelled traffic, or generates it when the files
// are not there (riskd demo run outside the repository).
func demoTraffic(events, labelsPath string, say func(string, ...any)) ([][]byte, scenario.Labels, error) {
	var labels scenario.Labels
	data, err := os.ReadFile(events)
	if err == nil {
		var lb []byte
		if lb, err = os.ReadFile(labelsPath); err == nil {
			err = json.Unmarshal(lb, &labels)
		}
	}
	if err != nil {
		say("%v: generating the sample traffic in memory", err)
		evs, l := scenario.Generate(scenario.DefaultOptions())
		if data, err = scenario.MarshalLines(evs); err != nil {
			return nil, labels, err
		}
		labels = l
	}
	var lines [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, l)
		}
	}
	return lines, labels, nil
}

// produceTraffic writes the events at rate per second (0: unpaced), in
// chunks, recording when each was acknowledged.
func produceTraffic(ctx context.Context, w *kafka.Writer, traffic [][]byte, rate int, down *downstream, progress func(int)) error {
	const chunk = 250
	start := time.Now()
	for i := 0; i < len(traffic); i += chunk {
		batch := traffic[i:min(i+chunk, len(traffic))]
		msgs := make([]kafka.Message, len(batch))
		ids := make([]string, len(batch))
		for j, line := range batch {
			var head struct {
				ID     string `json:"event_id"`
				Type   string `json:"type"`
				UserID string `json:"user_id"`
			}
			_ = json.Unmarshal(line, &head)
			topic := "auth-events"
			if head.Type == "transaction" {
				topic = "txn-events"
			}
			msgs[j] = kafka.Message{Topic: topic, Key: []byte(head.UserID), Value: line}
			ids[j] = head.ID
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Until(due)):
			}
		}
		sent := time.Now()
		down.sent(ids, sent)
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		progress(i + len(batch))
	}
	return nil
}

// downstream is the demo's decision consumer.
type downstream struct {
	mu        sync.Mutex
	produced  map[string]time.Time // event id → when it was sent
	decisions []rules.Decision
	latencies []time.Duration
	last      time.Time
}

func (d *downstream) sent(ids []string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		d.produced[id] = at
	}
}

func (d *downstream) follow(ctx context.Context, r *kafka.Reader) {
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		var dec rules.Decision
		if json.Unmarshal(m.Value, &dec) != nil {
			continue
		}
		d.mu.Lock()
		d.decisions = append(d.decisions, dec)
		if at, ok := d.produced[dec.EventID]; ok {
			d.latencies = append(d.latencies, now.Sub(at))
		}
		d.last = now
		d.mu.Unlock()
	}
}

func (d *downstream) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.decisions)
}

func (d *downstream) lastAt() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

func (d *downstream) results() ([]rules.Decision, []time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	lat := slices.Clone(d.latencies)
	slices.Sort(lat)
	return slices.Clone(d.decisions), lat
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i].Round(100 * time.Microsecond)
}

func countUsers(traffic [][]byte) int {
	users := map[string]bool{}
	for _, l := range traffic {
		var h struct {
			UserID string `json:"user_id"`
		}
		_ = json.Unmarshal(l, &h)
		users[h.UserID] = true
	}
	return len(users)
}

func rateText(rate int) string {
	if rate <= 0 {
		return "full speed"
	}
	return fmt.Sprintf("%d events/s", rate)
}

// countDecisions lists decisions by action, then subject kind.
func countDecisions(ds []rules.Decision) []string {
	n := map[string]int{}
	for _, d := range ds {
		n[fmt.Sprintf("%-8s on %-6s (%s)", d.Action, d.Subject.Kind, d.Mode)]++
	}
	var out []string
	for k, v := range n {
		out = append(out, fmt.Sprintf("%s %5d", k, v))
	}
	sort.Strings(out)
	return out
}

// metricSummary sums the main riskd_ counters.
func metricSummary(reg *prometheus.Registry) []string {
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	want := []string{"riskd_events_total", "riskd_events_rejected_total", "riskd_detector_signals_total", "riskd_decisions_total",
		"riskd_decisions_suppressed_total", "riskd_rules_breaker_trips_total",
		"riskd_output_messages_total", "riskd_offset_commits_total", "riskd_ip_hold_timeouts_total", "riskd_state_evictions_total"}
	var out []string
	for _, name := range want {
		var total float64
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					total += counterValue(m)
				}
			}
		}
		out = append(out, fmt.Sprintf("%-32s %.0f", name, total))
	}
	return out
}

func counterValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// progress rewrites one line on a terminal and prints a line a second
// otherwise.
type progress struct {
	w    io.Writer
	tty  bool
	last time.Time
}

func newProgress(w io.Writer) *progress { return &progress{w: w, tty: isTerminal(w)} }

func (p *progress) show(format string, a ...any) {
	if time.Since(p.last) < time.Second && !(p.tty && time.Since(p.last) > 100*time.Millisecond) {
		return
	}
	p.last = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K"+format, a...)
		return
	}
	fmt.Fprintf(p.w, "demo: "+format+"\n", a...)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
