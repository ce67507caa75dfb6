package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// memory is a key's state for the tests: what the engine hands Evaluate.
type memory struct{ d *detectors.Decided }

func (m *memory) Remembered(alloc bool) *detectors.Decided {
	if m.d == nil && alloc {
		m.d = &detectors.Decided{}
	}
	return m.d
}

const lockRule = `
rules:
  - id: lock
    detector: failed_login_burst
    when: failed_login_burst.fired
    action: lockout
    subject: user
    score: 80
    expires: 15m
    expires_expr: expires * 2 ** min(offences, 3)
  - id: step
    detector: velocity
    when: velocity.fired
    action: step_up
    subject: user
    score: 50
    expires: 1h
`

// lifetimeOf evaluates ev on the user stage and describes its decision as
// "action lifetime" ("" for none); n is how many decisions it made.
func lifetimeOf(e *Evaluator, set *Set, ev *event.Event, f *detectors.Features) (got string, n int) {
	ds := e.Evaluate(set, UserStage, ev, f, false, ev.TS, nil)
	if len(ds) == 1 {
		got = fmt.Sprint(ds[0].Action, " ", ds[0].ExpiresAt.Sub(ds[0].TS))
	}
	return got, len(ds)
}

// TestQuietRepeatsAndEscalation runs one user's events through a lockout
// rule that escalates and a step-up rule, with the user's memory kept
// between them as the engine keeps it in the user's state.
func TestQuietRepeatsAndEscalation(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": lockRule})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mem := &memory{}
	e := Evaluator{Memory: mem}
	for _, step := range []struct {
		name     string
		at       time.Duration
		burst    bool
		velocity bool
		want     string // action and lifetime, or "" for none
	}{
		{"first lockout", 0, true, false, "lockout 15m0s"},
		{"a repeat while locked is quiet", 5 * time.Minute, true, false, ""},
		{"a weaker step-up lasting well past the lockout is emitted", 6 * time.Minute, false, true, "step_up 1h0m0s"},
		{"a step-up moving that one's expiry by less than half its lifetime is quiet", 10 * time.Minute, false, true, ""},
		{"at expiry the lockout comes again, escalated", 15 * time.Minute, true, false, "lockout 30m0s"},
		{"its repeat neither escalates nor shows", 20 * time.Minute, true, false, ""},
		{"third offence", 45 * time.Minute, true, false, "lockout 1h0m0s"},
		{"fourth offence, at the cap of min(offences, 3)", 105 * time.Minute, true, false, "lockout 2h0m0s"},
		{"fifth, capped too", 225 * time.Minute, true, false, "lockout 2h0m0s"},
		{"still the fifth a day after the last lockout ended", 345*time.Minute + 24*time.Hour, true, false, "lockout 2h0m0s"},
		{"forgiven a day after that one ended", 465*time.Minute + 48*time.Hour + time.Second, true, false, "lockout 15m0s"},
	} {
		ev := &event.Event{ID: step.name, Type: event.Login, TS: t0.Add(step.at), UserID: "alice"}
		f := &detectors.Features{}
		f.Logins.Fired, f.Velocity.Fired = step.burst, step.velocity
		if got, n := lifetimeOf(&e, set, ev, f); n > 1 || got != step.want {
			t.Fatalf("%s: got %q (%d decisions), want %q", step.name, got, n, step.want)
		}
	}
	if e.Suppressed["lock"] != 2 || e.Suppressed["step"] != 1 {
		t.Errorf("suppressed %v, want lock 2 and step 1", e.Suppressed)
	}
}

// TestQuietRepeatsNeedMemory: without a key's memory (a backtest over
// stored features) every decision is emitted, and shadow decisions never
// count as in force.
func TestQuietRepeatsNeedMemory(t *testing.T) {
	set, err := parse(t, map[string]string{"a.yaml": strings.Replace(lockRule, "score: 80", "score: 80\n    mode: shadow", 1)})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := &detectors.Features{}
	f.Logins.Fired = true
	for _, tt := range []struct {
		name string
		e    Evaluator
	}{{"no memory", Evaluator{}}, {"shadow lockouts", Evaluator{Memory: &memory{}}}} {
		for i := range 3 {
			ev := &event.Event{ID: string(rune('a' + i)), Type: event.Login, TS: ts.Add(time.Duration(i) * time.Minute), UserID: "u"}
			if ds := tt.e.Evaluate(set, UserStage, ev, f, false, ts, nil); len(ds) != 1 {
				t.Errorf("%s: event %d got %d decisions, want 1", tt.name, i, len(ds))
			}
		}
	}
}

