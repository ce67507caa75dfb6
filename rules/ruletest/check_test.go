package ruletest_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/rules/ruletest"
)

// TestShippedRulesFireOnSamples checks the built-in samples against the
// shipped pack: no rule fails, none is refused, and with the test GeoIP
// databases every rule (so every detector) fires on them.
func TestShippedRulesFireOnSamples(t *testing.T) {
	set, err := rules.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	db, warns := geoip.Open(testenv.City, testenv.ASN)
	if len(warns) > 0 {
		t.Fatal(warns)
	}
	defer db.Close()
	rep := ruletest.Check(set, ruletest.SplitSamples(rules.SamplesName, rules.Samples()), pipeline.WithGeoCache(db, 1024))
	if !rep.OK() || rep.Rejected > 0 || rep.Events < 300 {
		t.Fatalf("events %d, rejected %d (%s), problems %q", rep.Events, rep.Rejected, rep.Rejection, rep.Problems())
	}
	var fired []string
	for _, r := range set.Rules {
		if rep.Fired[r.ID] == 0 {
			t.Errorf("rule %s never fired on the samples", r.ID)
		} else if !slices.Contains(fired, r.Detector) {
			fired = append(fired, r.Detector)
		}
	}
	for _, id := range detectors.IDs() {
		if !slices.Contains(fired, id) {
			t.Errorf("no rule of detector %s fired on the samples", id)
		}
	}
}

// TestCheckRulesReportsRunTimeErrors runs rules that compile but fail on
// some events, and checks what the report says about each.
func TestCheckRulesReportsRunTimeErrors(t *testing.T) {
	set, err := rules.Parse([]string{"bad.yaml"}, map[string][]byte{"bad.yaml": []byte(`rules:
  - id: currency-as-number
    detector: velocity
    when: int(event.currency) > 0
    action: allow
    subject: user
  - id: fine
    detector: velocity
    when: event.type == "transaction"
    action: allow
    subject: user
  - id: amount-on-transactions
    detector: velocity
    when: |
      event.type == "transaction" &&
      int(event.user_id) > 0
    action: allow
    subject: user
`)})
	if err != nil {
		t.Fatal(err)
	}
	samples := ruletest.SplitSamples("s.jsonl", []byte(`{"event_id":"l1","type":"login","ts":"2026-03-01T10:00:00Z","user_id":"ann","outcome":"success"}

not json
{"event_id":"t1","type":"transaction","ts":"2026-03-01T10:01:00Z","user_id":"ann","txn":{"amount":5,"currency":"EUR"}}
{"event_id":"f1","type":"login","ts":"2999-01-01T00:00:00Z","user_id":"ann","outcome":"success"}
`))
	rep := ruletest.Check(set, samples)
	if rep.Events != 2 || rep.Rejected != 2 || !strings.HasPrefix(rep.Rejection, "s.jsonl:3: ") {
		t.Errorf("events %d rejected %d (%s), want 2 decided and 2 refused, the first at line 3", rep.Events, rep.Rejected, rep.Rejection)
	}
	want := []string{
		`bad.yaml:2: rule "currency-as-number" fails on 2 of 2 sample events, e.g. event l1 (s.jsonl:1): when, line 1 of the condition: invalid operation: int()`,
		`bad.yaml:12: rule "amount-on-transactions" fails on 1 of 2 sample events, e.g. event t1 (s.jsonl:4): when, line 2 of the condition: invalid operation: int(ann)`,
	}
	if got := rep.Problems(); !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.OK() || rep.Fired["fine"] != 1 {
		t.Errorf("fired %v, want the healthy rule to fire once", rep.Fired)
	}
	var silent []string
	for _, r := range rep.Silent(set) {
		silent = append(silent, r.ID)
	}
	if !slices.Equal(silent, []string{"currency-as-number", "amount-on-transactions"}) {
		t.Errorf("silent rules %v", silent)
	}
}
