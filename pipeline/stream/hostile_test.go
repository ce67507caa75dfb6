package stream_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
)

// TestStreamHostile streams the shipped traffic with hostile events mixed
// into its middle (see TestHostileInputChangesNothingForOthers; all but
// the 10 MB event, which a broker with default limits refuses from the
// producer already) through brokers with default message limits: the
// decisions are replay's, every attack is caught, the refused events are
// on the dead-letter topic with their reasons, and the stream drains.
func TestStreamHostile(t *testing.T) {
	traffic, _ := testenv.ShippedTraffic(t)
	o := scenario.DefaultHostile()
	o.HugeEvent = 0
	mixed, err := scenario.Hostile(traffic, o)
	if err != nil {
		t.Fatal(err)
	}
	want, sum := testenv.ReplayAll(testenv.Quiet{T: t}, mixed, false)
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			tp := streamtest.NewTopics(t, b)
			streamtest.Produce(t, b, mixedRecords(t, tp, mixed))
			stop := streamtest.Run(streamtest.NewMember(t, b, tp, "riskd-"+tp.Auth, false))
			got := streamtest.Consume(t, b, tp.Decisions, 2*time.Minute, streamtest.HaveAll(want))
			dlq := streamtest.Consume(t, b, tp.DLQ, time.Minute, func(r []*kgo.Record) bool { return len(r) >= sum.Rejected })
			if err, took := stop(); err != nil {
				t.Fatalf("stop: %v after %s", err, took)
			}
			byID, n := streamtest.DecisionIDs(t, got)
			testenv.CheckDecisionLines(t, got, func(r *kgo.Record) []byte { return r.Value })
			for _, d := range want {
				if _, ok := byID[d.DecisionID]; !ok {
					t.Errorf("missing %s %s on %v", d.EventID, d.Action, d.Subject)
				}
			}
			t.Logf("%d decisions read (replay: %d), %d dead letters (replay rejected %d)", n, len(want), len(dlq), sum.Rejected)
			streamtest.CheckCaught(t, byID)
			reasons := map[string]int{}
			for _, r := range dlq {
				for _, h := range r.Headers {
					if h.Key == "riskd-reason" {
						reasons[string(h.Value)]++
					}
				}
			}
			for reason, n := range sum.Rejections {
				if reasons[reason] != n {
					t.Errorf("%d dead letters with reason %s, replay rejected %d", reasons[reason], reason, n)
				}
			}
		})
	}
}

// mixedRecords keys each line by its user_id and puts transactions on the
// txn topic, as trafficRecords does; a line whose head does not parse goes
// to the auth topic keyed "bad".
func mixedRecords(t *testing.T, tp streamtest.Topics, data []byte) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var head struct {
			Type   string `json:"type"`
			UserID string `json:"user_id"`
		}
		key := "bad"
		if json.Unmarshal(line, &head) == nil && strings.ToValidUTF8(head.UserID, "") == head.UserID {
			key = head.UserID
		}
		topic := tp.Auth
		if head.Type == "transaction" {
			topic = tp.Txn
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: line})
	}
	return recs
}
