package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

const breakerRules = `
rules:
  - id: bad
    detector: failed_login_burst
    when: event.type == "login"
    action: lockout
    subject: user
    score: 80
    expires: 15m
    breaker: {max_per_minute: 3, max_share: 0.5, min_events: 10, window: 10m}
  - id: token
    detector: token_replay
    when: token_replay.fired
    action: lockout
    subject: token
    score: 90
    expires: 1h
`

// TestBreakerDemotes: a rule that suddenly locks out every user is demoted
// to shadow once past a ceiling, its decisions say so, and the other rules
// go on enforcing.
func TestBreakerDemotes(t *testing.T) {
	for _, tt := range []struct {
		name      string
		spacing   time.Duration // between the logins of distinct users
		tripAfter int           // lockouts enforced before the demotion
		why       string
	}{
		{"per minute", time.Second, 3, "4 lockouts in one minute, over the ceiling of 3 per minute"},
		{"share of the events", 30 * time.Second, 9, "10 lockouts for 10 events in 10m0s, over the ceiling of 50%"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			set, err := parse(t, map[string]string{"a.yaml": breakerRules})
			if err != nil {
				t.Fatal(err)
			}
			var trips []Demotion
			e := Evaluator{Breaker: NewBreaker(func(d Demotion) { trips = append(trips, d) })}
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			enforced := 0
			for i := range 12 {
				ev := &event.Event{ID: fmt.Sprint(i), Type: event.Login, TS: t0.Add(time.Duration(i) * tt.spacing), UserID: fmt.Sprint("u", i), TokenID: "t"}
				f := &detectors.Features{}
				f.Token.Fired = true
				ds := e.Evaluate(set, UserStage, ev, f, false, ev.TS, nil)
				if len(ds) != 2 || ds[1].Subject.Kind != SubjectToken || ds[1].Mode != Enforce {
					t.Fatalf("event %d: %+v, want the token rule enforcing beside the user decision", i, ds)
				}
				u := ds[0]
				if u.Mode == Enforce {
					enforced++
					continue
				}
				if len(u.Breaker) != 1 || u.Breaker[0].Rule != "bad" || u.Reasons[0].Mode != Shadow {
					t.Errorf("event %d: a demoted rule's decision %+v, want shadow naming the rule in breaker", i, u)
				}
			}
			if enforced != tt.tripAfter+1 || len(trips) != 1 || trips[0].Why != tt.why {
				t.Errorf("%d lockouts enforced, trips %+v; want %d (the one that tripped it counts) and %q", enforced, trips, tt.tripAfter+1, tt.why)
			}
		})
	}
}

// TestBreakerDemotesToStepUp: a rule with demote_to step_up enforces a
// step-up once demoted, rather than nothing.
func TestBreakerDemotesToStepUp(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": strings.Replace(breakerRules, "window: 10m}", "window: 10m, demote_to: step_up}", 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := Evaluator{Breaker: NewBreaker(nil)}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var last Decision
	for i := range 6 {
		ev := &event.Event{ID: fmt.Sprint(i), Type: event.Login, TS: t0.Add(time.Duration(i) * time.Second), UserID: fmt.Sprint("u", i)}
		last = e.Evaluate(set, UserStage, ev, &detectors.Features{}, false, ev.TS, nil)[0]
	}
	if last.Mode != Enforce || last.Action != StepUp || len(last.Breaker) != 1 || last.Reasons[0].Action != StepUp {
		t.Errorf("after the demotion: %+v, want an enforced step-up naming the demotion", last)
	}
}

// TestBreakerAcrossReload: a batch still deciding with a rule a reload has
// changed or removed neither counts nor trips it; a changed rule's counts
// start afresh.
func TestBreakerAcrossReload(t *testing.T) {
	old, _ := parse(t, map[string]string{"a.yaml": breakerRules})
	changed, _ := parse(t, map[string]string{"a.yaml": strings.Replace(breakerRules, "score: 80", "score: 81", 1)})
	b := NewBreaker(nil)
	b.Carry(old)
	for i := range 3 {
		b.lockout(old.RuleByID("bad"), time.Unix(int64(i), 0))
	}
	b.Carry(changed)
	b.lockout(old.RuleByID("bad"), time.Unix(5, 0)) // the old definition, after the reload
	b.lockout(changed.RuleByID("bad"), time.Unix(6, 0))
	if d := b.Demotions(); len(d) != 0 {
		t.Errorf("demoted by counts of the rule before the reload: %+v", d)
	}
	for i := range 3 {
		b.lockout(changed.RuleByID("bad"), time.Unix(int64(7+i), 0))
	}
	if _, ok := b.Demoted(changed.RuleByID("bad")); !ok {
		t.Fatal("the changed rule's own 4 lockouts did not trip it")
	}
	if _, ok := b.Demoted(old.RuleByID("bad")); ok {
		t.Error("the demotion of the changed rule holds its old definition too")
	}
	none, _ := parse(t, map[string]string{"a.yaml": "rules: []\n"})
	b.Carry(none)
	b.lockout(changed.RuleByID("bad"), time.Unix(20, 0))
	if len(b.Demotions()) != 0 || len(b.rules) != 0 {
		t.Errorf("a removed rule is still demoted or counted: %+v", b.Demotions())
	}
}

func TestBreakerResetAndCarry(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": breakerRules})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBreaker(nil)
	trip := func() {
		for i := range 4 {
			b.lockout(set.RuleByID("bad"), time.Unix(int64(i), 0))
		}
	}
	trip()
	if _, ok := b.Demoted(set.RuleByID("bad")); !ok {
		t.Fatal("not demoted after 4 lockouts in a minute")
	}
	if !b.Reset("bad") || b.Reset("bad") {
		t.Error("Reset reports whether the rule was demoted")
	}
	trip()
	same, _ := parse(t, map[string]string{"a.yaml": breakerRules, "b.yaml": "# another file, same rules\n"})
	if lifted := b.Carry(same); len(b.Demotions()) != 1 || len(lifted) != 0 {
		t.Errorf("a reload that leaves the rule as it was lifted its demotion (lifted %+v)", lifted)
	}
	changed, _ := parse(t, map[string]string{"a.yaml": strings.Replace(breakerRules, `event.type == "login"`, `event.type == "login" && event.outcome == "failure"`, 1)})
	if lifted := b.Carry(changed); len(b.Demotions()) != 0 || len(lifted) != 1 || lifted[0].Rule != "bad" {
		t.Errorf("a reload that changes the rule kept its demotion, or did not report it lifted: %+v", lifted)
	}
}