func TestExpiresExpr(t *testing.T) {
	for _, tt := range []struct {
		expr, problem string
	}{
		{`expires * 2 ** min(offences, 6)`, ""},
		{`"2h"`, ""},
		{`offences > 2 ? duration("24h") : expires`, ""},
		{`expires * (1 - offences)`, "expires_expr with 1 offences: gave 0s, want a duration of a second or more"},
		{`60`, "expires_expr with 0 offences: gave 60ns, want a duration of a second or more"},
		{`expires * int(2 ** offences)`, "expires_expr with 32 offences: gave -"},
		{`"soon"`, `expires_expr with 0 offences: invalid duration "soon"`},
		{`offences == 0`, "expires_expr with 0 offences: gave bool true, want a duration"},
		{`expires *`, "expires_expr: unexpected token EOF"},
		{`hours`, "expires_expr: unknown name hours"},
	} {
		_, err := parse(t, map[string]string{"a.yaml": strings.Replace(lockRule, "expires * 2 ** min(offences, 3)", "'"+strings.ReplaceAll(tt.expr, "'", "''")+"'", 1)})
		switch {
		case tt.problem == "" && err != nil:
			t.Errorf("%s: %v", tt.expr, err)
		case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), `a.yaml:3: rule "lock": `+tt.problem)):
			t.Errorf("%s: %v, want a.yaml:3 and %q", tt.expr, err, tt.problem)
		}
	}
	set, err := parse(t, map[string]string{"a.yaml": strings.Replace(lockRule, "min(offences, 3)", "offences", 1) + "decisions:\n  max_expires: 1h\n"})
	if err != nil {
		t.Fatal(err)
	}
	var e Evaluator
	if life, _ := set.Rules[0].lifetime(&e.vm, 30, time.Duration(set.Policy.MaxExpires)); life != time.Hour {
		t.Errorf("30 offences: %s, want decisions.max_expires 1h", life)
	}
}

func TestPolicyLoad(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  string // a problem, or "" for none
	}{
		{"defaults", map[string]string{"a.yaml": lockRule}, ""},
		{"a rule's breaker over the pack's", map[string]string{"a.yaml": lockRule + "    breaker: {max_per_minute: 7}\n",
			"b.yaml": "decisions:\n  breaker: {max_share: 0.5}\n"}, ""},
		{"two decisions sections", map[string]string{"a.yaml": "decisions: {}\n", "b.yaml": "decisions:\n  offence_window: 1h\n"},
			"b.yaml:2: decisions are already configured in a.yaml; keep them in one file"},
		{"out of range", map[string]string{"a.yaml": "decisions:\n  repeat_extension: {lockout: -1}\n"},
			"a.yaml:2: decisions.repeat_extension.lockout -1 is outside 0..100"},
		{"unknown key", map[string]string{"a.yaml": "decisions:\n  repeat_extensions: 1\n"},
			`a.yaml:2: decisions: unknown key "repeat_extensions" (known: repeat_extension, offence_window, max_expires, breaker)`},
		{"a rule's bad window", map[string]string{"a.yaml": lockRule + "    breaker: {window: 2h}\n"},
			`a.yaml:11: rule "step": breaker.window 2h0m0s is outside 1m..1h`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			set, err := parse(t, tt.files)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			_ = set
		})
	}
	set, _ := parse(t, map[string]string{"a.yaml": lockRule + "    breaker: {max_per_minute: 7}\n", "b.yaml": "decisions:\n  breaker: {max_share: 0.5}\n"})
	if b := set.RuleByID("step").Breaker; b.MaxPerMinute != 7 || b.MaxShare != 0.5 || b.MinEvents != 1000 {
		t.Errorf("breaker of step %+v, want its own max_per_minute over the pack's max_share and the default min_events", b)
	}
}
