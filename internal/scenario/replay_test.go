package scenario_test

import (
	"fmt"
	"testing"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/testenv"
)

// TestLookalikesThroughReplay replays the shaped traffic of seeds 1-3
// through the shipped rules: every shaped attack class (patient brute
// force, distributed spray, credential stuffing and its takeovers, patient
// payment fraud) and every shipped one is caught at 90% or more, no benign
// user is locked out, every look-alike stays allow (or stepped up where
// its label says why that is fair), and no more benign users are stepped
// up than before issue 13 (testenv.CheckShapedReport). Other seeds are
// pipeline's TestShapedScenarios.
func TestLookalikesThroughReplay(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			o := scenario.ShapedOptions()
			o.Seed = seed
			ds, labels := testenv.ReplayGenerated(t, o)
			testenv.CheckShapedReport(t, scenario.Score(labels, ds))
		})
	}
}
