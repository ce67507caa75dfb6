package pipeline_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/scenario"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/pipeline"
	"github.com/riskd/riskd/pipeline/geoip"
	"github.com/riskd/riskd/rules"
)

// badRule is an analyst's mistake: a lockout on every successful login
// (the condition lost its `&& failed_login_burst.fired`). Its breaker
// counts from 20 events, as a small deployment would set it.
const badRule = `
rules:
  - id: bad-lock-every-login
    description: meant for logins right after a burst of failures
    detector: failed_login_burst
    when: event.type == "login" && event.outcome == "success"
    action: lockout
    subject: user
    score: 90
    expires: 1h
    breaker: {min_events: 20}
`

// TestBreakerStopsBadRule replays the shipped traffic with a rule that
// suddenly locks out every user who logs in: the breaker demotes it to
// shadow after a handful of lockouts, its later decisions are shadow and
// say why, and the other rules go on catching every attack.
func TestBreakerStopsBadRule(t *testing.T) {
	dir := testenv.EditedRules(t, func(_, text string) string { return text }, map[string]string{"bad.yaml": badRule})
	set := testenv.LoadRules(t, dir)
	db, _ := geoip.Open(testenv.City, testenv.ASN)
	var trips []rules.Demotion
	eng := pipeline.NewEngine(set, pipeline.WithGeoCache(db, 4096),
		pipeline.WithBreaker(rules.NewBreaker(func(d rules.Demotion) { trips = append(trips, d) })))
	data, labels := testenv.ShippedTraffic(t)
	var ds []rules.Decision
	if _, err := pipeline.Replay(context.Background(), pipeline.ReplayConfig{
		Engine: eng, Input: bytes.NewReader(data), Now: testenv.Now,
		Output: func(d []rules.Decision) error { ds = append(ds, d...); return nil },
	}); err != nil {
		t.Fatal(err)
	}
	if len(trips) != 1 || trips[0].Rule != "bad-lock-every-login" || !strings.Contains(trips[0].Why, "over the ceiling of 5%") {
		t.Fatalf("trips %+v, want the bad rule demoted for its share of lockouts", trips)
	}
	enforced, shadow := 0, 0
	var others []rules.Decision // the decisions the bad rule did not make
	for _, d := range ds {
		i := slices.IndexFunc(d.Reasons, func(r rules.Reason) bool { return r.Rule == "bad-lock-every-login" })
		switch {
		case i < 0:
			others = append(others, d)
		case d.Reasons[i].Mode == rules.Enforce:
			enforced++
		case len(d.Breaker) == 1 && d.Breaker[0].Why == trips[0].Why:
			shadow++
			others = append(others, d)
		default:
			t.Errorf("a decision of the demoted rule that does not name its demotion: %+v", d)
		}
	}
	t.Logf("the bad rule enforced %d lockouts before its demotion, then %d shadow decisions", enforced, shadow)
	if enforced == 0 || enforced > 10 || shadow < 100 {
		t.Errorf("%d lockouts enforced, %d shadow: want the breaker to stop it within a few", enforced, shadow)
	}
	// Every attack is still caught by the rules that detect it: a demoted
	// rule firing beside them leaves their enforced decision in force.
	r := scenario.Score(labels, others)
	for class, total := range r.Total {
		if r.Caught[class] != total {
			t.Errorf("%s: caught %d of %d after the demotion", class, r.Caught[class], total)
		}
	}
}
