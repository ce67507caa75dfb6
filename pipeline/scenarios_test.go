package pipeline_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/testenv"
)

// TestShippedScenarios replays the shipped labelled traffic: every attack is
// caught with its detector and at least its action, and no benign user is
// locked out.
func TestShippedScenarios(t *testing.T) {
	data, labels := testenv.ShippedTraffic(t)
	ds, sum := testenv.ReplayAll(t, data, false)
	if sum.Rejected != 0 {
		t.Errorf("%d shipped events rejected", sum.Rejected)
	}
	testenv.CheckReport(t, scenario.Score(labels, ds))
}

// TestGeneratedScenarios checks other seeds of the generator, so the
// defaults are not tuned to one file.
func TestGeneratedScenarios(t *testing.T) {
	for _, seed := range []uint64{2, 3, 4} {
		t.Run("seed"+string(rune('0'+seed)), func(t *testing.T) {
			o := scenario.DefaultOptions()
			o.Seed, o.BenignUsers = seed, 400
			ds, labels := testenv.ReplayGenerated(t, o)
			testenv.CheckReport(t, scenario.Score(labels, ds))
		})
	}
}

// TestShapedScenarios replays the shaped traffic (attacks shaped to stay
// under the short windows' counts, and their benign look-alikes) of seeds
// the rule pack was not tuned on: every class caught at 90% or more, no
// benign user locked out, no look-alike beyond its expectation, no more
// benign users stepped up than before the deeper detectors
// (testenv.CheckShapedReport; seeds 1-3 are scenario's
// TestLookalikesThroughReplay).
func TestShapedScenarios(t *testing.T) {
	for _, seed := range []uint64{4, 5, 6} {
		t.Run("seed"+string(rune('0'+seed)), func(t *testing.T) {
			o := scenario.ShapedOptions()
			o.Seed = seed
			ds, labels := testenv.ReplayGenerated(t, o)
			testenv.CheckShapedReport(t, scenario.Score(labels, ds))
		})
	}
}

// TestShippedTrafficIsCurrent fails when the generator and the shipped file
// have drifted apart: run `make scenarios` and commit.
func TestShippedTrafficIsCurrent(t *testing.T) {
	events, labels := scenario.Generate(scenario.DefaultOptions())
	data, err := scenario.MarshalLines(events)
	if err != nil {
		t.Fatal(err)
	}
	shipped, _ := os.ReadFile(testenv.Traffic)
	lb, _ := json.MarshalIndent(labels, "", "  ")
	shippedLabels, _ := os.ReadFile(testenv.Labels)
	if !bytes.Equal(data, shipped) || !bytes.Equal(append(lb, '\n'), shippedLabels) {
		t.Error("testdata/scenarios is stale: run `make scenarios` and commit it")
	}
}
