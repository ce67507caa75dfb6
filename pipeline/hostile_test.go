package pipeline_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
)

// TestHostileInputChangesNothingForOthers mixes hostile events into the
// middle of the shipped traffic, in one block where a forged clock jump
// would do the most harm: 1,000 failed logins dated in the year 2100,
// 1,000 dated 45 days ahead of the stream and a chain of 200 each a day
// after the last (behind the wall clock, so only the stream clock stands in
// their way), each from its own account, a
// token used with 400 KB device ids, a 10 MB event, ids that are not UTF-8
// and years 0000 and 9999. Every decision about the traffic's own users
// must be exactly what the clean traffic gets, every attack is still
// caught, and the huge ids are tracked without growing the decision.
func TestHostileInputChangesNothingForOthers(t *testing.T) {
	traffic, labels := testenv.ShippedTraffic(t)
	mixed, err := scenario.Hostile(traffic, scenario.DefaultHostile())
	if err != nil {
		t.Fatal(err)
	}
	clean, _ := testenv.ReplayAll(t, traffic, true)
	got, sum := testenv.ReplayAll(testenv.Quiet{T: t}, mixed, true)
	t.Logf("%s", sum)
	testenv.CheckDecisions(t, got)

	want := map[string]string{}
	for _, d := range clean {
		want[d.DecisionID] = decisionKey(t, d)
	}
	seen := 0
	var bigID []rules.Decision
	for _, d := range got {
		if strings.HasPrefix(d.UserID, scenario.HostilePrefix) {
			if strings.HasPrefix(d.UserID, scenario.HostilePrefix+"bigid") {
				bigID = append(bigID, d)
			}
			continue
		}
		seen++
		if w, ok := want[d.DecisionID]; !ok {
			t.Errorf("decision on %s (event %s) that the clean traffic does not get: %s", d.Subject, d.EventID, decisionKey(t, d))
		} else if g := decisionKey(t, d); g != w {
			t.Errorf("decision on event %s changed:\n got %s\nwant %s", d.EventID, g, w)
		}
	}
	if seen != len(clean) {
		t.Errorf("%d decisions about the traffic's users, want the clean traffic's %d", seen, len(clean))
	}
	testenv.CheckReport(t, scenario.Score(labels, got))

	// The 1,000 from 2100 and the one from 9999, a valid year but not a
	// time that has come.
	if n := sum.Rejections["future_ts"]; n != 1001 {
		t.Errorf("%d events refused as future_ts, want the 1000 dated 2100 and the one from 9999", n)
	}
	replay := false
	for _, d := range bigID {
		b, _ := json.Marshal(d)
		if len(b) > 4096 {
			t.Errorf("decision on 400 KB ids is %d bytes: ids are not bounded", len(b))
		}
		for _, r := range d.Reasons {
			replay = replay || r.Detector == "token_replay"
		}
	}
	if !replay {
		t.Errorf("a token used from another (huge) device id was not caught as token_replay: %d decisions", len(bigID))
	}
}

// TestLongForgedBurst mixes in a block of forged events longer than the
// clocks' window (4,200 dated 45 days ahead, in a row, from as many
// accounts): the head jumps to them, but they never make up the expiry
// clock's window, so no one's state expires and no decision about the
// traffic's users changes.
func TestLongForgedBurst(t *testing.T) {
	traffic, _ := testenv.ShippedTraffic(t)
	mixed, err := scenario.Hostile(traffic, scenario.HostileOptions{Ahead: 4200, AheadBy: 45 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	clean, _ := testenv.ReplayAll(t, traffic, true)
	got, sum := testenv.ReplayAll(testenv.Quiet{T: t}, mixed, true)
	want := map[string]string{}
	for _, d := range clean {
		want[d.DecisionID] = decisionKey(t, d)
	}
	for _, d := range got {
		if !strings.HasPrefix(d.UserID, scenario.HostilePrefix) && want[d.DecisionID] != decisionKey(t, d) {
			t.Errorf("decision on event %s changed or new", d.EventID)
		}
	}
	if sum.State.UserExpirations != 0 {
		t.Errorf("%d users expired", sum.State.UserExpirations)
	}
}

// decisionKey is what must not change: everything but decided_at.
func decisionKey(t *testing.T, d rules.Decision) string {
	t.Helper()
	d.DecidedAt = d.TS
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
