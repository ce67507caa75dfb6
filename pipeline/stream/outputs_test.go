package stream_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline/stream"
	"github.com/riskd/riskd/rules"
)

// poisonUser is the user whose decisions rulesWith's poison rule makes
// larger than poisonBytes.
const (
	poisonUser  = "poison-user"
	poisonBytes = 12000
)

// rulesWith returns the shipped rules plus the rule files given (name →
// YAML), loaded from a temporary folder.
func rulesWith(t *testing.T, extra map[string]string) *rules.Set {
	t.Helper()
	return testenv.LoadRules(t, testenv.EditedRules(t, func(_, text string) string { return text }, extra))
}

// poisonRules has a rule firing on poisonUser only, whose description (the
// decision's summary, as its detector did not fire) makes the decision
// larger than poisonBytes.
func poisonRules(t *testing.T) *rules.Set {
	return rulesWith(t, map[string]string{"poison.yaml": fmt.Sprintf(`rules:
  - id: poison-lockout
    description: %s
    detector: failed_login_burst
    when: event.user_id == %q
    action: lockout
    subject: user
    score: 10
    expires: 1m
`, strings.Repeat("p", poisonBytes), poisonUser)})
}

// testLogin is a successful login event of user at second sec of the test
// day, with extra fields (raw JSON, may be empty) in front.
func testLogin(id, user string, sec int, extra string) []byte {
	ts := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
	return []byte(fmt.Sprintf(`{%s"event_id":%q,"type":"login","ts":%q,"user_id":%q,"ip":"24.12.6.%d","device_id":"dev-%s","outcome":"success","user_agent":"test","app":{"platform":"ios","version":"5.2.1"}}`,
		extra, id, ts.Format(time.RFC3339), user, 10+sec%200, user))
}

// authRecord puts value on the auth topic, keyed by key.
func authRecord(tp streamtest.Topics, key string, value []byte) *kgo.Record {
	return &kgo.Record{Topic: tp.Auth, Key: []byte(key), Value: value}
}

