package pipeline_test

import (
	"encoding/json"
	"testing"

	"github.com/riskd/riskd/event"
	"github.com/riskd/riskd/internal/testenv"
)

// TestShippedEventsMatchSchema holds every event the project ships (the
// labelled traffic, the rule samples) to the event schema: each line the
// decoder accepts, the schema accepts, and the other way round.
func TestShippedEventsMatchSchema(t *testing.T) {
	sch := testenv.Schema(t, "event.v1.schema.json")
	for _, pattern := range []string{"testdata/scenarios/traffic.jsonl", "rules/samples.jsonl", "rules/testdata/*.jsonl"} {
		where, ls := testenv.Lines(t, pattern)
		for i, l := range ls {
			_, err := event.Decode(l)
			why := testenv.Validate(sch, l)
			if (err == nil) != (why == "") {
				t.Errorf("%s: decoder says %v, schema says %q", where[i], err, why)
			}
		}
	}
}

// TestDecisionsMatchSchema holds the decisions riskd writes to the
// decision schema: every decision of a replay of the shipped traffic
// (allow included) and every expected decision of the golden cases.
func TestDecisionsMatchSchema(t *testing.T) {
	sch := testenv.Schema(t, "decision.v1.schema.json")
	data, _ := testenv.ShippedTraffic(t)
	ds, _ := testenv.ReplayAll(t, data, true)
	if len(ds) < 1000 {
		t.Fatalf("only %d decisions", len(ds))
	}
	kinds := map[string]int{}
	for _, d := range ds {
		b, err := json.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		kinds[d.Subject.Kind]++
		if why := testenv.Validate(sch, b); why != "" {
			t.Fatalf("decision %s: %s\n%s", d.DecisionID, why, b)
		}
	}
	where, ls := testenv.Lines(t, "testdata/golden/*/expected.jsonl")
	for i, l := range ls {
		if why := testenv.Validate(sch, l); why != "" {
			t.Errorf("%s: %s", where[i], why)
		}
	}
	t.Logf("%d replayed decisions (by subject kind %v) and %d golden ones valid", len(ds), kinds, len(ls))
}
