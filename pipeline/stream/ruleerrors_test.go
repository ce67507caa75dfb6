package stream_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskd/riskd/alerting"
	"github.com/riskd/riskd/internal/streamtest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline/stream"
)

// TestStreamRuleErrors streams the shipped traffic with a rule pack that
// has, besides the shipped rules, one that fails on every event
// (int(event.currency) of "" or "EUR"): every event is still decided by
// the other rules, every attack caught, nothing goes to the dead-letter
// topic for it, and riskd_rule_errors_total counts the failures.
func TestStreamRuleErrors(t *testing.T) {
	set := rulesWith(t, map[string]string{"broken.yaml": `rules:
  - id: currency-as-int
    description: A rule whose expression fails at run time on every event.
    detector: velocity
    when: int(event.currency) > 0
    action: lockout
    subject: user
    score: 90
    expires: 1h
`})
	for _, b := range streamtest.Brokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			tp := streamtest.NewTopics(t, b)
			recs, data := streamtest.TrafficRecords(t, tp)
			want, sum := testenv.ReplayAll(t, data, true)
			ipDecisions := 0 // the address stage's come last, after its hold
			for _, d := range want {
				if d.Subject.Kind == "ip" {
					ipDecisions++
				}
			}
			streamtest.Produce(t, b, recs)
			before := metricValue(streamtest.Metrics.RuleErrors.WithLabelValues("currency-as-int"))
			stop := streamtest.Run(streamtest.NewMemberWith(t, b, tp, "riskd-"+tp.Auth, true, func(c *stream.Config) { c.Rules = set }))
			got := streamtest.Consume(t, b, tp.Decisions, 2*time.Minute, func(r []*kgo.Record) bool {
				ips := 0
				for _, rec := range r {
					if recordHeaders(rec)[alerting.HeaderSubject] == "ip" {
						ips++
					}
				}
				return len(eventIDs(r)) >= sum.Accepted && ips >= ipDecisions
			})
			dlq := streamtest.Consume(t, b, tp.DLQ, 2*time.Second, streamtest.Quiet(time.Second))
			if err, _ := stop(); err != nil {
				t.Fatal(err)
			}
			byID, _ := streamtest.DecisionIDs(t, got)
			for _, d := range byID {
				for _, r := range d.Reasons {
					if r.Rule == "currency-as-int" {
						t.Fatalf("the failing rule fired on %s", d.EventID)
					}
				}
			}
			if n := len(eventIDs(got)); n != sum.Accepted {
				t.Errorf("%d of %d events decided", n, sum.Accepted)
			}
			streamtest.CheckCaught(t, byID)
			if len(dlq) != 0 {
				t.Errorf("%d dead letters, want none", len(dlq))
			}
			// The user stage evaluates it on every event; the address
			// stage never (it is a user-subject rule of the user stage).
			errs := metricValue(streamtest.Metrics.RuleErrors.WithLabelValues("currency-as-int")) - before
			t.Logf("riskd_rule_errors_total{rule=currency-as-int} went up by %v for %d events", errs, sum.Accepted)
			if errs < float64(sum.Accepted) {
				t.Errorf("riskd_rule_errors_total counted %v failures for %d events", errs, sum.Accepted)
			}
		})
	}
}