// recordHeaders returns r's headers as a map.
func recordHeaders(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// waitCommitted waits until group has committed the end offset of every
// partition of topics, and fails t after timeout.
func waitCommitted(t *testing.T, b streamtest.Broker, group string, timeout time.Duration, topics ...string) {
	t.Helper()
	adm := kadm.NewClient(streamtest.Client(t, b))
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ends, err1 := adm.ListEndOffsets(ctx, topics...)
		committed, err2 := adm.FetchOffsets(ctx, group)
		cancel()
		behind := []string{}
		if err1 == nil && err2 == nil {
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := committed.Lookup(o.Topic, o.Partition)
				if o.Offset > 0 && (!ok || c.At < o.Offset) {
					behind = append(behind, fmt.Sprintf("%s/%d at %d of %d", o.Topic, o.Partition, c.At, o.Offset))
				}
			})
			if len(behind) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("offsets not committed after %s: %v (errors %v, %v)", timeout, behind, err1, err2)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricValue reads a counter's or gauge's value.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// lagSum sums riskd_consumer_lag_messages over the partitions of topics.
func lagSum(topics []string, partitions int) float64 {
	sum := 0.0
	for _, tp := range topics {
		for p := range partitions {
			sum += metricValue(streamtest.Metrics.Lag.WithLabelValues(tp, strconv.Itoa(p)))
		}
	}
	return sum
}

// eventIDs returns the event ids decided in recs.
func eventIDs(recs []*kgo.Record) map[string]bool { return streamtest.Seen(recs, "event_id") }

// refusingTransport fails every produce request to one topic while on, as
// a broker that keeps refusing it would (NotEnoughReplicas, retriable).
type refusingTransport struct {
	kafka.RoundTripper
	topic string
	on    atomic.Bool
}

func (r *refusingTransport) RoundTrip(ctx context.Context, addr net.Addr, req protocol.Message) (protocol.Message, error) {
	if p, ok := req.(*produce.Request); ok && r.on.Load() {
		for _, tp := range p.Topics {
			if tp.Topic == r.topic {
				return nil, kafka.NotEnoughReplicas
			}
		}
	}
	return r.RoundTripper.RoundTrip(ctx, addr, req)
}

// poisonCase is an input whose outputs cannot all be written, and what its
// dead letter must be.
type poisonCase struct {
	name   string
	value  []byte
	reason string
	whole  bool // the dead letter carries the input whole; else cut, with riskd-trimmed
}

// poisonTraffic returns the poison inputs, each followed by normal logins
// of other users, as records (keyed by the case name or the user), and the
// ids of the normal logins and of the poison events that still get a
// decision.
func poisonTraffic(tp streamtest.Topics, cases []poisonCase) (recs []*kgo.Record, decided map[string]bool) {
	decided = map[string]bool{}
	sec := 0
	for i, pc := range cases {
		recs = append(recs, authRecord(tp, pc.name, pc.value))
		for j := range 10 {
			sec++
			id, user := fmt.Sprintf("ev-after-%d-%d", i, j), fmt.Sprintf("u-%d", (i*10+j)%23)
			recs = append(recs, authRecord(tp, user, testLogin(id, user, 100+sec, "")))
			decided[id] = true
		}
	}
	return recs, decided
}

// checkDeadLetters checks that the dead-letter topic holds one dead letter
// per case, as the case says, each within limit bytes.
func checkDeadLetters(t *testing.T, dlq []*kgo.Record, cases []poisonCase, source string, limit int) {
	t.Helper()
	byKey := map[string]*kgo.Record{}
	for _, r := range dlq {
		byKey[string(r.Key)] = r
	}
	if len(dlq) != len(cases) {
		t.Errorf("%d dead letters, want %d", len(dlq), len(cases))
	}
	for _, pc := range cases {
		r := byKey[pc.name]
		if r == nil {
			t.Errorf("%s: no dead letter", pc.name)
			continue
		}
		h := recordHeaders(r)
		size := len(r.Key) + len(r.Value)
		for k, v := range h {
			size += len(k) + len(v)
		}
		switch {
		case h[alerting.HeaderReason] != pc.reason:
			t.Errorf("%s: reason %q, want %q (%s)", pc.name, h[alerting.HeaderReason], pc.reason, h[alerting.HeaderError])
		case h[alerting.HeaderTopic] != source || h[alerting.HeaderOffset] == "" || h[alerting.HeaderError] == "":
			t.Errorf("%s: headers %v lack the source or the error", pc.name, h)
		case size > limit:
			t.Errorf("%s: dead letter of %d bytes, over %d", pc.name, size, limit)
		case pc.whole && (string(r.Value) != string(pc.value) || h[alerting.HeaderTrimmed] != ""):
			t.Errorf("%s: the dead letter does not carry the input whole (%d of %d bytes)", pc.name, len(r.Value), len(pc.value))
		case !pc.whole && (h[alerting.HeaderTrimmed] != strconv.Itoa(len(pc.value)) || !strings.HasPrefix(string(pc.value), string(r.Value))):
			t.Errorf("%s: %s = %q, want the input's %d bytes, and a prefix of it", pc.name, alerting.HeaderTrimmed, h[alerting.HeaderTrimmed], len(pc.value))
		}
		t.Logf("%s: %s: %s (%d bytes)", pc.name, h[alerting.HeaderReason], h[alerting.HeaderError], size)
	}
}

// waitLag waits until the lag gauge of topics (4 partitions) satisfies ok.
func waitLag(t *testing.T, topics []string, timeout time.Duration, ok func(float64) bool, what string) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := lagSum(topics, 4)
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag %v after %s: want %s", l, timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStreamPoisonOutput streams inputs whose outputs are over
// MaxMessageBytes (8 KiB here), each followed by ordinary logins: a
// decision too large (a rule with a 12 KB summary), an observation and a
// feature record too large (a padded login), an input too large itself
// and an invalid one too large. Each goes to the dead-letter topic with
// its reason, whole or cut to fit; every later event is decided, the
// offsets are committed and the lag comes back to 0.
func TestStreamPoisonOutput(t *testing.T) {
	const limit = 8192
	pad := func(n int) string { return `"pad":"` + strings.Repeat("z", n) + `",` }
	huge := min(100_000, event.MaxEventBytes-1000)
	cases := []poisonCase{
		{"decision-too-large", testLogin("ev-poison", poisonUser, 1, ""), stream.ReasonOutputTooLarge, true},
		// Its binary observation is a few hundred bytes over the input, less
		// than a dead letter's headers: the dead letter is cut.
		{"observation-too-large", testLogin("ev-padded", "u-padded", 2, pad(7700)), stream.ReasonOutputTooLarge, false},
		{"invalid-and-too-large", []byte(`{"event_id":"` + strings.Repeat("j", 200_000)), event.ReasonInvalidJSON, false},
	}
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			tp := streamtest.NewTopics(t, b)
			recs, decided := poisonTraffic(tp, cases)
			// A login padded far past the limit is forwarded to the address
			// stage as its bounded fields (event.Encode), not dead-lettered:
			// padding must not hide a spray attempt.
			recs = append(recs, &kgo.Record{Topic: tp.Auth, Key: []byte("u-huge"), Value: testLogin("ev-huge", "u-huge", 3, pad(huge))})
			decided["ev-padded"], decided["ev-huge"] = true, true // their decisions are small
			streamtest.Produce(t, b, recs)
			group := "riskd-" + tp.Auth
			s := streamtest.NewMemberWith(t, b, tp, group, true, func(c *stream.Config) {
				c.Rules = poisonRules(t)
				c.MaxMessageBytes = limit
				c.FeaturesTopic = "features-" + tp.Auth
			})
			stop := streamtest.Run(s)
			ids, dlq := readPoisoned(t, b, tp, decided, len(cases))
			if ids["ev-poison"] {
				t.Error("the decision over the limit was written")
			}
			checkDeadLetters(t, dlq, cases, tp.Auth, limit)
			for _, r := range dlq {
				if bytes.Contains(r.Value, []byte(`"ev-huge"`)) {
					t.Error("the padded login was dead-lettered, out of the address stage's sight")
				}
			}
			waitCommitted(t, b, group, 30*time.Second, tp.Auth, tp.Txn)
			waitLag(t, []string{tp.Auth, tp.Txn}, 10*time.Second, func(l float64) bool { return l == 0 }, "0 once everything is committed")
			if n := s.Stalled(); n != 0 {
				t.Errorf("%d partitions stalled", n)
			}
			if err, _ := stop(); err != nil {
				t.Fatal(err)
			}
			if r, ok := s.LastDrain(); !ok || !r.Clean() {
				t.Errorf("drain: %v (%v)", r, ok)
			}
		})
	}
}

