package stream_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/pipeline/stream"
)

// testLogins returns n logins of users u-0..u-22 from second sec on, keyed by
// user, and their ids.
func testLogins(tp streamtest.Topics, prefix string, n, sec int) ([]*kgo.Record, map[string]bool) {
	var recs []*kgo.Record
	ids := map[string]bool{}
	for i := range n {
		id, user := fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("u-%d", i%23)
		recs = append(recs, authRecord(tp, user, testLogin(id, user, sec+i, "")))
		ids[id] = true
	}
	return recs, ids
}

// TestStreamStallAndLag makes the broker refuse every decision for a while
// (a retriable error, as a topic with too few in-sync replicas would): the
// partitions count as stalled after StallTimeout, the lag (high watermark
// minus committed offset) shows the events not committed, and nothing is
// committed. Once the broker accepts again, every event is decided, the
// stall ends and the lag falls to 0 with the commit. Then the broker
// refuses again and the stream is stopped: the drain report names the
// abandoned partitions instead of saying all was committed.
func TestStreamStallAndLag(t *testing.T) {
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			tp := streamtest.NewTopics(t, b)
			rt := &refusingTransport{RoundTripper: kafka.DefaultTransport, topic: tp.Decisions}
			rt.on.Store(true)
			group := "riskd-" + tp.Auth
			inputs := []string{tp.Auth, tp.Txn}
			s := streamtest.NewMemberWith(t, b, tp, group, true, func(c *stream.Config) {
				w := alerting.NewWriter(b.Addrs, alerting.WithTransport(rt))
				t.Cleanup(func() { w.Close() })
				c.Writer = w
				c.StallTimeout = time.Second
				c.DrainTimeout = 2 * time.Second
			})
			recs, ids := testLogins(tp, "ev-a", 40, 0)
			streamtest.Produce(t, b, recs)
			stalledBefore := metricValue(streamtest.Metrics.Stalled.WithLabelValues("user"))
			stop := streamtest.Run(s)

			deadline := time.Now().Add(30 * time.Second)
			for s.Stalled() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no partition stalled while the broker refused every decision")
				}
				time.Sleep(50 * time.Millisecond)
			}
			l := waitLag(t, inputs, 10*time.Second, func(l float64) bool { return l >= 40 }, "the 40 events not committed")
			t.Logf("stalled: %d partitions (gauge %v), lag %v", s.Stalled(), metricValue(streamtest.Metrics.Stalled.WithLabelValues("user"))-stalledBefore, l)

			rt.on.Store(false)
			got := streamtest.Consume(t, b, tp.Decisions, time.Minute, func(r []*kgo.Record) bool { return len(eventIDs(r)) >= len(ids) })
			for id := range ids {
				if !eventIDs(got)[id] {
					t.Errorf("event %s not decided after the broker came back", id)
				}
			}
			waitCommitted(t, b, group, 30*time.Second, inputs...)
			waitLag(t, inputs, 10*time.Second, func(l float64) bool { return l == 0 }, "0 after the commit")
			if n := s.Stalled(); n != 0 {
				t.Errorf("%d partitions still stalled", n)
			}
			if g := metricValue(streamtest.Metrics.Stalled.WithLabelValues("user")); g != stalledBefore {
				t.Errorf("riskd_partitions_stalled{stage=user} = %v after recovery, want %v", g, stalledBefore)
			}

			// Refused again, and stopped: the drain cannot finish.
			rt.on.Store(true)
			more, _ := testLogins(tp, "ev-b", 10, 100)
			streamtest.Produce(t, b, more)
			waitLag(t, inputs, 20*time.Second, func(l float64) bool { return l >= 10 }, "the new events")
			err, took := stop()
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			r, ok := s.LastDrain()
			t.Logf("stopped in %s: %v", took.Round(time.Millisecond), r)
			if !ok || r.Clean() || len(r.Abandoned) == 0 || !strings.HasPrefix(r.Abandoned[0], "user/") {
				t.Errorf("drain report %+v says nothing was abandoned", r)
			}
		})
	}
}
