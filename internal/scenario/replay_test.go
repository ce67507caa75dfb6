package scenario_test

import (
	"fmt"
	"testing"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/testenv"
)

// steppedUpToday is how many benign users today's riskd (d9cfc54, the
// rule pack as shipped) steps up in ShapedOptions' traffic of seeds 1-3:
// the shipped classes' twenty, and the five payroll accounts. Issue 13
// asks for no more.
const steppedUpToday = 25

// TestLookalikesThroughReplay replays the shaped traffic through the
// shipped rules: no benign user is locked out, every look-alike stays
// allow (or stepped up where its label says why that is fair), and no
// more benign users are stepped up than today. The shaped attacks' catch
// rates are logged, not checked: today's detectors miss most of them.
func TestLookalikesThroughReplay(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			o := scenario.ShapedOptions()
			o.Seed = seed
			events, labels := scenario.Generate(o)
			data, err := scenario.MarshalLines(events)
			if err != nil {
				t.Fatal(err)
			}
			ds, _ := testenv.ReplayAll(t, data, false)
			r := scenario.Score(labels, ds)
			t.Logf("\n%s", r)
			if len(r.BenignLockedOut) > 0 {
				t.Errorf("benign users locked out: %v", r.BenignLockedOut)
			}
			for _, l := range r.Lookalikes {
				if !l.OK {
					t.Errorf("look-alike %s (%s): %s, expected %s", l.ID, l.Class, l.Outcome, l.Expect)
				}
			}
			if n := len(r.BenignSteppedUp); n > steppedUpToday {
				t.Errorf("%d benign users stepped up, today %d: %v", n, steppedUpToday, r.BenignSteppedUp)
			}
		})
	}
}
