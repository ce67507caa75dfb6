package stream_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline/stream"
)

// TestStreamRebalanceMetrics holds the state metrics to what the member
// holds across rebalances. A member with tiny state caps decides the
// traffic alone (evicting thousands of keys), a second member joins and
// leaves, and a few more events follow:
//   - while the second member holds its share, the first exports no state
//     or lag series of the partitions it gave away;
//   - the evictions counted after the rebalances are at most one per event
//     each stage reads since (an event creates at most one key of its
//     stage; the address stage also reads again the observations it held
//     undecided at the rebalance), not the totals of the engines kept across
//     generations counted once more.
func TestStreamRebalanceMetrics(t *testing.T) {
	b := streamtest.Brokers(t)[0]
	tp := streamtest.NewTopics(t, b)
	recs, _ := streamtest.TrafficRecords(t, tp)
	dir := testenv.EditedRules(t, func(name, text string) string {
		text = strings.Replace(text, "max_users: 500000", "max_users: 20", 1)
		return strings.Replace(text, "max_ips: 200000", "max_ips: 20", 1)
	}, nil)
	set := testenv.LoadRules(t, dir)
	group := "riskd-" + tp.Auth
	m1Metrics := stream.NewMetrics(nil)
	m1 := streamtest.NewMemberWith(t, b, tp, group, false, func(c *stream.Config) { c.Rules, c.Metrics = set, m1Metrics })
	m2 := streamtest.NewMemberWith(t, b, tp, group, false, func(c *stream.Config) { c.Rules, c.Metrics = set, stream.NewMetrics(nil) })
	stop1 := streamtest.Run(m1)
	defer stop1()
	head, tail := recs[:len(recs)-40], recs[len(recs)-40:]
	streamtest.Produce(t, b, head)
	waitConsumed(t, m1Metrics, tp, len(head))
	evicted, read := evictions(m1Metrics), stageEvents(m1Metrics, tp)
	if evicted["user"] < 100 || evicted["ip"] < 100 {
		t.Fatalf("caps of 20 keys evicted only %v: the test needs many evictions", evicted)
	}

	stop2 := streamtest.Run(m2)
	waitFor(t, "the members to share the partitions", func() bool {
		return m1.Ready() && m2.Ready() && m1.Partitions() > 0 && m2.Partitions() > 0 && m1.Partitions()+m2.Partitions() == 8
	})
	if n, want := testutil.CollectAndCount(m1Metrics.StateKeys), m1.Partitions(); n > want {
		t.Errorf("first member exports %d state series for its %d partitions", n, want)
	}
	if n, want := testutil.CollectAndCount(m1Metrics.Lag), 3*m1.Partitions(); n > want {
		t.Errorf("first member exports %d lag series for its %d partitions of 3 topics", n, want)
	}
	if err, _ := stop2(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first member to hold every partition again", func() bool { return m1.Ready() && m1.Partitions() == 8 })

	streamtest.Produce(t, b, tail)
	waitConsumed(t, m1Metrics, tp, len(recs))
	after, readAfter := evictions(m1Metrics), stageEvents(m1Metrics, tp)
	for _, stage := range []string{"user", "ip"} {
		n := readAfter[stage] - read[stage]
		if d := after[stage] - evicted[stage]; d > n {
			t.Errorf("%s stage: %v evictions counted for %v events read since (counted %v before the rebalances)", stage, d, n, evicted[stage])
		}
	}
}

func evictions(m *stream.Metrics) map[string]float64 {
	return map[string]float64{
		"user": testutil.ToFloat64(m.Evictions.WithLabelValues("user")),
		"ip":   testutil.ToFloat64(m.Evictions.WithLabelValues("ip")),
	}
}

// waitConsumed waits until m has counted n events from the input topics
// and its eviction counts have stood still for a second (the last batch's
// are counted when it is flushed).
func waitConsumed(t *testing.T, m *stream.Metrics, tp streamtest.Topics, n int) {
	t.Helper()
	waitFor(t, "the events to be consumed", func() bool { return stageEvents(m, tp)["user"] >= float64(n) })
	last, since := evictions(m), time.Now()
	waitFor(t, "the eviction counts to settle", func() bool {
		now := evictions(m)
		if now["user"] != last["user"] || now["ip"] != last["ip"] {
			last, since = now, time.Now()
		}
		return time.Since(since) > time.Second
	})
}

// stageEvents sums riskd_events_total by the stage that read them: the user
// stage reads the input topics, the address stage the observations.
func stageEvents(m *stream.Metrics, tp streamtest.Topics) map[string]float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { m.Events.Collect(ch); close(ch) }()
	total := map[string]float64{}
	for c := range ch {
		var d dto.Metric
		_ = c.Write(&d)
		for _, l := range d.GetLabel() {
			switch {
			case l.GetName() != "topic":
			case l.GetValue() == tp.Auth || l.GetValue() == tp.Txn:
				total["user"] += d.GetCounter().GetValue()
			case l.GetValue() == tp.IP:
				total["ip"] += d.GetCounter().GetValue()
			}
		}
	}
	return total
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
