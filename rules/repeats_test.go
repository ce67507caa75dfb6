package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// twoLocks has a lockout that does not escalate and one that does, on the
// same subject, and a short step-up.
const twoLocks = `
rules:
  - id: plain
    detector: failed_login_burst
    when: failed_login_burst.fired
    action: lockout
    subject: user
    score: 80
    expires: 15m
  - id: escalating
    detector: velocity
    when: velocity.fired
    action: lockout
    subject: user
    score: 80
    expires: 1h
    expires_expr: expires * 2 ** min(offences, 4)
  - id: short-step
    detector: device_integrity
    when: device_integrity.fired
    action: step_up
    subject: user
    score: 50
    expires: 5m
`

// TestRepeatsPerRuleAndAction: a rule escalates on its own offences only
// (a user an attacker had locked out by brute force does not get a longer
// lockout from another rule), and a weaker decision is quiet only while
// a stronger one in force outlasts it.
func TestRepeatsPerRuleAndAction(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": twoLocks})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := Evaluator{Memory: &memory{}}
	for _, step := range []struct {
		at     time.Duration
		fire   string // burst, velocity or integrity
		want   string
		reason string
	}{
		{0, "burst", "lockout 15m0s", "plain locks"},
		{20 * time.Minute, "burst", "lockout 15m0s", "plain again, after the first ended"},
		{40 * time.Minute, "burst", "lockout 15m0s", "and a third time"},
		{60 * time.Minute, "velocity", "lockout 1h0m0s", "escalating's first offence, whatever plain did"},
		{65 * time.Minute, "integrity", "", "a step-up ending inside the lockout is quiet"},
		{2*time.Hour + 10*time.Minute, "velocity", "lockout 2h0m0s", "escalating's second offence"},
		{4*time.Hour + 5*time.Minute, "integrity", "", "a step-up ending inside the lockout is quiet"},
		{4*time.Hour + 8*time.Minute, "integrity", "step_up 5m0s", "one outlasting it is not"},
	} {
		ev := &event.Event{ID: step.reason, Type: event.Login, TS: t0.Add(step.at), UserID: "alice"}
		f := &detectors.Features{}
		switch step.fire {
		case "burst":
			f.Logins.Fired = true
		case "velocity":
			f.Velocity.Fired = true
		case "integrity":
			f.Integrity.Fired = true
		}
		if got, n := lifetimeOf(&e, set, ev, f); n > 1 || got != step.want {
			t.Fatalf("%s: got %q (%d decisions), want %q", step.reason, got, n, step.want)
		}
	}
}

// TestEmitAllRepeatsNotCounted: with --emit all a repeat is emitted, but
// it is still a repeat: it neither counts towards the breaker nor moves
// the decision in force.
func TestEmitAllRepeatsNotCounted(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": breakerRules})
	if err != nil {
		t.Fatal(err)
	}
	e := Evaluator{Memory: &memory{}, Breaker: NewBreaker(nil)}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 20 {
		ev := &event.Event{ID: fmt.Sprint(i), Type: event.Login, TS: t0.Add(time.Duration(i) * time.Second), UserID: "victim"}
		ds := e.Evaluate(set, UserStage, ev, &detectors.Features{}, true, ev.TS, nil)
		if len(ds) != 1 || ds[0].Mode != Enforce || ds[0].Action != Lockout {
			t.Fatalf("event %d: %+v, want the enforced lockout, repeated", i, ds)
		}
	}
	if d := e.Breaker.Demotions(); len(d) != 0 {
		t.Errorf("one user's repeats demoted the rule: %+v", d)
	}
}
