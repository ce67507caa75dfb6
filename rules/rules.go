// Package rules loads the analysts' rule files, compiles their conditions
// once against a typed environment (Env), and turns the rules that fire on
// an event into at most one decision per subject and stage.
//
// A Set is immutable after Load and safe for concurrent use; reloading means
// loading a new Set and swapping the pointer. Evaluator holds per-worker
// scratch and is not safe for concurrent use.
package rules

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/riskd/riskd/detectors"
	"github.com/riskd/riskd/event"
)

// Stage is where a rule runs: on the user-keyed stage, or on the
// address-keyed stage when it reads ip.* features (which only exist there).
type Stage uint8

// Stages.
const (
	UserStage Stage = iota
	IPStage
)

// String names the stage.
func (s Stage) String() string {
	if s == IPStage {
		return "ip"
	}
	return "user"
}

// Rule is one compiled rule.
type Rule struct {
	ID          string
	Description string
	Detector    string
	When        string
	Action      Action
	Subject     string
	Score       float64
	Expires     time.Duration
	Mode        Mode
	Stage       Stage
	File        string
	Line        int

	program *vm.Program
}

// Set is a loaded, validated rule set with the detector parameters that
// came with it.
type Set struct {
	Rules     []*Rule
	Detectors detectors.Config
	Version   string   // content hash of every file read
	Files     []string // the files read, in order
}

// Evaluator runs a Set's rules on events. One per worker.
//
// OnError, when set, hears of every rule that failed on an event (a run-time
// error of its expression, such as a conversion of a string that is not a
// number). Such a rule is skipped for that event and every other rule still
// decides: a rule that cannot be evaluated must not take the other rules'
// lockouts with it (fail safe, not fail open).
type Evaluator struct {
	OnError func(r *Rule, ev *event.Event, err error)

	vm    vm.VM
	fired []*Rule
	env   Env
	ipKey netip.Addr
	ipStr string
}

// Evaluate appends to out the decisions of set's rules of stage for ev with
// features f: one per subject that a rule fired for, with the strongest
// enforced action, the combined score and every fired rule as a reason.
// With emitAll, the user stage also emits an allow decision for the user
// when no rule fired for them. now stamps decided_at only. A rule whose
// expression fails is skipped and reported to OnError.
func (e *Evaluator) Evaluate(set *Set, stage Stage, ev *event.Event, f *detectors.Features, emitAll bool, now time.Time, out []Decision) []Decision {
	if ev.IP != e.ipKey {
		e.ipKey, e.ipStr = ev.IP, ""
		if ev.IP.IsValid() {
			e.ipStr = ev.IP.String()
		}
	}
	e.env = newEnv(ev, f, e.ipStr)
	e.fired = e.fired[:0]
	for _, r := range set.Rules {
		if r.Stage != stage {
			continue
		}
		res, err := e.vm.Run(r.program, &e.env)
		if err != nil {
			if e.OnError != nil {
				e.OnError(r, ev, fmt.Errorf("rule %s (%s:%d): %w", r.ID, r.File, r.Line, err))
			}
			continue
		}
		if res == true {
			if _, ok := subjectID(r.Subject, ev); ok {
				e.fired = append(e.fired, r)
			}
		}
	}
	start := len(out)
	for _, kind := range []string{SubjectUser, SubjectToken, SubjectDevice, SubjectIP} {
		var group []*Rule
		for _, r := range e.fired {
			if r.Subject == kind {
				group = append(group, r)
			}
		}
		if len(group) == 0 {
			continue
		}
		id, _ := subjectID(kind, ev)
		out = append(out, combine(set, stage, ev, f, Subject{kind, id}, group, now))
	}
	if emitAll && stage == UserStage && !slices.ContainsFunc(out[start:], func(d Decision) bool { return d.Subject.Kind == SubjectUser }) {
		out = append(out, combine(set, stage, ev, f, Subject{SubjectUser, ev.UserID}, nil, now))
	}
	return out
}

// subjectID is the id a decision about kind carries for ev. For a token
// subject on a token_refresh event it is the refresh family, the unit that
// rotation-reuse revokes.
func subjectID(kind string, ev *event.Event) (string, bool) {
	switch kind {
	case SubjectUser:
		return ev.UserID, true
	case SubjectIP:
		if !ev.IP.IsValid() {
			return "", false
		}
		return ev.IP.String(), true
	case SubjectDevice:
		return ev.DeviceID, ev.DeviceID != ""
	case SubjectToken:
		if ev.Type == event.TokenRefresh {
			return ev.Refresh.FamilyID, ev.Refresh.FamilyID != ""
		}
		return ev.TokenID, ev.TokenID != ""
	}
	return "", false
}

func combine(set *Set, stage Stage, ev *event.Event, f *detectors.Features, subj Subject, fired []*Rule, now time.Time) Decision {
	d := Decision{
		EventID: ev.ID, UserID: ev.UserID, Subject: subj, TS: ev.TS, DecidedAt: now, ExpiresAt: ev.TS,
		Mode: Enforce, RulesVersion: set.Version,
	}
	// The enforced rules decide; shadow rules decide only when they ask for
	// more than the enforced ones, and then the whole decision is shadow so
	// that nobody acts on it.
	var enf, shd []*Rule
	for _, r := range fired {
		if r.Mode == Shadow {
			shd = append(shd, r)
		} else {
			enf = append(enf, r)
		}
	}
	deciding := enf
	if strongest(shd) > strongest(enf) {
		deciding, d.Mode = shd, Shadow
	}
	d.Action = strongest(deciding)
	keep := 1.0
	for _, r := range deciding {
		keep *= 1 - r.Score/100
		if r.Action == d.Action && d.Action != Allow {
			if exp := ev.TS.Add(r.Expires); exp.After(d.ExpiresAt) {
				d.ExpiresAt = exp
			}
		}
	}
	d.Score = math.Round((1-keep)*1000) / 10
	for _, r := range append(enf, shd...) {
		evidence, summary, _ := f.Evidence(r.Detector, stage == IPStage)
		if summary == "" {
			summary = r.Description
		}
		d.Reasons = append(d.Reasons, Reason{Rule: r.ID, Detector: r.Detector, Summary: summary, Mode: r.Mode, Action: r.Action, Score: r.Score, Evidence: evidence})
	}
	d.DecisionID = DecisionID(&d, stage)
	return d
}

func strongest(rs []*Rule) Action {
	a := Allow
	for _, r := range rs {
		a = max(a, r.Action)
	}
	return a
}
