package testenv

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/riskd/riskd/rules"
)

// decisionSchema is testdata/schema/decision.v1.schema.json, compiled once
// for all the tests of a package that check the decisions they make.
var decisionSchema struct {
	once sync.Once
	sch  *jsonschema.Schema
}

// DecisionSchema returns the compiled decision schema, or fails t.
func DecisionSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	decisionSchema.once.Do(func() { decisionSchema.sch = Schema(t, "decision.v1.schema.json") })
	if decisionSchema.sch == nil {
		t.Fatal("testdata/schema/decision.v1.schema.json did not compile (see the first test that loaded it)")
	}
	return decisionSchema.sch
}

// maxSchemaErrors bounds how many invalid decisions one check reports: one
// encoder bug makes every decision invalid.
const maxSchemaErrors = 5

// CheckDecisionLines fails t for each item whose value (a decision's JSON,
// as written to the decisions topic or a JSON Lines file) does not
// validate against the decision schema. It returns how many it checked,
// so that a test can tell an empty check from a passed one.
func CheckDecisionLines[T any](t testing.TB, items []T, value func(T) []byte) int {
	t.Helper()
	sch := DecisionSchema(t)
	bad := 0
	for _, it := range items {
		line := value(it)
		if why := Validate(sch, line); why != "" {
			if bad++; bad <= maxSchemaErrors {
				t.Errorf("decision not valid against decision.v1.schema.json: %s\n%.500s", why, line)
			}
		}
	}
	if bad > maxSchemaErrors {
		t.Errorf("%d of %d decisions not valid against decision.v1.schema.json", bad, len(items))
	}
	return len(items)
}

// CheckDecisions is CheckDecisionLines for decisions in memory, encoded as
// riskd writes them.
func CheckDecisions(t testing.TB, ds []rules.Decision) int {
	t.Helper()
	return CheckDecisionLines(t, ds, func(d rules.Decision) []byte {
		b, err := json.Marshal(&d)
		if err != nil {
			t.Errorf("decision %s: %v", d.DecisionID, err)
		}
		return b
	})
}

// CheckDecisionJSONL is CheckDecisionLines for the non-blank lines of
// JSON Lines output (riskd replay's, a golden case's).
func CheckDecisionJSONL(t testing.TB, data []byte) int {
	t.Helper()
	var lines [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, l)
		}
	}
	return CheckDecisionLines(t, lines, func(l []byte) []byte { return l })
}