// readPoisoned reads the decisions until every event of decided has one
// (failing t for those that have none) and the dead letters until there
// are letters of them, and returns the decided event ids and the letters.
func readPoisoned(t *testing.T, b streamtest.Broker, tp streamtest.Topics, decided map[string]bool, letters int) (map[string]bool, []*kgo.Record) {
	t.Helper()
	got := streamtest.Consume(t, b, tp.Decisions, time.Minute, func(r []*kgo.Record) bool { return len(eventIDs(r)) >= len(decided) })
	dlq := streamtest.Consume(t, b, tp.DLQ, 30*time.Second, func(r []*kgo.Record) bool { return len(r) >= letters })
	ids := eventIDs(got)
	for id := range decided {
		if !ids[id] {
			t.Errorf("event %s not decided", id)
		}
	}
	return ids, dlq
}

// TestStreamBrokerRefusesSize writes decisions to a topic whose
// max.message.bytes (4 KiB) is below MaxMessageBytes, so that the broker
// itself refuses the 12 KB decision (MessageSizeTooLarge), and the
// batches of ordinary decisions larger than 4 KiB with it: the refused
// decision's input goes to the dead-letter topic, the ordinary ones are
// written alone, and every later event is decided and committed.
func TestStreamBrokerRefusesSize(t *testing.T) {
	cases := []poisonCase{{"decision-too-large", testLogin("ev-poison", poisonUser, 1, ""), stream.ReasonOutputTooLarge, true}}
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			n := streamtest.Names(b.Name, "auth", "txn", "decisions", "dlq", "ip")
			tp := streamtest.Topics{Auth: n[0], Txn: n[1], Decisions: n[2], DLQ: n[3], IP: n[4]}
			streamtest.CreateTopics(t, b, 4, tp.Auth, tp.Txn)
			streamtest.CreateTopics(t, b, 2, tp.DLQ)
			small := "4096"
			streamtest.CreateTopicsWith(t, b, 2, map[string]*string{"max.message.bytes": &small}, tp.Decisions)
			recs, decided := poisonTraffic(tp, cases)
			streamtest.Produce(t, b, recs)
			permanent := metricValue(streamtest.Metrics.WriteErrors.WithLabelValues("permanent"))
			group := "riskd-" + tp.Auth
			s := streamtest.NewMemberWith(t, b, tp, group, true, func(c *stream.Config) { c.Rules = poisonRules(t) })
			stop := streamtest.Run(s)
			_, dlq := readPoisoned(t, b, tp, decided, len(cases))
			checkDeadLetters(t, dlq, cases, tp.Auth, stream.DefaultMaxMessageBytes)
			if len(dlq) > 0 && !strings.Contains(recordHeaders(dlq[0])[alerting.HeaderError], "refused by the broker") {
				t.Errorf("riskd-error %q does not say the broker refused it", recordHeaders(dlq[0])[alerting.HeaderError])
			}
			waitCommitted(t, b, group, 30*time.Second, tp.Auth, tp.Txn)
			if d := metricValue(streamtest.Metrics.WriteErrors.WithLabelValues("permanent")) - permanent; d < 1 {
				t.Errorf("riskd_output_write_errors_total{kind=permanent} went up by %v", d)
			}
			if err, _ := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
